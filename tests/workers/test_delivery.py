"""Delivery, in-process on real Postgres, Valkey, SMTP and HTTP: e-mails, in-app notifications,
live events and signed webhooks reach their recipients once; failing webhooks are retried with
backoff, then disabled and their admins told."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Delivery, DeliveryAttempt, Notification, OutboxMessage, WebhookEndpoint
from app.dev.smtp_sink import MailSink
from app.domain.events import Channel
from app.notify.deliver import Deps, deliver
from app.notify.live import live_channel
from app.notify.relay import fan_out
from app.services.receive import receive_lead
from tests.factories import World, incoming_lead, make_lead
from tests.graphql_client import GraphQLClient
from tests.notify.webhook_support import actor_for, create
from tests.receivers import WebhookReceiver
from tests.workers.outbox_support import NOW, deliver_all

pytestmark = pytest.mark.usefixtures("only_this_tests_events")


async def test_urgent_alert_email_and_in_app_notification(
    session: AsyncSession, world: World, settings: Settings, deps: Deps, sink: MailSink
) -> None:
    lead = await receive_lead(
        session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    await fan_out(session, now=NOW)
    outcomes = await deliver_all(session, deps, NOW)
    assert outcomes.get("sent", 0) >= 4
    mails = [m for m in sink.messages() if "Adatum" in str(m["Subject"])]
    assert [m["X-Delivered-To"] for m in mails] == ["leads@contoso.example"]
    assert (
        "contacted directly" in str(mails[0]["Subject"]).lower()
        or "urgent" in str(mails[0]["Subject"]).lower()
    )
    assert mails[0].is_multipart()
    notes = (
        await session.scalars(select(Notification).where(Notification.lead_id == lead.id))
    ).all()
    assert {n.user_id for n in notes} == {
        world.contoso.partner_admin,
        world.contoso.referrals_admin,
    }
    assert {n.kind for n in notes} == {"URGENT_CONTACT"}
    # Delivering again sends nothing: every delivery has moved on.
    again = await deliver_all(session, deps, NOW + timedelta(seconds=1))
    assert again == {}
    attempts = await session.scalar(
        select(func.count())
        .select_from(DeliveryAttempt)
        .join(Delivery)
        .join(OutboxMessage)
        .where(OutboxMessage.lead_id == lead.id)
    )
    assert attempts == 4  # LIVE, EMAIL to leads@, IN_APP to the two lead managers


async def test_live_events_are_published_after_commit_only(
    session: AsyncSession, world: World, settings: Settings, deps: Deps
) -> None:
    client = aioredis.from_url(settings.redis_url or "")
    pubsub = client.pubsub()
    await pubsub.subscribe(live_channel(world.contoso.organisation_id))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    lead = await receive_lead(
        session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    # Written to the outbox but not yet fanned out: nothing is published.
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3) is None
    await fan_out(session, now=NOW)
    await deliver_all(session, deps, NOW)
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=3)
    assert message is not None
    event = json.loads(message["data"])
    assert event["type"] == "lead.received" and event["leadId"] == str(lead.id)
    await pubsub.aclose()
    await client.aclose()


async def test_signed_webhook_reaches_a_real_receiver(
    session: AsyncSession, world: World, settings: Settings, deps: Deps
) -> None:
    with WebhookReceiver() as receiver:
        admin = await actor_for(session, world.contoso.partner_admin)
        _, receiver.secret = await create(session, settings, admin, url=receiver.url())
        lead = await receive_lead(
            session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
        )
        await fan_out(session, now=NOW)
        await deliver_all(session, deps, NOW)
        (got,) = [r for r in receiver.received if r.payload.get("leadId") == str(lead.id)]
        assert got.verified and got.event_type == "lead.received"
        assert got.payload["current"]["stage"] == "RECEIVED" and got.payload["previous"] is None
        assert got.webhook_id == got.payload["eventId"]


async def webhook_delivery(
    session: AsyncSession, world: World, settings: Settings, url: str
) -> tuple[WebhookEndpoint, Delivery]:
    """A Contoso endpoint at `url`, and the delivery a new lead's event owes it."""
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(session, settings, admin, url=url)
    await receive_lead(
        session, world.contoso.organisation_id, incoming_lead(), now=NOW, settings=settings
    )
    await fan_out(session, now=NOW)
    hook = await session.scalar(
        select(Delivery).where(
            Delivery.channel == Channel.WEBHOOK, Delivery.recipient == str(endpoint.id)
        )
    )
    assert hook is not None
    return endpoint, hook


async def disabled_notices(session: AsyncSession, world: World) -> list[OutboxMessage]:
    found = await session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.topic == "notify.webhook_disabled",
            OutboxMessage.organisation_id == world.contoso.organisation_id,
        )
    )
    return list(found.all())


async def test_failing_webhook_is_retried_with_backoff_then_disabled(
    session: AsyncSession, world: World, settings: Settings, deps: Deps
) -> None:
    with WebhookReceiver(status=500) as receiver:
        endpoint, hook = await webhook_delivery(session, world, settings, receiver.url())
        async with session.begin_nested():
            assert await deliver(session, hook.id, deps, now=NOW) == "retry"
        await session.refresh(hook)
        assert (hook.attempts, hook.status) == (1, "PENDING")
        assert hook.next_attempt_at == NOW + timedelta(seconds=5)
        async with session.begin_nested():  # not due yet
            assert (
                await deliver(session, hook.id, deps, now=NOW + timedelta(seconds=1)) == "not-due"
            )
        # Still failing five days later: the endpoint is disabled and its admins told.
        later = NOW + timedelta(days=5, seconds=1)
        hook.next_attempt_at = later
        await session.flush()
        async with session.begin_nested():
            assert await deliver(session, hook.id, deps, now=later) in {"retry", "dead"}
        await session.refresh(endpoint)
        assert endpoint.active is False and endpoint.disabled_at == later
        told = await disabled_notices(session, world)
        assert len(told) == 1 and told[0].payload["webhookUrl"] == receiver.url()
        assert told[0].payload["audience"] == "partner_admins"
        await fan_out(session, now=later)
        targets = {
            (d.channel, d.recipient)
            for d in (
                await session.scalars(select(Delivery).where(Delivery.outbox_id == told[0].id))
            ).all()
        }
        assert targets == {
            ("EMAIL", "admin@contoso.example"),
            ("IN_APP", str(world.contoso.partner_admin)),
        }
        attempts = (
            await session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == hook.id)
            )
        ).all()
        assert [a.status_code for a in attempts] == [500, 500]


async def test_a_private_endpoint_is_not_sent_to_where_private_urls_are_refused(
    session: AsyncSession, world: World, settings: Settings, deps: Deps
) -> None:
    """Registered where private URLs were allowed, delivered where they are not: the worker
    checks again, sends nothing, and disables the endpoint at once."""
    strict = replace(
        deps, settings=deps.settings.model_copy(update={"webhook_allow_private_urls": False})
    )
    with WebhookReceiver() as receiver:
        endpoint, hook = await webhook_delivery(session, world, settings, receiver.url())
        async with session.begin_nested():
            assert await deliver(session, hook.id, strict, now=NOW) == "dead"
        assert receiver.requests == []
    await session.refresh(hook)
    await session.refresh(endpoint)
    assert hook.status == "DEAD" and hook.last_error is not None
    assert "loopback, private or link-local" in hook.last_error
    assert endpoint.active is False and endpoint.disabled_at == NOW
    assert len(await disabled_notices(session, world)) == 1


@pytest.mark.parametrize(
    "spelling", ["127。0。0。1", "１２７．０．０．１", "0x7f000001", "[::ffff:127.0.0.1]"]
)
async def test_the_worker_refuses_any_spelling_of_a_private_address(
    session: AsyncSession, world: World, settings: Settings, deps: Deps, spelling: str
) -> None:
    """The host is judged as HTTP clients read it: ideographic dots or full-width digits
    (which a client maps to 127.0.0.1) are loopback too, so nothing reaches the receiver."""
    strict = replace(
        deps, settings=deps.settings.model_copy(update={"webhook_allow_private_urls": False})
    )
    with WebhookReceiver() as receiver:
        port = receiver.url().rsplit(":", 1)[1].split("/")[0]
        _, hook = await webhook_delivery(
            session, world, settings, f"http://{spelling}:{port}/hooks"
        )
        async with session.begin_nested():
            assert await deliver(session, hook.id, strict, now=NOW) == "dead"
        assert receiver.requests == []
    await session.refresh(hook)
    assert hook.last_error is not None and "loopback, private or link-local" in hook.last_error


async def test_declined_customer_gets_a_polite_notice(
    session: AsyncSession,
    world: World,
    settings: Settings,
    deps: Deps,
    sink: MailSink,
    gql: GraphQLClient,
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    lead = await make_lead(
        session,
        organisation_id=world.contoso.organisation_id,
        contact_email="buyer@litware.example",
        contact_name="Lena Kowalski",
    )
    body = await client(
        """mutation($id: ID!) { declineLead(input: {id: $id, reason: OTHER,
             notes: "internal: bad fit"}) { errors { code } } }""",
        {"id": str(lead.id)},
    )
    assert body["data"]["declineLead"]["errors"] == []
    await fan_out(session, now=NOW)
    outcomes = await deliver_all(session, deps, NOW)
    assert outcomes.get("sent", 0) >= 2
    statuses = (
        await session.execute(
            select(Delivery.channel, Delivery.status)
            .join(OutboxMessage)
            .where(OutboxMessage.lead_id == lead.id)
        )
    ).all()
    assert sorted(statuses) == [("EMAIL", "SENT"), ("LIVE", "SENT")]  # and the customer's mail
    (mail,) = [m for m in sink.messages() if m["X-Delivered-To"] == "buyer@litware.example"]
    assert mail["To"] == "Lena Kowalski <buyer@litware.example>"
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Lena Kowalski" in text and "different partner" in text
    assert "internal: bad fit" not in mail.as_string()


@pytest.mark.parametrize("change", ["deactivated", "deleted"])
async def test_a_deactivated_or_deleted_endpoint_is_skipped(
    session: AsyncSession, world: World, settings: Settings, deps: Deps, change: str
) -> None:
    endpoint, hook = await webhook_delivery(session, world, settings, "http://127.0.0.1:9/x")
    # Changed after the event was fanned out.
    if change == "deleted":
        await session.delete(endpoint)
    else:
        endpoint.active = False
    await session.flush()
    async with session.begin_nested():
        assert await deliver(session, hook.id, deps, now=NOW) == "skipped"
    await session.refresh(hook)
    assert (hook.status, hook.attempts) == ("SKIPPED", 1)
