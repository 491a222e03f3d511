"""Signing in to the SPA: the link `make run` prints, a pasted API key, signing out."""

from __future__ import annotations

import json
from typing import Any

from playwright.async_api import expect

from app.domain.roles import Role
from tests.factories import make_api_key
from tests.web.conftest import Browsing, Partner


async def test_the_printed_link_signs_in_and_leaves_no_token_in_the_address(
    browsing: Browsing, partner: Partner
) -> None:
    page = await browsing.signed_in(partner.referrals_token)

    await expect(page.get_by_role("navigation", name="Main")).to_contain_text("Inbox")
    await expect(page.locator("header")).to_contain_text(partner.name)
    assert "token=" not in page.url
    assert page.url.endswith("#/inbox/MARKETPLACE")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in to Partner leads")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("Bearer token or API key")).to_be_focused()


async def test_an_api_key_pasted_into_the_form_signs_in(
    browsing: Browsing, partner: Partner
) -> None:
    _, secret = await partner.add(
        lambda session, organisation_id: make_api_key(
            session,
            partner.site.settings,
            organisation_id=organisation_id,
            roles=(Role.PARTNER_ADMIN,),
        )
    )
    page = await browsing.page()
    await page.goto("/")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Paste a token or an API key")

    await page.get_by_label("Bearer token or API key").fill(secret)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator("header")).to_contain_text(partner.name)
    await expect(page.get_by_role("link", name="Inbox")).to_have_attribute("aria-current", "page")


async def test_queries_go_by_their_hash_once_the_server_knows_them(
    browsing: Browsing, partner: Partner
) -> None:
    page = await browsing.signed_in(partner.referrals_token)
    await expect(page.get_by_role("tab", name="Marketplace, 0 new")).to_be_visible()
    bodies: list[dict[str, Any]] = []

    def sent(request: Any) -> None:
        if request.url.endswith("/graphql") and request.method == "POST":
            bodies.append(json.loads(request.post_data or "{}"))

    page.on("request", sent)
    await page.reload()
    await expect(page.get_by_role("tab", name="Marketplace, 0 new")).to_be_visible()
    assert len(bodies) >= 3  # the viewer, the counts, the list (at least)
    assert all("persistedQuery" in b["extensions"] for b in bodies)
    # Every document was registered before the reload: only hashes travel now.
    assert all("query" not in b for b in bodies), bodies


async def test_the_header_reaches_every_page(browsing: Browsing, partner: Partner) -> None:
    page = await browsing.signed_in(partner.referrals_token)
    nav = page.get_by_role("navigation", name="Main")
    # Each page shows what it read for a partner with nothing yet.
    for link, heading, shown in (
        ("Pipeline", "Pipeline", "No accepted lead has a value in this range."),
        ("Notifications", "Notifications", "No notifications yet."),
        ("Settings", "Settings", "Only a partner admin can change the routing rules."),
        ("Inbox", "Lead inbox", "No leads match."),
    ):
        await nav.get_by_role("link", name=link).click()
        await expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        await expect(nav.get_by_role("link", name=link)).to_have_attribute("aria-current", "page")
        await expect(page.locator("main")).to_contain_text(shown)
