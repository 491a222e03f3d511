"""The pipeline page (R14) as a partner's lead manager sees it: the funnel, rates, values per
currency, by month and by type, each chart with its table; filters in the URL; a refused
filter at its field; axe; a phone."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from playwright.async_api import Locator, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.roles import Role
from tests.factories import make_lead, unique
from tests.graphql.test_pipeline import archived, at, constructed
from tests.web.conftest import Browsing, Partner
from tests.web.views_support import horizontal_overflow, serious_violations

# September and October 2026: `constructed`'s leads (tests/graphql/test_pipeline.py).
RANGE = "#/pipeline?from=2026-09-01&to=2026-11-01"


async def with_leads(partner: Partner) -> None:
    """Open, accepted (50000 USD), declined, expired, won (1200.50 EUR), won (40000 USD), lost."""
    await partner.add(lambda session, organisation_id: constructed(session, organisation_id))


async def row_cells(page: Page, caption: str, header: str) -> list[str]:
    row = (
        page.get_by_role("table", name=caption)
        .get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=header, exact=True))
    )
    return [c.strip() for c in await row.locator("th, td").all_inner_texts()]


def stat(page: Page, name: str) -> Locator:
    """The figure of the rates' list whose term is `name`."""
    term = page.locator("dt").filter(has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator(".stats .stat").filter(has=term).locator("dd")


async def open_table(page: Page, summary: str) -> None:
    await page.get_by_text(summary, exact=True).click()


async def test_the_charts_and_their_tables_show_the_figures(
    browsing: Browsing, partner: Partner
) -> None:
    await with_leads(partner)
    page = await browsing.signed_in(partner.referrals_token, hash=RANGE)

    funnel = page.locator("svg.funnel-chart")
    await expect(funnel).to_have_attribute("role", "img")
    await expect(funnel).to_have_attribute(
        "aria-label",
        "Funnel: 7 received, 4 accepted, 2 won, 1 lost, 1 declined, 1 expired.",
    )
    await expect(page.locator("svg.month-chart")).to_be_visible()
    await browsing.screenshot(page, "pipeline-wide")
    await open_table(page, "Funnel as a table")
    for stage, count in [
        ("Received", "7"),
        ("Accepted", "4"),
        ("Won", "2"),
        ("Lost", "1"),
        ("Declined", "1"),
        ("Expired", "1"),
    ]:
        assert await row_cells(page, "Funnel", stage) == [stage, count]

    await expect(stat(page, "Acceptance rate")).to_have_text("80%4 accepted of 5 answered")
    await expect(stat(page, "Win rate")).to_have_text("66.7%2 won of 3 closed")
    await expect(stat(page, "Median response")).to_contain_text("6 h")
    await expect(stat(page, "90th percentile response")).to_have_text("9.2 h")
    await expect(stat(page, "Expired")).to_contain_text("1")

    # One row per currency, never summed together.
    values = "Estimated value of accepted leads and final value of won leads, per currency"
    assert await row_cells(page, values, "EUR") == ["EUR", "€1,000.00", "€1,200.50"]
    assert await row_cells(page, values, "USD") == ["USD", "$100,000.00", "$40,000.00"]

    # One bar per month (received), with accepted and won drawn over it.
    month_chart = page.locator("svg.month-chart")
    await expect(month_chart.locator("rect.bar-received")).to_have_count(2)
    await expect(month_chart).to_have_attribute("role", "img")
    await open_table(page, "By month as a table")
    september = await row_cells(page, "By month received (UTC)", "September 2026")
    october = await row_cells(page, "By month received (UTC)", "October 2026")
    assert september[:7] == ["September 2026", "3", "1", "0", "0", "0", "1"]
    assert october[:7] == ["October 2026", "4", "3", "2", "1", "1", "0"]
    assert october[7:] == ["75%", "66.7%", "€1,000.00, $50,000.00", "€1,200.50, $40,000.00"]

    await expect(page.locator("svg.type-chart rect.bar-received")).to_have_count(3)
    await open_table(page, "By type as a table")
    inquiry = await row_cells(page, "By lead type", "Customer inquiry")
    assert inquiry[:5] == ["Customer inquiry", "4", "3", "1", "1"]

    assert await serious_violations(page) == []


async def test_filters_change_the_figures_and_live_in_the_url(
    browsing: Browsing, partner: Partner
) -> None:
    await with_leads(partner)
    page = await browsing.signed_in(partner.referrals_token, hash=RANGE)
    funnel = page.locator("svg.funnel-chart")
    await expect(funnel).to_have_attribute(
        "aria-label", "Funnel: 7 received, 4 accepted, 2 won, 1 lost, 1 declined, 1 expired."
    )

    await expect(page.locator(".lede")).to_have_text(
        "Received Sep 1, 2026 – Oct 31, 2026 (UTC days)."
    )
    await page.get_by_text("Filters", exact=True).click()
    await page.get_by_label("Lead type", exact=True).select_option("SALES_QUALIFIED")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(funnel).to_have_attribute(
        "aria-label", "Funnel: 2 received, 1 accepted, 1 won, 0 lost, 1 declined, 0 expired."
    )
    assert "type=SALES_QUALIFIED" in page.url and "from=2026-09-01" in page.url
    await expect(page.locator("svg.month-chart rect.bar-received")).to_have_count(1)

    # The URL is the filter: a reload shows the same figures.
    await page.reload()
    await expect(page.locator("svg.funnel-chart")).to_have_attribute(
        "aria-label", "Funnel: 2 received, 1 accepted, 1 won, 0 lost, 1 declined, 0 expired."
    )
    await expect(page.locator(".lede")).to_have_text(
        "Received Sep 1, 2026 – Oct 31, 2026 · Sales qualified (UTC days)."
    )
    await page.get_by_text("Filters", exact=True).click()
    await expect(page.get_by_label("Lead type", exact=True)).to_have_value("SALES_QUALIFIED")

    # Only October: one month, four leads.
    await page.get_by_label("Lead type", exact=True).select_option("")
    await page.get_by_label("Received from").fill("2026-10-01")
    await page.get_by_role("button", name="Apply filters").click()
    await expect(page.get_by_role("button", name="Apply filters")).to_be_hidden()
    await expect(page.locator("svg.funnel-chart")).to_have_attribute(
        "aria-label", "Funnel: 4 received, 3 accepted, 2 won, 1 lost, 1 declined, 0 expired."
    )


async def test_a_refused_range_is_shown_at_its_field(browsing: Browsing, partner: Partner) -> None:
    page = await browsing.signed_in(
        partner.referrals_token, hash="#/pipeline?from=2026-10-01&to=2026-09-01"
    )
    from_field = page.get_by_label("Received from")
    await expect(from_field).to_have_attribute("aria-invalid", "true")
    await expect(page.locator(".field", has=from_field).locator(".field-error")).to_be_visible()
    await expect(page.locator("svg.funnel-chart")).to_have_count(0)


async def test_a_phone_shows_the_charts_without_scrolling_sideways(
    browsing: Browsing, partner: Partner
) -> None:
    await with_leads(partner)
    page = await browsing.signed_in(
        partner.referrals_token,
        hash=RANGE,
        width=390,
        height=844,
        is_mobile=True,
        has_touch=True,
    )
    await expect(page.locator("svg.month-chart rect.bar-received")).to_have_count(2)
    await browsing.screenshot(page, "pipeline-phone")
    await open_table(page, "By month as a table")
    await open_table(page, "By type as a table")
    assert await horizontal_overflow(page) == 0
    box = await page.locator("svg.funnel-chart").bounding_box()
    assert box is not None and box["width"] <= 390


async def test_a_seller_sees_the_leads_it_sent(browsing: Browsing, partner: Partner) -> None:
    async with (
        AsyncSession(partner.site.engine, expire_on_commit=False) as session,
        session.begin(),
    ):
        platform = models.Organisation(
            id=uuid.uuid4(), slug=unique("platform"), name="Platform", kind="PLATFORM"
        )
        session.add(platform)
        await session.flush()
        seller = models.User(
            id=uuid.uuid4(),
            organisation_id=platform.id,
            roles=[Role.SELLER.value],
            email=f"{unique('seller')}@platform.example",
            name="Sam Seller",
        )
        session.add(seller)
        await session.flush()
        sent = {"sender_organisation_id": platform.id, "sender_user_id": seller.id}
        await archived(
            session,
            partner.world.organisation_id,
            "WON",
            at("2026-10-05"),
            hours=3,
            estimated_value_amount=Decimal("900"),
            estimated_value_currency="BRL",
            final_value_amount=Decimal("1000"),
            final_value_currency="BRL",
            **sent,
        )
        await archived(
            session,
            partner.world.organisation_id,
            "DECLINED",
            at("2026-10-06"),
            hours=5,
            decline_reason="NO_CAPACITY",
            **sent,
        )
        # The partner's own inquiry is not the seller's.
        await make_lead(
            session, organisation_id=partner.world.organisation_id, received_at=at("2026-10-07")
        )

    page = await browsing.signed_in(partner.token(seller.id), hash=RANGE)
    await expect(page.locator("svg.funnel-chart")).to_have_attribute(
        "aria-label", "Funnel: 2 received, 1 accepted, 1 won, 0 lost, 1 declined, 0 expired."
    )
    values = "Estimated value of accepted leads and final value of won leads, per currency"
    assert await row_cells(page, values, "BRL") == ["BRL", "R$900.00", "R$1,000.00"]
