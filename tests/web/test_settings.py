"""The settings page: language and time zone kept across a reload, a bad time zone's typed
error at its field; routing rules saved by a partner admin (and refused at the rule's field),
read, not edited, by a referrals admin."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import Browsing, Partner
from tests.web.views_support import horizontal_overflow, serious_violations


async def test_language_and_time_zone_are_kept_and_a_bad_zone_is_refused_at_its_field(
    browsing: Browsing, partner: Partner
) -> None:
    page = await browsing.signed_in(partner.referrals_token, hash="#/settings")
    language = page.get_by_label("Language", exact=True)
    zone = page.get_by_label("Time zone", exact=True)
    await expect(language).to_have_value("en")
    await expect(zone).to_have_value("UTC")

    await zone.fill("Mars/Olympus_Mons")
    await page.get_by_role("button", name="Save language and time zone").click()
    await expect(zone).to_have_attribute("aria-invalid", "true")
    error = page.locator(".field", has=page.get_by_label("Time zone", exact=True)).locator(
        ".field-error"
    )
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("time zone")
    described = await zone.get_attribute("aria-describedby") or ""
    assert await error.get_attribute("id") in described.split()

    await language.select_option("pt-BR")
    await zone.fill("America/Sao_Paulo")
    await page.get_by_role("button", name="Save language and time zone").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text(
        "America/Sao_Paulo"
    )
    await expect(zone).not_to_have_attribute("aria-invalid", "true")

    await page.reload()
    await expect(page.get_by_label("Language", exact=True)).to_have_value("pt-BR")
    await expect(page.get_by_label("Time zone", exact=True)).to_have_value("America/Sao_Paulo")
    assert await serious_violations(page) == []


async def test_a_partner_admin_saves_routing_rules_and_a_referrals_admin_reads_them(
    browsing: Browsing, partner: Partner
) -> None:
    admin = f"{partner.name} partner_admin"
    referrals = f"{partner.name} referrals_admin"
    page = await browsing.signed_in(partner.admin_token, hash="#/settings")
    routing = page.get_by_role("region", name="Routing rules")
    await expect(routing).to_contain_text("No routing rules")

    await routing.get_by_role("button", name="Add a rule").click()
    first = routing.get_by_role("group", name="Rule 1")
    await expect(first.get_by_label("Industries", exact=True)).to_be_focused()
    await first.get_by_label("Industries", exact=True).fill("Healthcare")
    await first.get_by_label("Countries", exact=True).fill("Brazil")
    await first.get_by_label("Person", exact=True).select_option(str(partner.world.partner_admin))

    await routing.get_by_role("button", name="Add a rule").click()
    second = routing.get_by_role("group", name="Rule 2")
    await second.get_by_label("People in turn", exact=True).check()
    await second.get_by_label(admin, exact=True).check()
    await second.get_by_label(referrals, exact=True).check()

    # The API refuses "Brazil" (not an ISO code): the error stands at the rule's field.
    await routing.get_by_role("button", name="Save routing rules").click()
    countries = first.get_by_label("Countries", exact=True)
    await expect(countries).to_have_attribute("aria-invalid", "true")
    at_countries = first.locator(".field", has=page.get_by_label("Countries", exact=True))
    await expect(at_countries.locator(".field-error")).to_contain_text("ISO 3166-1")

    await countries.fill("BR")
    # Reordered: the round-robin rule first, then back again.
    await second.get_by_role("button", name="Move up (rule 2)").click()
    await expect(
        routing.get_by_role("group", name="Rule 1").get_by_label("People in turn", exact=True)
    ).to_be_checked()
    await expect(routing.get_by_role("button", name="Move down (rule 1)")).to_be_focused()
    await routing.get_by_role("button", name="Move down (rule 1)").click()
    await routing.get_by_role("button", name="Save routing rules").click()
    await expect(routing.get_by_role("status")).to_have_text("Saved 2 rules.")

    await page.reload()
    routing = page.get_by_role("region", name="Routing rules")
    first = routing.get_by_role("group", name="Rule 1")
    await expect(first.get_by_label("Industries", exact=True)).to_have_value("Healthcare")
    await expect(first.get_by_label("Countries", exact=True)).to_have_value("BR")
    await expect(first.get_by_label("Person", exact=True)).to_have_value(
        str(partner.world.partner_admin)
    )
    await expect(
        routing.get_by_role("group", name="Rule 2").get_by_label(referrals, exact=True)
    ).to_be_checked()

    await routing.scroll_into_view_if_needed()
    await browsing.screenshot(page, "settings-routing")

    # Removed and saved: one rule left.
    await routing.get_by_role("button", name="Remove (rule 2)").click()
    await routing.get_by_role("button", name="Save routing rules").click()
    await expect(routing.get_by_role("status")).to_have_text("Saved 1 rule.")
    assert await serious_violations(page) == []

    # The referrals admin reads them and cannot change them.
    reader = await browsing.signed_in(partner.referrals_token, hash="#/settings")
    routing = reader.get_by_role("region", name="Routing rules")
    await expect(routing.get_by_role("listitem")).to_have_text(
        f"Leads with industry Healthcare, country BR go to {admin}. (0 assigned so far)"
    )
    await expect(routing).to_contain_text("Only a partner admin can change the routing rules.")
    await expect(routing.get_by_role("button")).to_have_count(0)
    await expect(routing.get_by_role("textbox")).to_have_count(0)


async def test_settings_and_notifications_fit_a_phone(browsing: Browsing, partner: Partner) -> None:
    page = await browsing.signed_in(
        partner.admin_token, hash="#/settings", width=390, height=844, is_mobile=True
    )
    routing = page.get_by_role("region", name="Routing rules")
    await routing.get_by_role("button", name="Add a rule").click()
    await (
        routing.get_by_role("group", name="Rule 1")
        .get_by_label("People in turn", exact=True)
        .check()
    )
    await expect(routing.get_by_role("group", name="People, in turn")).to_be_visible()
    assert await horizontal_overflow(page) == 0

    await page.get_by_role("link", name="Notifications").click()
    await expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    await expect(page.get_by_text("No notifications yet.")).to_be_visible()
    assert await horizontal_overflow(page) == 0
