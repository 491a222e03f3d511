"""Helpers for the pipeline, notifications and settings browser tests (conftest.py is the
first SPA slice's; what these tests need beyond it lives here)."""

from __future__ import annotations

import uuid

import redis.asyncio as aioredis
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page
from sqlalchemy.ext.asyncio import AsyncSession

from app.notify.live import notification_channel
from app.services.receive import receive_lead
from tests.factories import incoming_lead
from tests.integration.test_team import deliver
from tests.stack import utcnow
from tests.waiting import eventually
from tests.web.conftest import Partner


async def serious_violations(page: Page, selector: str = "body") -> list[str]:
    """axe-core's serious and critical findings on what `selector` covers."""
    results = await Axe().run(page, context=selector)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return int(
        await page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    )


async def listening_for_notifications(partner: Partner, user_id: uuid.UUID) -> None:
    """Waits until a live `notificationAdded` subscription of `user_id` listens on Redis."""
    probe = aioredis.from_url(partner.site.settings.redis_url or "")
    channel = notification_channel(user_id)

    async def listening() -> bool:
        return bool(dict(await probe.pubsub_numsub(channel)).get(channel.encode(), 0))

    try:
        await eventually(listening, timeout=15, describe="the page's subscription listens")
    finally:
        await probe.aclose()


async def new_lead_delivered(partner: Partner, company: str) -> str:
    """A lead arrives for `partner` and the worker's relay delivers its alerts, as in
    production: the in-app notifications are written, committed, then published to the
    recipients' live subscriptions. Returns the lead's id."""
    settings = partner.site.settings
    async with AsyncSession(partner.site.engine) as session, session.begin():
        lead = await receive_lead(
            session,
            partner.world.organisation_id,
            incoming_lead(contact_requested=False, company_name=company),
            now=utcnow(),
            settings=settings,
        )
        lead_id = str(lead.id)
    await deliver(settings)
    return lead_id
