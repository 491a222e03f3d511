"""R13 under faults, with real processes: Redis stopped, a worker killed with -9, Postgres
restarted — each while hundreds of events are in flight. Afterwards every event has reached
every recipient exactly once, counted at the SMTP sink and at the webhook receiver by the ids
receivers deduplicate on (Message-ID, webhook-id)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Delivery, Lead, Notification, User
from app.domain.events import Channel
from app.domain.lifecycle import LeadType
from app.domain.reference import DeclineReason
from app.jobs import JOB_REROUTE
from app.services.auth import load_actor
from app.services.leads import decline_lead
from app.services.receive import IncomingLead, receive_lead
from app.services.sweeps import expire_overdue
from tests.factories import incoming_lead
from tests.stack import IsolatedStack, utcnow
from tests.waiting import eventually
from workers.outbox import CONCURRENCY

LEADS_PER_FAULT = 60  # 4 outbox events each: 240 events per fault, ~500 deliveries
# Latency is measured below saturation: 5 declined leads a second, 8 deliveries each.
LATENCY_LEADS, LATENCY_PACE = 50, 0.2


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[IsolatedStack]:
    isolated = IsolatedStack(Path(tmp_path_factory.mktemp("faults")))
    try:
        yield await isolated.start()
    finally:
        await isolated.stop()


@pytest.fixture
async def supervised(stack: IsolatedStack) -> AsyncIterator[IsolatedStack]:
    """A supervised worker, already polling for jobs when the test starts."""
    await stack.forget_worker_health()
    stop = asyncio.Event()
    task = asyncio.ensure_future(stack.supervise(stop))
    try:
        await stack.wait_worker_polling()
        yield stack
    finally:
        stop.set()
        await task
        stack.kill_workers(signal.SIGTERM)


async def _deliveries_under_way(stack: IsolatedStack) -> None:
    """A fault's worth of events committed and relayed, returning once their deliveries have
    started going out with plenty still to send."""
    sent_before = await stack.sent()
    await _events(stack, LEADS_PER_FAULT)
    assert await stack.enqueue_relay()

    async def under_way() -> bool:
        return await stack.sent() - sent_before > 20 and await stack.pending() > 100

    await eventually(under_way, timeout=60, poll=0.02, describe="deliveries never got under way")


def _sent_by(seller: User, **fields: Any) -> IncomingLead:
    """A sales-qualified lead `seller` sent, not asking for direct contact."""
    return incoming_lead(
        type=LeadType.SALES_QUALIFIED,
        contact_requested=False,
        sender_user_id=seller.id,
        sender_organisation_id=seller.organisation_id,
        **fields,
    )


async def _events(stack: IsolatedStack, leads: int) -> None:
    """Half the leads declined by contoso's admin, half sent by a seller and expired."""
    now = utcnow()
    async with AsyncSession(stack.engine) as session, session.begin():
        contoso = stack.partners["contoso"].organisation_id
        admin = await session.scalar(
            select(User.id).where(User.email == "referrals@contoso.example")
        )
        seller = await session.scalar(select(User).where(User.email == "seller@platform.example"))
        assert admin and seller
        actor = await load_actor(session, admin)
        for i in range(leads // 2):
            customer = incoming_lead(
                company_name=f"Declined {i}",
                contact_name=f"Customer {i}",
                contact_email=f"customer{i}-{now.timestamp():.0f}@example.com",
                contact_requested=False,
            )
            lead = await receive_lead(session, contoso, customer, now=now, settings=stack.settings)
            declined = await decline_lead(
                session, actor, str(lead.id), DeclineReason.NO_CAPACITY, None, now=now
            )
            assert isinstance(declined, Lead), declined
        for i in range(leads - leads // 2):
            sent = _sent_by(
                seller, company_name=f"Expired {i}", contact_email=f"buyer{i}@example.com"
            )
            overdue = now - timedelta(days=15)
            await receive_lead(session, contoso, sent, now=overdue, settings=stack.settings)
    async with AsyncSession(stack.engine) as session, session.begin():
        while await expire_overdue(session, now=now):
            pass


def _raw_duplicates(stack: IsolatedStack) -> int:
    """Copies beyond the first, at the sink and the receiver, since the module started."""
    _, raw_mail = stack.mail_received()
    return sum(n - 1 for n in raw_mail.values()) + sum(
        n - 1 for n in stack.receiver.counts().values()
    )


@pytest.fixture
def duplicates_before(stack: IsolatedStack) -> int:
    """Each test answers for its own duplicates, not for an earlier fault's."""
    return _raw_duplicates(stack)


async def _assert_exactly_once(
    stack: IsolatedStack, *, baseline: int, max_raw_duplicates: int = 0
) -> None:
    await stack.wait_delivered(timeout=180)
    expected_mail = await stack.expected(Channel.EMAIL)
    assert expected_mail and set(expected_mail.values()) == {1}
    received_mail, _ = stack.mail_received()
    assert received_mail == expected_mail  # every (event, recipient) once, none missing
    expected_hooks = await stack.expected(Channel.WEBHOOK)
    received_hooks = stack.receiver.counts()
    assert set(received_hooks) == {event for event, _ in expected_hooks}
    assert all(r.verified for r in stack.receiver.received)
    duplicates = _raw_duplicates(stack) - baseline
    assert duplicates <= max_raw_duplicates, f"{duplicates} raw duplicate deliveries"
    async with AsyncSession(stack.engine) as session:
        in_app = await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.channel == Channel.IN_APP)
        )
        notifications = await session.scalar(select(func.count()).select_from(Notification))
    assert in_app == notifications


async def test_redis_down_while_leads_are_declined_and_expired(
    supervised: IsolatedStack, duplicates_before: int
) -> None:
    stack = supervised
    polling = stack.alive_workers()
    stack.stop_redis()
    await _events(stack, LEADS_PER_FAULT)
    assert await stack.enqueue_relay() is False  # the fast path is gone while Redis is down

    async def worker_lost_redis() -> bool:
        return all(worker.poll() is not None for worker in polling)

    # The worker that was polling gives up without Redis; nothing could deliver meanwhile.
    await eventually(worker_lost_redis, timeout=60, describe="the worker outlived Redis")
    assert await stack.pending() > 0
    stack.start_redis()
    await _assert_exactly_once(stack, baseline=duplicates_before)


async def test_worker_killed_mid_delivery(
    supervised: IsolatedStack, duplicates_before: int
) -> None:
    stack = supervised
    # Kill -9 once deliveries are under way but far from done.
    await _deliveries_under_way(stack)
    killed = len(stack.alive_workers())
    stack.kill_workers(signal.SIGKILL)
    assert killed >= 1
    # A send the kill interrupted between the remote's "accepted" and our commit is sent again
    # (same Message-ID / webhook-id, which receivers deduplicate on): at most one per slot.
    await _assert_exactly_once(
        stack, baseline=duplicates_before, max_raw_duplicates=CONCURRENCY * killed
    )


async def test_postgres_restarted_while_delivering(
    supervised: IsolatedStack, duplicates_before: int
) -> None:
    stack = supervised
    await _deliveries_under_way(stack)
    stack.restart_postgres()
    await stack.engine.dispose()  # our own pool's connections died with the server
    await _assert_exactly_once(stack, baseline=duplicates_before, max_raw_duplicates=CONCURRENCY)


async def test_delivery_latency_commit_to_webhook(
    supervised: IsolatedStack, duplicates_before: int
) -> None:
    """The fast path as the API uses it: commit, enqueue a relay, the worker posts. Prints the
    latency from the event's commit to its arrival at the receiver (closing notes, not an
    assertion: speed is measured, not asserted)."""
    stack = supervised
    before = len(stack.receiver.received)
    async with AsyncSession(stack.engine) as session:
        admin = await session.scalar(
            select(User.id).where(User.email == "referrals@contoso.example")
        )
        actor = await load_actor(session, admin)  # type: ignore[arg-type]
    contoso = stack.partners["contoso"].organisation_id
    declined: set[str] = set()
    for i in range(LATENCY_LEADS):
        now = utcnow()
        async with AsyncSession(stack.engine) as session, session.begin():
            customer = incoming_lead(
                company_name=f"Latency {i}",
                contact_email=f"latency{i}@example.com",
                contact_requested=False,
            )
            lead = await receive_lead(session, contoso, customer, now=now, settings=stack.settings)
            await decline_lead(session, actor, str(lead.id), DeclineReason.SPAM, None, now=utcnow())
            declined.add(str(lead.id))
        await stack.enqueue_relay()
        # Pacing, not waiting: it spaces the load so latency is measured below saturation.
        await asyncio.sleep(LATENCY_PACE)
    await _assert_exactly_once(stack, baseline=duplicates_before)
    latencies = sorted(
        r.at - datetime.fromisoformat(r.payload["occurredAt"]).timestamp()
        for r in stack.receiver.received[before:]
        if r.event_type == "lead.declined" and r.payload.get("leadId") in declined
    )
    assert len(latencies) == LATENCY_LEADS
    median, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99) - 1]
    report = f"commit -> webhook received: median {median * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
    (stack.root.parent / "delivery-latency.txt").write_text(report + "\n")
    print(report)


async def test_reroute_is_decided_by_the_worker_once(
    supervised: IsolatedStack, duplicates_before: int
) -> None:
    """Return to pool in a real worker: a declined autoReroute lead is offered onward once,
    even when the job is queued twice."""
    stack = supervised
    async with AsyncSession(stack.engine) as session, session.begin():
        seller = await session.scalar(select(User).where(User.email == "seller@platform.example"))
        admin = await session.scalar(
            select(User.id).where(User.email == "referrals@contoso.example")
        )
        assert seller and admin
        lead = await receive_lead(
            session,
            stack.partners["contoso"].organisation_id,
            _sent_by(
                seller,
                company_size="SIZE_251_1000",
                contact_email="rita@reroute.example",
                need="analytics and AI for retail",
                industry="Retail",
                auto_reroute=True,
                consent_to_share=True,
            ),
            now=utcnow(),
            settings=stack.settings,
        )
        declined = await decline_lead(
            session,
            await load_actor(session, admin),
            str(lead.id),
            DeclineReason.NO_CAPACITY,
            None,
            now=utcnow(),
        )
        assert isinstance(declined, Lead), declined
        lead_id = lead.id
    async with stack.redis() as redis:
        jobs = [await redis.enqueue_job(JOB_REROUTE) for _ in range(2)]
        # Each job's kept result says how many leads it decided: both ran, and between them
        # (and any cron run meanwhile) the lead was decided once.
        decided = [await job.result(timeout=60) for job in jobs if job is not None]
    assert len(decided) == 2 and all(isinstance(n, int) for n in decided), decided
    assert sum(decided) <= 1, decided
    async with AsyncSession(stack.engine) as session:
        offered = list(
            (await session.scalars(select(Lead).where(Lead.rerouted_from == lead_id))).all()
        )
    assert len(offered) == 1
    assert offered[0].organisation_id != stack.partners["contoso"].organisation_id
    assert offered[0].auto_reroute and offered[0].reroute_hop == 1
    await _assert_exactly_once(stack, baseline=duplicates_before)
