"""Expiry, reminders, fan-out and delivery, in-process on real Postgres, Valkey, SMTP and HTTP."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db.models import (
    Delivery,
    DeliveryAttempt,
    Lead,
    LeadHistory,
    LeadReminder,
    Notification,
    OutboxMessage,
)
from app.dev.smtp_sink import MailSink
from app.domain.lifecycle import LeadStage, LeadType
from app.notify.deliver import Deps, deliver, live_channel
from app.notify.relay import fan_out
from app.services import webhooks
from app.services.auth import load_actor
from app.services.receive import IncomingLead, receive_lead
from app.services.sweeps import expire_overdue, send_reminders
from tests.factories import World, make_lead, make_partner
from tests.receivers import WebhookReceiver

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
async def only_this_tests_events(session: AsyncSession) -> None:
    """Other tests commit events (races, concurrent sweeps): inside this test's rolled-back
    transaction, treat them as already handled so fan-out and delivery see only ours."""
    await session.execute(text("UPDATE outbox SET processed_at = now() WHERE processed_at IS NULL"))
    await session.execute(
        text("UPDATE deliveries SET status = 'SKIPPED' WHERE status = 'PENDING'"))


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    mail = MailSink(tmp_path / "mail")
    mail.start()
    yield mail
    mail.stop()


@pytest.fixture
async def deps(settings: Settings, sink: MailSink) -> AsyncIterator[Deps]:
    redis = aioredis.from_url(settings.redis_url or "")
    async with httpx.AsyncClient() as http:
        yield Deps(
            settings=settings.model_copy(update={"smtp_url": sink.url}), http=http, redis=redis
        )
    await redis.aclose()


def _incoming(**overrides: object) -> IncomingLead:
    values: dict[str, object] = {
        "type": LeadType.CUSTOMER_INQUIRY,
        "company_name": "Adatum",
        "company_size": "SIZE_10_50",
        "country": "US",
        "contact_name": "Ana Silva",
        "contact_email": "ana@adatum.example",
        "need": "Move to the cloud",
        "contact_requested": True,
    }
    values.update(overrides)
    return IncomingLead(**values)  # type: ignore[arg-type]


async def _deliveries(session: AsyncSession, lead_id: uuid.UUID) -> set[tuple[str, str, str]]:
    rows = await session.execute(
        select(OutboxMessage.topic, Delivery.channel, Delivery.recipient)
        .join(Delivery, Delivery.outbox_id == OutboxMessage.id)
        .where(OutboxMessage.lead_id == lead_id)
    )
    return {tuple(r) for r in rows}  # type: ignore[misc]


async def _deliver_all(session: AsyncSession, deps: Deps, now: datetime) -> dict[str, int]:
    ids = (
        await session.scalars(
            select(Delivery.id).where(Delivery.status == "PENDING").order_by(Delivery.id)
        )
    ).all()
    outcomes: dict[str, int] = {}
    for delivery_id in ids:
        async with session.begin_nested():
            outcome = await deliver(session, delivery_id, deps, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


# --- expiry -----------------------------------------------------------------------------------


async def test_expiry_boundary_one_second_before_and_after(session: AsyncSession) -> None:
    partner = await make_partner(session)
    before = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        received_at=NOW - timedelta(days=14) + timedelta(seconds=1),
    )
    after = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        received_at=NOW - timedelta(days=14) - timedelta(seconds=1),
    )
    assert await expire_overdue(session, now=NOW) >= 1
    await session.refresh(before)
    await session.refresh(after)
    assert (before.stage, before.outcome) == ("RECEIVED", None)
    assert (after.stage, after.outcome, after.version) == ("ARCHIVED", "EXPIRED", 2)
    assert after.archived_at == NOW
    history = (
        await session.scalars(
            select(LeadHistory).where(LeadHistory.lead_id == after.id).order_by(LeadHistory.id)
        )
    ).all()
    assert [(h.action, h.actor_kind, h.from_stage, h.to_stage, h.outcome) for h in history] == [
        ("RECEIVE", "SYSTEM", None, "RECEIVED", None),
        ("EXPIRE", "SYSTEM", "RECEIVED", "ARCHIVED", "EXPIRED"),
    ]
    topics = (
        await session.scalars(select(OutboxMessage.topic).where(OutboxMessage.lead_id == after.id))
    ).all()
    assert sorted(topics) == ["lead.expired", "notify.lead_expired"]
    payload = (
        await session.scalars(
            select(OutboxMessage.payload).where(
                OutboxMessage.lead_id == after.id, OutboxMessage.topic == "lead.expired"
            )
        )
    ).one()
    assert payload["previous"]["stage"] == "RECEIVED" and payload["current"]["stage"] == "ARCHIVED"
    assert payload["current"]["outcome"] == "EXPIRED" and payload["actor"] == {"kind": "SYSTEM"}
    # Swept again: nothing more happens.
    await expire_overdue(session, now=NOW + timedelta(minutes=1))
    assert (
        await session.scalar(
            select(func.count()).select_from(LeadHistory).where(LeadHistory.lead_id == after.id)
        )
    ) == 2


async def test_expiry_leaves_answered_leads_alone(session: AsyncSession) -> None:
    partner = await make_partner(session)
    accepted = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ACCEPTED,
        received_at=NOW - timedelta(days=30),
    )
    await expire_overdue(session, now=NOW)
    await session.refresh(accepted)
    assert accepted.stage == "ACCEPTED"


async def test_two_sweeps_at_once_expire_each_lead_once(
    engine: AsyncEngine, settings: Settings
) -> None:
    now = datetime.now(UTC) + timedelta(days=400)  # far future: only this test's leads are due
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        for i in range(120):
            await make_lead(
                session,
                organisation_id=partner.organisation_id,
                received_at=now - timedelta(days=15, minutes=i),
            )
        org = partner.organisation_id

    async def sweep() -> int:
        total = 0
        while True:
            async with AsyncSession(engine) as session, session.begin():
                count = await expire_overdue(session, now=now, batch=25)
            total += count
            if count == 0:
                return total

    counts = await asyncio.gather(sweep(), sweep(), sweep())
    async with AsyncSession(engine) as session:
        expired = await session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.organisation_id == org, Lead.outcome == "EXPIRED")
        )
        history = await session.scalar(
            select(func.count())
            .select_from(LeadHistory)
            .join(Lead)
            .where(Lead.organisation_id == org, LeadHistory.action == "EXPIRE")
        )
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.organisation_id == org, OutboxMessage.topic == "lead.expired")
        )
    assert expired == history == events == 120
    assert sum(counts) >= 120  # other tests' overdue leads may be swept too


# --- reminders --------------------------------------------------------------------------------


async def test_reminders_are_sent_once_per_threshold(session: AsyncSession) -> None:
    partner = await make_partner(session)
    lead = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        received_at=NOW - timedelta(days=14) + timedelta(hours=50),
    )
    late = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        received_at=NOW - timedelta(days=14) + timedelta(hours=10),
    )

    async def reminders(lead_id: uuid.UUID) -> list[int]:
        return sorted(
            (
                await session.scalars(
                    select(LeadReminder.hours_before).where(LeadReminder.lead_id == lead_id)
                )
            ).all()
        )

    await send_reminders(session, now=NOW, hours=[72, 24])
    await send_reminders(session, now=NOW + timedelta(minutes=1), hours=[72, 24])
    assert await reminders(lead.id) == [72]
    # A lead already inside the last day gets only the last-day reminder.
    assert await reminders(late.id) == [24]
    await send_reminders(session, now=NOW + timedelta(hours=30), hours=[72, 24])
    await send_reminders(session, now=NOW + timedelta(hours=31), hours=[72, 24])
    assert await reminders(lead.id) == [24, 72]
    topics = (
        await session.scalars(
            select(OutboxMessage.topic)
            .where(OutboxMessage.lead_id == lead.id)
            .order_by(OutboxMessage.id)
        )
    ).all()
    assert topics == ["lead.reminder", "notify.reminder"] * 2
    payloads = (
        await session.scalars(
            select(OutboxMessage.payload)
            .where(OutboxMessage.lead_id == lead.id, OutboxMessage.topic == "notify.reminder")
            .order_by(OutboxMessage.id)
        )
    ).all()
    assert [p["hours_left"] for p in payloads] == [50, 20]


async def test_no_reminder_for_answered_or_overdue_leads(session: AsyncSession) -> None:
    partner = await make_partner(session)
    await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ACCEPTED,
        received_at=NOW - timedelta(days=13),
    )
    await make_lead(
        session, organisation_id=partner.organisation_id, received_at=NOW - timedelta(days=15)
    )
    sent = await send_reminders(session, now=NOW, hours=[72, 24])
    count = await session.scalar(
        select(func.count())
        .select_from(LeadReminder)
        .join(Lead)
        .where(Lead.organisation_id == partner.organisation_id)
    )
    assert count == 0 and sent >= 0


# --- fan-out ----------------------------------------------------------------------------------


async def test_new_lead_alerts_the_partner_team_honouring_opt_outs(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    actor = await load_actor(session, world.contoso.partner_admin)
    endpoint, _ = await webhooks.create_endpoint(  # type: ignore[misc]
        session, actor, url="http://127.0.0.1:9/hooks", events=["lead.received"], settings=settings
    )
    other, _ = await webhooks.create_endpoint(  # type: ignore[misc]
        session, actor, url="http://127.0.0.1:9/other", events=["lead.won"], settings=settings
    )
    lead = await receive_lead(
        session, world.contoso.organisation_id, _incoming(), now=NOW, settings=settings
    )
    await fan_out(session, now=NOW)
    assert await _deliveries(session, lead.id) == {
        ("lead.received", "WEBHOOK", str(endpoint.id)),
        ("lead.received", "LIVE", str(world.contoso.organisation_id)),
        # leads@ receives alerts; old-desk@ opted out.
        ("notify.new_lead", "EMAIL", "leads@contoso.example"),
        ("notify.new_lead", "IN_APP", str(world.contoso.partner_admin)),
        ("notify.new_lead", "IN_APP", str(world.contoso.referrals_admin)),
    }
    assert str(other.id) not in {r for *_, r in await _deliveries(session, lead.id)}
    # Fanning out again creates nothing new.
    await fan_out(session, now=NOW)
    assert len(await _deliveries(session, lead.id)) == 5


async def test_expiry_notifies_the_sender_and_decline_the_customer(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    sent = await receive_lead(
        session,
        world.fabrikam.organisation_id,
        _incoming(
            type=LeadType.SALES_QUALIFIED,
            sender_user_id=world.seller,
            sender_organisation_id=(await load_actor(session, world.seller)).organisation_id,
        ),  # type: ignore[union-attr]
        now=NOW - timedelta(days=15),
        settings=settings,
    )
    await expire_overdue(session, now=NOW)
    await fan_out(session, now=NOW)
    notified = {
        (c, r) for t, c, r in await _deliveries(session, sent.id) if t == "notify.lead_expired"
    }
    assert notified == {("EMAIL", "seller@platform.example"), ("IN_APP", str(world.seller))}

    referred = await receive_lead(
        session,
        world.fabrikam.organisation_id,
        _incoming(
            type=LeadType.SALES_QUALIFIED, sender_organisation_id=world.northwind.organisation_id
        ),
        now=NOW - timedelta(days=15),
        settings=settings,
    )
    await expire_overdue(session, now=NOW)
    await fan_out(session, now=NOW)
    notified = {
        (c, r) for t, c, r in await _deliveries(session, referred.id) if t == "notify.lead_expired"
    }
    assert notified == {
        ("EMAIL", "admin@northwind.example"),
        ("IN_APP", str(world.northwind.partner_admin)),
    }


# --- delivery ---------------------------------------------------------------------------------


async def test_urgent_alert_email_and_in_app_notification(
    session: AsyncSession, world: World, settings: Settings, deps: Deps, sink: MailSink
) -> None:
    lead = await receive_lead(
        session, world.contoso.organisation_id, _incoming(), now=NOW, settings=settings
    )
    await fan_out(session, now=NOW)
    outcomes = await _deliver_all(session, deps, NOW)
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
    again = await _deliver_all(session, deps, NOW + timedelta(seconds=1))
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
        session, world.contoso.organisation_id, _incoming(), now=NOW, settings=settings
    )
    # Written to the outbox but not yet fanned out: nothing is published.
    assert await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3) is None
    await fan_out(session, now=NOW)
    await _deliver_all(session, deps, NOW)
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=3)
    assert message is not None
    event = json.loads(message["data"])
    assert event["type"] == "lead.received" and event["lead_id"] == str(lead.id)
    await pubsub.aclose()
    await client.aclose()


async def test_signed_webhook_reaches_a_real_receiver(
    session: AsyncSession, world: World, settings: Settings, deps: Deps
) -> None:
    receiver = WebhookReceiver()
    url = receiver.start()
    try:
        actor = await load_actor(session, world.contoso.partner_admin)
        _endpoint, secret = await webhooks.create_endpoint(  # type: ignore[misc]
            session, actor, url=url, events=["lead.received"], settings=settings
        )
        receiver.secret = secret
        lead = await receive_lead(
            session, world.contoso.organisation_id, _incoming(), now=NOW, settings=settings
        )
        await fan_out(session, now=NOW)
        await _deliver_all(session, deps, NOW)
        (got,) = [r for r in receiver.received if r.payload.get("lead_id") == str(lead.id)]
        assert got.verified and got.event_type == "lead.received"
        assert got.payload["current"]["stage"] == "RECEIVED" and got.payload["previous"] is None
        assert got.webhook_id == got.payload["event_id"]
    finally:
        receiver.stop()


async def test_failing_webhook_is_retried_with_backoff_then_disabled(
    session: AsyncSession, world: World, settings: Settings, deps: Deps
) -> None:
    receiver = WebhookReceiver(status=500)
    url = receiver.start()
    try:
        actor = await load_actor(session, world.contoso.partner_admin)
        endpoint, _secret = await webhooks.create_endpoint(  # type: ignore[misc]
            session, actor, url=url, events=["lead.received"], settings=settings
        )
        lead = await receive_lead(
            session, world.contoso.organisation_id, _incoming(), now=NOW, settings=settings
        )
        await fan_out(session, now=NOW)
        hook = (
            await session.scalars(
                select(Delivery).where(
                    Delivery.channel == "WEBHOOK", Delivery.recipient == str(endpoint.id)
                )
            )
        ).one()
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
        told = (
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.topic == "notify.webhook_disabled",
                    OutboxMessage.organisation_id == world.contoso.organisation_id,
                )
            )
        ).all()
        assert len(told) == 1 and told[0].payload["webhook_url"] == url
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
        assert lead.id
    finally:
        receiver.stop()


async def test_declined_customer_gets_a_polite_notice(
    session: AsyncSession,
    world: World,
    settings: Settings,
    deps: Deps,
    sink: MailSink,
    gql: object,
) -> None:
    from tests.conftest import GraphQLClient

    client = gql.as_user(world.contoso.referrals_admin)  # type: ignore[attr-defined]
    assert isinstance(client, GraphQLClient)
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
    outcomes = await _deliver_all(session, deps, NOW)
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


async def test_unknown_endpoint_or_deleted_endpoint_is_skipped(
    session: AsyncSession, world: World, settings: Settings, deps: Deps
) -> None:
    actor = await load_actor(session, world.contoso.partner_admin)
    endpoint, _ = await webhooks.create_endpoint(  # type: ignore[misc]
        session, actor, url="http://127.0.0.1:9/x", events=["lead.received"], settings=settings
    )
    await receive_lead(
        session, world.contoso.organisation_id, _incoming(), now=NOW, settings=settings
    )
    await fan_out(session, now=NOW)
    endpoint.active = False  # deactivated after the event was fanned out
    await session.flush()
    hook = (
        await session.scalars(select(Delivery).where(Delivery.recipient == str(endpoint.id)))
    ).one()
    async with session.begin_nested():
        assert await deliver(session, hook.id, deps, now=NOW) == "skipped"


async def test_answering_a_lead_queues_one_debounced_score_recompute(
    gql: object, session: AsyncSession, world: World, settings: Settings
) -> None:
    from tests.conftest import GraphQLClient

    assert isinstance(gql, GraphQLClient)
    profile_id = (await session.scalar(select(Lead.profile_id).where(
        Lead.organisation_id == world.northwind.organisation_id, Lead.profile_id.is_not(None))))
    redis = aioredis.from_url(settings.redis_url or "")
    await redis.delete(f"arq:job:score:{profile_id}")
    client = gql.as_user(world.northwind.referrals_admin)
    for _ in range(3):
        lead = await make_lead(session, organisation_id=world.northwind.organisation_id,
                               profile_id=profile_id)
        body = await client("mutation($id: ID!) { declineLead(input: {id: $id, reason: SPAM}) "
                            "{ errors { code } } }", {"id": str(lead.id)})
        assert body["data"]["declineLead"]["errors"] == []
    # Three answers, one queued job for the profile, deferred so the burst collapses.
    assert await redis.exists(f"arq:job:score:{profile_id}") == 1
    queued = await redis.zscore("arq:queue", f"score:{profile_id}")
    assert queued is not None and queued > datetime.now(UTC).timestamp() * 1000
    await redis.delete(f"arq:job:score:{profile_id}")
    await redis.zrem("arq:queue", f"score:{profile_id}")
    await redis.aclose()
