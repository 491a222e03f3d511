"""The notifications page (R13): a notification the worker delivers while the page is open
appears at the top without a reload; marking read clears its marker and the header's badge;
a notification about a lead opens the lead."""

from __future__ import annotations

from datetime import timedelta

from playwright.async_api import Locator, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Notification
from tests.stack import utcnow
from tests.web.conftest import Browsing, Partner
from tests.web.views_support import (
    listening_for_notifications,
    new_lead_delivered,
    serious_violations,
)


def items(page: Page) -> Locator:
    return page.get_by_role("list", name="Notifications").get_by_role("listitem")


async def test_a_delivered_notification_arrives_live_and_is_marked_read(
    browsing: Browsing, partner: Partner
) -> None:
    await new_lead_delivered(partner, "Adatum Earlier")
    page = await browsing.signed_in(partner.referrals_token, hash="#/notifications")
    badge = page.get_by_role("navigation", name="Main").locator(".badge")
    list_items = items(page)
    await expect(list_items).to_have_count(1)
    await expect(list_items.first).to_contain_text("Adatum Earlier")
    await expect(badge).to_have_text("1 unread")
    await listening_for_notifications(partner, partner.world.referrals_admin)

    lead_id = await new_lead_delivered(partner, "Fabrikam Live")
    # At the top, unread, without a reload; the badge counts it.
    await expect(list_items).to_have_count(2)
    newest = list_items.first
    await expect(newest).to_contain_text("Fabrikam Live")
    await expect(newest.locator(".unread-marker")).to_have_text("Unread")
    await expect(badge).to_have_text("2 unread")
    await expect(page.locator("#announcer")).to_contain_text("New notification")
    await browsing.screenshot(page, "notifications")
    assert await serious_violations(page) == []

    await newest.get_by_role("button", name="Mark read").click()
    await expect(newest.locator(".unread-marker")).to_have_count(0)
    await expect(badge).to_have_text("1 unread")
    await expect(page.locator(".unread-summary")).to_have_text("1 unread")

    await page.get_by_role("button", name="Mark all read").click()
    await expect(page.locator(".unread-marker")).to_have_count(0)
    await expect(badge).to_be_hidden()
    await expect(page.get_by_role("button", name="Mark all read")).to_be_disabled()

    # Read stays read: a reload shows both, neither unread.
    await page.reload()
    await expect(list_items).to_have_count(2)
    await expect(page.locator(".notification.unread")).to_have_count(0)

    # The notification about a lead opens it.
    await list_items.first.get_by_role("link").click()
    assert page.url.endswith(f"#/lead/{lead_id}")
    # (What the pane shows is the lead pane's business: tests/web/test_lead.py.)
    await expect(page.get_by_role("region", name="Lead details")).to_be_visible()


async def stored_notifications(partner: Partner, count: int) -> None:
    """`count` in-app notifications for the partner admin, as the relay stores them (one a
    minute, the last the newest), without the live publishing this test does not look at."""
    now = utcnow()
    async with AsyncSession(partner.site.engine) as session, session.begin():
        session.add_all(
            Notification(
                user_id=partner.world.partner_admin,
                kind="REMINDER",
                title=f"Reminder {n}",
                body=f"Respond to lead {n}",
                created_at=now - timedelta(minutes=count - n),
            )
            for n in range(count)
        )


async def test_unread_only_and_paging(browsing: Browsing, partner: Partner) -> None:
    await stored_notifications(partner, 22)
    page = await browsing.signed_in(partner.admin_token, hash="#/notifications")
    list_items = items(page)
    await expect(list_items).to_have_count(20)
    await expect(list_items.first).to_contain_text("Reminder 21")
    await page.get_by_role("button", name="Load more").click()
    await expect(list_items).to_have_count(22)
    await expect(list_items.last).to_contain_text("Reminder 0")
    await expect(page.get_by_role("button", name="Load more")).to_be_hidden()

    await list_items.nth(1).get_by_role("button", name="Mark read").click()
    await expect(page.locator(".notification.unread")).to_have_count(21)
    await expect(page.locator(".unread-summary")).to_have_text("21 unread")

    await page.get_by_label("Unread only").check()
    await expect(page.get_by_role("button", name="Load more")).to_be_visible()
    assert page.url.endswith("#/notifications?unread=1")
    await expect(list_items.filter(has_text="Reminder 20")).to_have_count(0)
    await list_items.first.get_by_role("button", name="Mark read").click()
    # Read, it leaves the unread list.
    await expect(list_items.filter(has_text="Reminder 21")).to_have_count(0)
    await expect(page.locator(".unread-summary")).to_have_text("20 unread")
