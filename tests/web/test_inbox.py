"""The inbox as a partner's lead manager sees it: tabs and counts, filters and saved views, the
heart and the flame, live updates from a colleague, a phone, and axe's verdict."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, WebSocketRoute, expect

from app.domain.lifecycle import LeadStage, LeadType
from tests.factories import make_lead
from tests.waiting import eventually
from tests.web.conftest import Browsing, Partner

ASSIGN = (
    "mutation($id: ID!, $o: ID) { assignLead(input: {id: $id, ownerId: $o}) { errors { code } } }"
)


async def lead(partner: Partner, company: str, **fields: Any) -> str:
    made = await partner.add(make_lead, company_name=company, **fields)
    return str(made.id)


def rows(page: Page) -> Any:
    return page.get_by_role("list", name="Leads").get_by_role("listitem")


def row(page: Page, company: str) -> Any:
    return rows(page).filter(has=page.get_by_role("link", name=company, exact=True))


async def serious_violations(page: Page, selector: str) -> list[str]:
    results = await Axe().run(page, context=selector)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def test_tabs_show_badge_counts_and_their_own_leads(
    browsing: Browsing, partner: Partner
) -> None:
    await lead(partner, "Adatum Corp")
    await lead(partner, "Bellows College")
    await lead(partner, "Coho Winery", stage=LeadStage.ACCEPTED)
    await lead(partner, "Datum Qualified", type=LeadType.MARKETING_QUALIFIED)

    page = await browsing.signed_in(partner.referrals_token)
    tabs = page.get_by_role("tablist", name="Lead tabs")
    await expect(tabs.get_by_role("tab", name="Marketplace, 2 new")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(tabs.get_by_role("tab", name="Qualified, 1 new")).to_be_visible()
    await expect(tabs.get_by_role("tab", name="Favorites, 0 new")).to_be_visible()
    await expect(rows(page)).to_have_count(3)
    await expect(page.get_by_role("status").first).to_contain_text("Showing 3 of 3 leads")
    await expect(page.locator(".stage-counts")).to_have_text(
        "Received: 2 · Accepted: 1 · Archived: 0"
    )

    # The tablist works with arrow keys, as ARIA's tab pattern has it.
    await tabs.get_by_role("tab", name="Marketplace, 2 new").focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Qualified, 1 new")).to_be_focused()
    await expect(page.get_by_role("tab", name="Qualified, 1 new")).to_have_attribute(
        "aria-selected", "true"
    )
    await expect(rows(page)).to_have_count(1)
    await expect(row(page, "Datum Qualified")).to_be_visible()
    assert page.url.endswith("#/inbox/QUALIFIED")


async def test_filters_live_in_the_url_and_a_saved_view_brings_them_back(
    browsing: Browsing, partner: Partner
) -> None:
    await lead(partner, "Fabrikam Foods", stage=LeadStage.ACCEPTED)
    await lead(partner, "Fabrikam Fibres")
    await lead(partner, "Litware Inc", stage=LeadStage.ACCEPTED)

    page = await browsing.signed_in(partner.referrals_token)
    await expect(rows(page)).to_have_count(3)
    await page.get_by_text("Filters", exact=True).click()
    await page.get_by_label("Stage").select_option("ACCEPTED")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(rows(page)).to_have_count(2)
    assert "stage=ACCEPTED" in page.url

    await page.get_by_label("Search").fill("fabrikam")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(rows(page)).to_have_count(1)
    await expect(row(page, "Fabrikam Foods")).to_be_visible()
    assert "q=fabrikam" in page.url

    await page.get_by_label("New view name").fill("Accepted Fabrikam")
    await page.get_by_role("button", name="Save current view").click()
    await expect(page.get_by_label("Saved view")).to_have_value(re.compile(r".+"))

    await page.get_by_role("button", name="Clear filters").click()
    await expect(rows(page)).to_have_count(3)
    await page.get_by_label("Saved view").select_option(label="Accepted Fabrikam")
    await expect(rows(page)).to_have_count(1)
    await expect(row(page, "Fabrikam Foods")).to_be_visible()
    assert "view=" in page.url and "stage=ACCEPTED" in page.url


async def test_the_heart_puts_a_lead_in_favorites_and_takes_it_out(
    browsing: Browsing, partner: Partner
) -> None:
    await lead(partner, "Humongous Insurance")
    await lead(partner, "Lucerne Publishing")

    page = await browsing.signed_in(partner.referrals_token)
    heart = page.get_by_role("button", name="Favorite: Humongous Insurance")
    await expect(heart).to_have_attribute("aria-pressed", "false")
    await heart.click()
    await expect(heart).to_have_attribute("aria-pressed", "true")

    await page.get_by_role("tab", name="Favorites").click()
    await expect(rows(page)).to_have_count(1)
    await expect(row(page, "Humongous Insurance")).to_be_visible()
    await page.get_by_role("button", name="Favorite: Humongous Insurance").click()
    await expect(
        page.get_by_role("button", name="Favorite: Humongous Insurance")
    ).to_have_attribute("aria-pressed", "false")
    await page.reload()
    await expect(page.get_by_role("status").first).to_contain_text("No leads match")


async def test_the_flame_says_how_urgent_contact_is(browsing: Browsing, partner: Partner) -> None:
    await lead(partner, "Contoso Pharma", contact_requested=True)
    await lead(
        partner,
        "Wingtip Toys",
        contact_requested=True,
        received_at=datetime.now(UTC) - timedelta(days=5),
    )
    await lead(partner, "Quiet Corp")

    # Beside them, for the README's picture of an inbox: older leads further on in their life.
    await lead(
        partner,
        "Fabrikam Residences",
        stage=LeadStage.ACCEPTED,
        received_at=datetime.now(UTC) - timedelta(days=9),
    )
    await lead(partner, "Lucerne Publishing", received_at=datetime.now(UTC) - timedelta(days=12))

    page = await browsing.signed_in(partner.referrals_token)
    await expect(row(page, "Contoso Pharma")).to_contain_text("Contact now: urgent")
    await expect(row(page, "Wingtip Toys")).to_contain_text("Customer asked to be contacted")
    await expect(row(page, "Quiet Corp")).not_to_contain_text("contact")
    await browsing.screenshot(page, "inbox-wide")


async def test_a_colleagues_accept_shows_up_without_a_reload(
    browsing: Browsing, partner: Partner, relaying: None
) -> None:
    lead_id = await lead(partner, "Tailspin Toys")
    await lead(partner, "Northwind Traders")

    mine = await browsing.signed_in(partner.referrals_token)
    await expect(row(mine, "Tailspin Toys")).to_contain_text("Received")
    theirs = await browsing.signed_in(partner.admin_token, hash=f"#/lead/{lead_id}")
    await theirs.get_by_role("button", name="Accept", exact=True).click()
    await theirs.get_by_label("Deal name").fill("Toys pilot")
    await theirs.get_by_label("Estimated value: amount").fill("25000")
    await theirs.get_by_label("Estimated purchase date").fill("2027-06-30")
    await theirs.get_by_role("button", name="Accept lead").click()
    await expect(theirs.get_by_role("group", name="Actions")).to_contain_text("Edit deal")

    await expect(row(mine, "Tailspin Toys")).to_contain_text("Accepted")
    await expect(mine.get_by_role("tab", name="Marketplace, 1 new")).to_be_visible()
    await expect(mine.locator("#announcer")).to_contain_text("Tailspin Toys changed")


async def test_on_a_phone_the_list_and_the_lead_take_turns(
    browsing: Browsing, partner: Partner
) -> None:
    await lead(partner, "Alpine Ski House", contact_requested=True)
    await lead(partner, "Blue Yonder Airlines", need="A very long need " * 20)

    page = await browsing.signed_in(partner.referrals_token, width=390, height=844)
    await expect(rows(page)).to_have_count(2)

    async def no_horizontal_scroll() -> None:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide"

    await no_horizontal_scroll()
    await browsing.screenshot(page, "phone-inbox")
    await page.get_by_role("link", name="Alpine Ski House").click()
    await expect(page.get_by_role("heading", name="Alpine Ski House", level=2)).to_be_visible()
    await expect(page.get_by_role("list", name="Leads")).to_be_hidden()
    await no_horizontal_scroll()
    await browsing.screenshot(page, "phone-lead")
    await page.get_by_role("button", name="Back to the list (Escape)").click()
    await expect(page.get_by_role("list", name="Leads")).to_be_visible()
    await expect(page.get_by_role("link", name="Alpine Ski House")).to_be_focused()


async def test_axe_finds_nothing_serious_in_the_inbox_or_the_lead(
    browsing: Browsing, partner: Partner
) -> None:
    await lead(partner, "Graphic Design Institute", contact_requested=True)
    await lead(partner, "Margie's Travel", stage=LeadStage.ACCEPTED)

    page = await browsing.signed_in(partner.referrals_token)
    await expect(rows(page)).to_have_count(2)
    await page.get_by_text("Filters", exact=True).click()
    await expect(page.get_by_label("Stage")).to_be_visible()
    assert await serious_violations(page, "body") == []

    await page.get_by_role("link", name="Margie's Travel").click()
    await expect(page.get_by_role("heading", name="Margie's Travel", level=2)).to_be_visible()
    await page.get_by_role("button", name="Edit deal").click()
    await expect(page.get_by_label("Deal name")).to_be_focused()
    assert await serious_violations(page, ".detail-pane") == []


async def test_api_data_is_text_never_markup(browsing: Browsing, partner: Partner) -> None:
    await lead(partner, '<img src=x onerror="document.title=1">Evil Corp', need="<b>bold</b>")
    page = await browsing.signed_in(partner.referrals_token)
    link = page.get_by_role("link", name='<img src=x onerror="document.title=1">Evil Corp')
    await expect(link).to_be_visible()
    await expect(rows(page)).to_contain_text("<b>bold</b>")
    assert await page.locator("main img, main b").count() == 0


async def test_the_notifications_badge_counts_what_arrives_live(
    browsing: Browsing, partner: Partner, relaying: None
) -> None:
    lead_id = await lead(partner, "Wide World Importers")
    page = await browsing.signed_in(partner.referrals_token)
    notifications = page.get_by_role("link", name="Notifications")
    await expect(notifications).to_have_accessible_name("Notifications")

    # A colleague gives the lead to this user: "Assigned to you", in-app, through the worker.
    answer = await partner.as_admin(ASSIGN, id=lead_id, o=str(partner.world.referrals_admin))
    assert answer["assignLead"]["errors"] == []
    await expect(notifications).to_have_accessible_name("Notifications 1 unread")
    await expect(row(page, "Wide World Importers")).to_contain_text("Owner: Tropical Cloud")


async def test_after_a_lost_connection_the_list_is_read_again(
    browsing: Browsing, partner: Partner
) -> None:
    """No worker runs here, so no live event ever comes: only the re-read after the socket
    reconnects can show a change made while it was down."""
    lead_id = await lead(partner, "Coho Vineyard")
    page = await browsing.page()
    sockets: list[WebSocketRoute] = []
    down = False  # while set, the "network" refuses the client's attempts to reconnect

    async def through(ws: WebSocketRoute) -> None:
        if down:
            await ws.close(code=1013, reason="try again later")
            return
        ws.connect_to_server()
        sockets.append(ws)

    await page.route_web_socket("**/graphql", through)
    await page.goto(f"/#token={partner.referrals_token}")
    await expect(row(page, "Coho Vineyard")).to_contain_text("Unassigned")

    async def sockets_opened(count: int) -> bool:
        return len(sockets) == count

    await eventually(lambda: sockets_opened(1), timeout=15, describe="the socket opened")

    down = True
    await sockets[0].close(code=1001, reason="going away")
    answer = await partner.as_admin(ASSIGN, id=lead_id, o=str(partner.world.partner_admin))
    assert answer["assignLead"]["errors"] == []
    down = False

    await eventually(lambda: sockets_opened(2), timeout=15, describe="the socket reopened")
    await expect(row(page, "Coho Vineyard")).to_contain_text("Owner: Tropical Cloud partner_admin")


async def test_load_more_pages_with_the_cursor(browsing: Browsing, partner: Partner) -> None:
    async def many(session: Any, organisation_id: Any) -> None:
        start = datetime.now(UTC) - timedelta(hours=2)
        for n in range(27):
            await make_lead(
                session,
                organisation_id=organisation_id,
                company_name=f"Company {n:02d}",
                received_at=start + timedelta(minutes=n),
            )

    await partner.add(many)
    page = await browsing.signed_in(partner.referrals_token)
    await expect(rows(page)).to_have_count(25)
    await expect(rows(page).first).to_contain_text("Company 26")
    await page.get_by_role("button", name="Load more").click()
    await expect(rows(page)).to_have_count(27)
    await expect(rows(page).last).to_contain_text("Company 00")
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    await expect(page.get_by_text("Showing 27 of 27 leads")).to_be_visible()
