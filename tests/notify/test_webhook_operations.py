"""Operating an endpoint, through the services and the worker's real fan-out and delivery to a
real receiver: editing it (the registration rules apply), pinging it, redelivering a dead or
failed delivery, and reading its deliveries by status, page by page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import AppEnv, Settings
from app.db.models import Delivery, OutboxMessage
from app.domain.events import DeliveryStatus
from app.notify.deliver import Deps
from app.notify.relay import fan_out
from app.services import webhooks
from app.services.auth import Actor
from app.services.errors import Refused
from app.services.receive import receive_lead
from tests.factories import World, incoming_lead
from tests.notify.webhook_support import actor_for, codes, create, endpoint_row
from tests.receivers import WebhookReceiver
from tests.workers.outbox_support import NOW, deliver_all

pytestmark = pytest.mark.usefixtures("only_this_tests_events")


async def relay(session: AsyncSession, deps: Deps) -> dict[str, int]:
    """What one run of the `outbox.relay` job does: fan out, then deliver what is due."""
    await fan_out(session, now=NOW)
    return await deliver_all(session, deps, NOW)


async def test_update_changes_url_events_and_enabled(
    session: AsyncSession, settings: Settings, admin: Actor, receiver: WebhookReceiver
) -> None:
    endpoint, _ = await create(session, settings, admin, url="https://hooks.example.com/a")
    updated = await webhooks.update_endpoint(
        session,
        admin,
        str(endpoint.id),
        settings=settings,
        now=NOW,
        url=receiver.url("/moved"),
        events=["lead.won", "lead.rerouted", "lead.won", "sent_lead.accepted"],
    )
    assert not isinstance(updated, Refused), updated
    row = await endpoint_row(session, endpoint.id)
    assert row is not None
    assert row.url == receiver.url("/moved")
    assert row.events == ["lead.won", "lead.rerouted", "sent_lead.accepted"]
    assert row.active

    # Disabled by hand: nothing is sent. Enabled again: the failing/disabled state is gone.
    row.failing_since = NOW - timedelta(days=1)
    disabled = await webhooks.update_endpoint(
        session, admin, str(endpoint.id), settings=settings, now=NOW, active=False
    )
    assert not isinstance(disabled, Refused)
    assert (disabled.active, disabled.disabled_at) == (False, NOW)
    enabled = await webhooks.update_endpoint(
        session, admin, str(endpoint.id), settings=settings, now=NOW, active=True
    )
    assert not isinstance(enabled, Refused)
    assert (enabled.active, enabled.failing_since, enabled.disabled_at) == (True, None, None)
    # The URL and events stay as they were when not given.
    assert (enabled.url, enabled.events) == (row.url, row.events)


async def test_update_applies_the_registration_rules(
    session: AsyncSession, settings: Settings, world: World, admin: Actor
) -> None:
    endpoint, _ = await create(session, settings, admin)
    eid = str(endpoint.id)

    async def refused(
        actor: Actor | None,
        raw_id: str = eid,
        *,
        rules: Settings = settings,
        url: str | None = None,
        events: list[str] | None = None,
        active: bool | None = None,
    ) -> object:
        result = await webhooks.update_endpoint(
            session, actor, raw_id, settings=rules, now=NOW, url=url, events=events, active=active
        )
        return codes(result)

    assert await refused(admin, url="ftp://x.example.com") == [("VALIDATION", ["url"])]
    assert await refused(admin, events=[]) == [("VALIDATION", ["events"])]
    assert await refused(admin, events=["lead.won", "lead.nope"]) == [
        ("VALIDATION", ["events", "1"])
    ]
    # SSRF: in production, as at registration, no private address and https only.
    production = settings.model_copy(
        update={"app_env": AppEnv.PRODUCTION, "webhook_allow_private_urls": False}
    )
    for url in ("https://127.0.0.1/hooks", "https://10.0.0.8/x", "http://hooks.example.com/"):
        assert await refused(admin, url=url, rules=production) == [("VALIDATION", ["url"])], url
    assert await refused(admin, "nope", active=True) == [("VALIDATION", ["endpoint_id"])]
    member = await actor_for(session, world.contoso.referrals_admin)
    assert await refused(member, active=False) == [("FORBIDDEN", None)]
    fabrikam = await actor_for(session, world.fabrikam.partner_admin)
    assert await refused(fabrikam, active=False) == [("NOT_FOUND", ["endpoint_id"])]
    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.active and row.url == "https://hooks.example.com/leads"


async def test_ping_goes_through_the_outbox_to_the_receiver(
    session: AsyncSession, settings: Settings, admin: Actor, receiver: WebhookReceiver, deps: Deps
) -> None:
    endpoint, receiver.secret = await create(session, settings, admin, url=receiver.url())
    record = await webhooks.ping_endpoint(session, admin, str(endpoint.id), now=NOW)
    assert not isinstance(record, Refused), record
    assert (record.event_type, record.delivery.status) == ("ping", "PENDING")
    event = await session.get(OutboxMessage, record.delivery.outbox_id)
    assert event is not None and event.topic == "ping"

    assert (await relay(session, deps)).get("sent") == 1
    (got,) = receiver.received
    assert got.verified and got.event_type == "ping"
    assert got.payload["webhookEndpointId"] == str(endpoint.id)
    assert got.webhook_id == got.payload["eventId"]
    listed = await webhooks.list_deliveries(session, admin, str(endpoint.id))
    assert not isinstance(listed, Refused)
    assert [(r.event_type, r.delivery.status, len(r.attempts)) for r in listed] == [
        ("ping", "SENT", 1)
    ]

    # A disabled endpoint is not pinged: it would not be sent.
    await webhooks.update_endpoint(
        session, admin, str(endpoint.id), settings=settings, now=NOW, active=False
    )
    assert codes(await webhooks.ping_endpoint(session, admin, str(endpoint.id), now=NOW)) == [
        ("INVALID_TRANSITION", ["endpoint_id"])
    ]


async def test_a_dead_delivery_is_sent_again_once(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    receiver: WebhookReceiver,
    deps: Deps,
) -> None:
    endpoint, receiver.secret = await create(session, settings, admin, url=receiver.url())
    receiver.statuses = [410, 200]  # Gone: dead at once, and the endpoint disabled
    lead = await receive_lead(
        session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    await relay(session, deps)
    delivery = await session.scalar(
        select(Delivery)
        .join(OutboxMessage)
        .where(OutboxMessage.lead_id == lead.id, Delivery.recipient == str(endpoint.id))
    )
    assert delivery is not None and delivery.status == DeliveryStatus.DEAD
    did = str(delivery.id)

    # The endpoint was disabled: enable it first.
    assert codes(await webhooks.redeliver(session, admin, did, now=NOW)) == [
        ("INVALID_TRANSITION", ["delivery_id"])
    ]
    await webhooks.update_endpoint(
        session, admin, str(endpoint.id), settings=settings, now=NOW, active=True
    )
    later = NOW + timedelta(minutes=5)
    first = await webhooks.redeliver(session, admin, did, now=later)
    again = await webhooks.redeliver(session, admin, did, now=later)
    for record in (first, again):
        assert not isinstance(record, Refused), record
        assert record.delivery.id == delivery.id
        assert (record.delivery.status, record.delivery.next_attempt_at) == ("PENDING", later)
        assert record.event_type == "lead.received" and record.lead_id == lead.id

    assert await deliver_all(session, deps, later) == {"sent": 1}
    assert receiver.counts()[receiver.requests[0].webhook_id] == 1  # accepted once, the resend
    assert [r.status for r in receiver.requests] == [410, 200]
    assert receiver.requests[0].webhook_id == receiver.requests[1].webhook_id
    await session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("SENT", 2)

    # Delivered: nothing to send again. Another organisation's: not found.
    assert codes(await webhooks.redeliver(session, admin, did, now=later)) == [
        ("INVALID_TRANSITION", ["delivery_id"])
    ]
    fabrikam = await actor_for(session, world.fabrikam.partner_admin)
    assert codes(await webhooks.redeliver(session, fabrikam, did, now=later)) == [
        ("NOT_FOUND", ["delivery_id"])
    ]
    assert codes(await webhooks.redeliver(session, admin, "x1", now=later)) == [
        ("VALIDATION", ["delivery_id"])
    ]


async def test_a_failing_pending_delivery_is_due_now(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    receiver: WebhookReceiver,
    deps: Deps,
) -> None:
    endpoint, receiver.secret = await create(session, settings, admin, url=receiver.url())
    receiver.statuses = [503, 200]
    await receive_lead(
        session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    await relay(session, deps)
    listed = await webhooks.list_deliveries(session, admin, str(endpoint.id))
    assert not isinstance(listed, Refused)
    (failed,) = listed
    assert failed.delivery.status == "PENDING" and failed.delivery.next_attempt_at > NOW
    record = await webhooks.redeliver(session, admin, str(failed.delivery.id), now=NOW)
    assert not isinstance(record, Refused)
    assert record.delivery.next_attempt_at == NOW and len(record.attempts) == 1
    assert await deliver_all(session, deps, NOW) == {"sent": 1}


async def test_deliveries_by_status_page_by_page(
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    receiver: WebhookReceiver,
    deps: Deps,
) -> None:
    endpoint, receiver.secret = await create(session, settings, admin, url=receiver.url())
    receiver.statuses = [200, 500, 200, 500, 200]
    for _ in range(5):
        await receive_lead(
            session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
        )
        await relay(session, deps)

    async def page(
        status: DeliveryStatus | None = None, first: int = 20, after: str | None = None
    ) -> list[tuple[int, str]]:
        found = await webhooks.list_deliveries(
            session, admin, str(endpoint.id), status=status, first=first, after=after
        )
        assert not isinstance(found, Refused), found
        return [(r.delivery.id, r.delivery.status) for r in found]

    everything = await page()
    assert [status for _, status in everything] == ["SENT", "PENDING", "SENT", "PENDING", "SENT"]
    sent = await page(status=DeliveryStatus.SENT)
    assert sent == [d for d in everything if d[1] == "SENT"]
    assert await page(status=DeliveryStatus.PENDING) == [d for d in everything if d[1] != "SENT"]
    assert await page(status=DeliveryStatus.DEAD) == []
    # Paged: the next page starts after the last delivery of the previous one.
    first = await page(status=DeliveryStatus.SENT, first=2)
    rest = await page(status=DeliveryStatus.SENT, first=2, after=str(first[-1][0]))
    assert first + rest == sent and len(first) == 2
    assert codes(
        await webhooks.list_deliveries(session, admin, str(endpoint.id), after="123456789012")
    ) == [("NOT_FOUND", ["after"])]
