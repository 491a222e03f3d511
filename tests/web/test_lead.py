"""Working a lead in the detail pane: buttons from `allowedActions`, the forms and their errors,
conflicts, team, owner, activity, won and lost, archived leads, and the keyboard alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.async_api import Page, expect
from sqlalchemy import text

from app.domain.lifecycle import LeadStage
from tests.factories import make_lead
from tests.web.conftest import Browsing, Partner


async def lead(partner: Partner, company: str, **fields: Any) -> str:
    made = await partner.add(make_lead, company_name=company, **fields)
    return str(made.id)


async def open_lead(browsing: Browsing, partner: Partner, lead_id: str, company: str) -> Page:
    page = await browsing.signed_in(partner.referrals_token, hash=f"#/lead/{lead_id}")
    await expect(page.get_by_role("heading", name=company, level=2)).to_be_focused()
    return page


def actions(page: Page) -> Any:
    return page.get_by_role("group", name="Actions")


def detail(page: Page) -> Any:
    return page.get_by_role("region", name="Lead details")


async def stored(partner: Partner, lead_id: str, *columns: str) -> tuple[Any, ...]:
    async with partner.site.engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT {', '.join(columns)} FROM leads WHERE id = :id"), {"id": lead_id}
            )
        ).one()
    return tuple(row)


async def test_accept_shows_required_fields_first_then_accepts(
    browsing: Browsing, partner: Partner
) -> None:
    lead_id = await lead(partner, "Proseware Inc")
    page = await open_lead(browsing, partner, lead_id, "Proseware Inc")
    await expect(actions(page).get_by_role("button")).to_have_text(
        ["Accept", "Decline", "Assign owner", "Log activity", "Mark customer contacted"]
    )

    await actions(page).get_by_role("button", name="Accept").click()
    form = page.get_by_role("form", name="Accept lead")
    await expect(form.get_by_label("Deal name")).to_be_focused()
    await browsing.screenshot(page, "accept-form")
    await form.get_by_role("button", name="Accept lead").click()
    deal_name = form.get_by_label("Deal name")
    await expect(deal_name).to_have_attribute("aria-invalid", "true")
    await expect(deal_name).to_have_accessible_description("This field is required.")
    await expect(form.get_by_label("Estimated value: amount")).to_have_attribute(
        "aria-invalid", "true"
    )
    await expect(form.get_by_label("Estimated purchase date")).to_have_attribute(
        "aria-invalid", "true"
    )

    # The server's own checks land next to their field too (a currency that is no currency).
    await deal_name.fill("Proseware rollout")
    await form.get_by_label("Estimated value: amount").fill("42000")
    await form.get_by_label("Estimated value: currency").fill("XYZ")
    await form.get_by_label("Estimated purchase date").fill("2027-05-01")
    await form.get_by_role("button", name="Add a contact").click()
    await form.get_by_role("textbox", name="Name (required)", exact=True).fill("Pat Seller")
    await form.get_by_role("button", name="Accept lead").click()
    currency = form.get_by_label("Estimated value: currency")
    await expect(currency).to_have_attribute("aria-invalid", "true")
    await expect(deal_name).not_to_have_attribute("aria-invalid", "true")

    await currency.fill("EUR")
    await form.get_by_role("button", name="Accept lead").click()
    await expect(detail(page).get_by_text("Accepted", exact=True)).to_be_visible()
    await expect(detail(page)).to_contain_text("€42,000.00")
    await expect(detail(page)).to_contain_text("Pat Seller")
    await expect(actions(page).get_by_role("button")).to_have_text(
        [
            "Edit deal",
            "Mark won",
            "Mark lost",
            "Assign owner",
            "Log activity",
            "Mark customer contacted",
        ]
    )
    assert await stored(partner, lead_id, "stage", "deal_name") == (
        "ACCEPTED",
        "Proseware rollout",
    )


async def test_decline_with_a_reason_from_the_schema(browsing: Browsing, partner: Partner) -> None:
    lead_id = await lead(partner, "Trey Research")
    page = await open_lead(browsing, partner, lead_id, "Trey Research")
    await actions(page).get_by_role("button", name="Decline").click()
    reason = page.get_by_label("Reason")
    # Every DeclineReason the schema has, and nothing else, after the placeholder.
    await expect(reason.locator("option")).to_have_count(1 + 9)
    await reason.select_option("NO_CAPACITY")
    await page.get_by_label("Notes").fill("Full until spring")
    await page.get_by_role("button", name="Decline lead").click()

    await expect(detail(page)).to_contain_text("This lead is archived (Declined)")
    await expect(detail(page)).to_contain_text("No capacity")
    await expect(actions(page)).to_have_count(0)
    assert await stored(partner, lead_id, "stage", "outcome", "decline_reason") == (
        "ARCHIVED",
        "DECLINED",
        "NO_CAPACITY",
    )


async def test_an_edit_after_a_colleagues_change_is_a_conflict_offering_a_reload(
    browsing: Browsing, partner: Partner
) -> None:
    lead_id = await lead(partner, "VanArsdel Ltd", stage=LeadStage.ACCEPTED)
    page = await open_lead(browsing, partner, lead_id, "VanArsdel Ltd")
    await actions(page).get_by_role("button", name="Edit deal").click()
    await page.get_by_label("Deal name").fill("VanArsdel, phase 2")

    # Meanwhile a colleague changes the deal through the API.
    answer = await partner.as_admin(
        'mutation($id: ID!) { updateLead(input: {id: $id, notes: "Call Friday"})'
        " { errors { code } } }",
        id=lead_id,
    )
    assert answer["updateLead"]["errors"] == []

    await page.get_by_role("button", name="Save changes").click()
    alert = page.get_by_role("form", name="Edit deal").get_by_role("alert")
    await expect(alert).to_contain_text("Someone else changed this lead since you opened it")
    await alert.get_by_role("button", name="Reload lead").click()
    await expect(detail(page)).to_contain_text("Call Friday")
    await actions(page).get_by_role("button", name="Edit deal").click()
    await page.get_by_label("Deal name").fill("VanArsdel, phase 2")
    await page.get_by_role("button", name="Save changes").click()
    await expect(detail(page)).to_contain_text("VanArsdel, phase 2")
    assert await stored(partner, lead_id, "deal_name", "notes") == (
        "VanArsdel, phase 2",
        "Call Friday",
    )


async def test_team_members_are_added_and_removed(browsing: Browsing, partner: Partner) -> None:
    lead_id = await lead(partner, "Woodgrove Bank", stage=LeadStage.ACCEPTED)
    page = await open_lead(browsing, partner, lead_id, "Woodgrove Bank")
    team = page.get_by_role("region", name="Team")
    await expect(team).to_contain_text("No team members yet.")
    await team.get_by_role("button", name="Add team member").click()
    await detail(page).get_by_label("Name").fill("Kim Engineer")
    await detail(page).get_by_label("E-mail").fill("kim@example.com")
    await page.get_by_role("button", name="Add to team").click()
    await expect(team).to_contain_text("Kim Engineer · kim@example.com")

    await team.get_by_role("button", name="Remove Kim Engineer").click()
    await expect(team).to_contain_text("No team members yet.")
    await expect(page.locator("#announcer")).to_contain_text("Kim Engineer removed")


async def test_the_owner_is_assigned_and_shown_in_the_list(
    browsing: Browsing, partner: Partner
) -> None:
    lead_id = await lead(partner, "Fourth Coffee")
    page = await open_lead(browsing, partner, lead_id, "Fourth Coffee")
    await actions(page).get_by_role("button", name="Assign owner").click()
    await (
        detail(page)
        .get_by_role("combobox", name="Owner")
        .select_option(label=f"Me ({partner.name} referrals_admin)")
    )
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(detail(page)).to_contain_text(f"Owner{partner.name} referrals_admin")
    row = page.get_by_role("list", name="Leads").get_by_role("listitem")
    await expect(row).to_contain_text(f"Owner: {partner.name} referrals_admin")

    await actions(page).get_by_role("button", name="Assign owner").click()
    await (
        detail(page)
        .get_by_role("combobox", name="Owner")
        .select_option(label="Nobody (unassigned)")
    )
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(detail(page)).to_contain_text("OwnerUnassigned")
    await expect(row).to_contain_text("Unassigned")

    # The picker lists the partner's lead managers (`leadManagers`): a colleague too.
    await actions(page).get_by_role("button", name="Assign owner").click()
    picker = detail(page).get_by_role("combobox", name="Owner")
    colleague = f"{partner.name} partner_admin"
    await expect(picker.locator("option")).to_have_text(
        [
            "Nobody (unassigned)",
            f"{colleague} (partner_admin@{partner.world.slug}.example)",
            f"Me ({partner.name} referrals_admin)",
        ]
    )
    await picker.select_option(label=f"{colleague} (partner_admin@{partner.world.slug}.example)")
    await page.get_by_role("button", name="Assign", exact=True).click()
    await expect(row).to_contain_text(f"Owner: {colleague}")


async def test_a_logged_call_and_contacting_the_customer_put_the_flame_out(
    browsing: Browsing, partner: Partner
) -> None:
    lead_id = await lead(partner, "Lamna Healthcare", contact_requested=True)
    page = await open_lead(browsing, partner, lead_id, "Lamna Healthcare")
    await expect(detail(page)).to_contain_text("Contact now: urgent")
    row = page.get_by_role("list", name="Leads").get_by_role("listitem")
    await expect(row).to_contain_text("Contact now: urgent")

    await actions(page).get_by_role("button", name="Log activity").click()
    await page.get_by_label("Kind").select_option("CALL")
    await page.get_by_label("What was said or done").fill("Called Ana: demo on Tuesday")
    await page.get_by_role("button", name="Add to log").click()
    await expect(detail(page).get_by_role("list").last).to_be_visible()
    await expect(detail(page)).to_contain_text("Called Ana: demo on Tuesday")

    await actions(page).get_by_role("button", name="Mark customer contacted").click()
    await expect(detail(page)).to_contain_text("Customer contacted")
    await expect(detail(page)).not_to_contain_text("Contact now")
    await expect(actions(page).get_by_role("button", name="Mark customer contacted")).to_have_count(
        0
    )
    await expect(row).not_to_contain_text("Contact now")


async def test_won_and_lost(browsing: Browsing, partner: Partner) -> None:
    won_id = await lead(partner, "Relecloud", stage=LeadStage.ACCEPTED)
    lost_id = await lead(partner, "Southridge Video", stage=LeadStage.ACCEPTED)
    page = await open_lead(browsing, partner, won_id, "Relecloud")
    await actions(page).get_by_role("button", name="Mark won").click()
    await expect(page.get_by_label("Final value: amount")).to_have_value("50000.00")
    await page.get_by_label("Final value: amount").fill("48000")
    await page.get_by_label("Closing date").fill("2027-01-15")
    await page.get_by_role("button", name="Mark won").last.click()
    await expect(detail(page)).to_contain_text("This lead is archived (Won)")
    await expect(detail(page)).to_contain_text("$48,000.00")

    await page.get_by_role("link", name="Southridge Video").click()
    await expect(page.get_by_role("heading", name="Southridge Video", level=2)).to_be_focused()
    await actions(page).get_by_role("button", name="Mark lost").click()
    await page.get_by_label("Reason").select_option("COMPETITOR")
    await page.get_by_role("button", name="Mark lost").last.click()
    await expect(detail(page)).to_contain_text("This lead is archived (Lost)")
    await expect(detail(page)).to_contain_text("Competitor")
    assert await stored(partner, lost_id, "outcome", "lost_reason") == ("LOST", "COMPETITOR")


async def test_an_archived_lead_is_shown_without_any_action(
    browsing: Browsing, partner: Partner
) -> None:
    lead_id = await lead(
        partner,
        "Olympia Sports",
        stage=LeadStage.ARCHIVED,
        outcome="EXPIRED",
        archived_at=datetime.now(UTC) - timedelta(hours=1),
    )
    page = await open_lead(browsing, partner, lead_id, "Olympia Sports")
    await expect(detail(page)).to_contain_text("This lead is archived (Expired)")
    await expect(detail(page)).to_contain_text("Ana Silva")
    await expect(actions(page)).to_have_count(0)
    await expect(detail(page).get_by_role("button")).to_have_text(["← Back"])
    await browsing.screenshot(page, "archived-lead")


async def test_a_lead_is_accepted_with_the_keyboard_alone(
    browsing: Browsing, partner: Partner
) -> None:
    lead_id = await lead(partner, "Nod Publishers")
    page = await browsing.signed_in(partner.referrals_token)
    link = page.get_by_role("link", name="Nod Publishers")
    await link.focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Nod Publishers", level=2)).to_be_focused()
    await browsing.screenshot(page, "lead-detail")

    async def tab_to(name: str) -> None:
        for _ in range(40):
            await page.keyboard.press("Tab")
            label = await page.evaluate(
                "() => document.activeElement.getAttribute('aria-label')"
                " || document.activeElement.textContent.trim()"
            )
            if label == name:
                return
        raise AssertionError(f"Tab never reached {name!r}")

    await tab_to("Accept")
    await page.keyboard.press("Enter")
    await expect(page.get_by_label("Deal name")).to_be_focused()
    await page.keyboard.type("Keyboard deal")
    await page.keyboard.press("Tab")
    await page.keyboard.type("9000")
    await page.keyboard.press("Tab")  # currency: USD already
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Estimated purchase date")).to_be_focused()
    await page.keyboard.type("03152027")
    await page.get_by_label("Estimated purchase date").press("Enter")  # submits the form
    await expect(detail(page)).to_contain_text("Keyboard deal")
    await expect(page.get_by_role("heading", name="Nod Publishers", level=2)).to_be_focused()

    await page.keyboard.press("Escape")
    await expect(detail(page)).to_be_hidden()
    await expect(link).to_be_focused()
    assert await stored(partner, lead_id, "stage", "estimated_purchase_date") == (
        "ACCEPTED",
        datetime(2027, 3, 15).date(),
    )
