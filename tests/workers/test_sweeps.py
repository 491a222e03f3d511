"""The sweeps, in-process on real Postgres: leads nobody answered expire once, even when sweeps
run at once; reminders go out once per threshold while a lead waits for an answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db.models import Lead, LeadHistory, LeadReminder, OutboxMessage
from app.db.session import create_sessionmaker
from app.domain.lifecycle import LeadStage
from app.services.sweeps import expire_batch, expire_overdue, send_reminders
from tests.factories import make_lead, make_partner
from tests.intake_inputs import outbox_topics
from tests.workers.outbox_support import NOW
from workers import sweeps

pytestmark = pytest.mark.usefixtures("only_this_tests_events")

RESPONSE_TIME = timedelta(days=14)  # how long a partner has to answer a lead


async def leads_received(session: AsyncSession, *ages: timedelta) -> list[Lead]:
    """Open leads of a new partner, each received `age` before NOW."""
    partner = await make_partner(session)
    return [
        await make_lead(session, organisation_id=partner.organisation_id, received_at=NOW - age)
        for age in ages
    ]


# --- expiry -----------------------------------------------------------------------------------


async def test_expiry_boundary_one_second_before_and_after(session: AsyncSession) -> None:
    second = timedelta(seconds=1)
    before, after = await leads_received(session, RESPONSE_TIME - second, RESPONSE_TIME + second)
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


async def test_a_sweeps_batches_go_on_from_the_last_deadline(session: AsyncSession) -> None:
    # Received long before anything else in the database: these are the oldest deadlines.
    long_ago = timedelta(days=3000)
    leads = await leads_received(session, *(long_ago + timedelta(hours=h) for h in range(5)))
    oldest_first = sorted(leads, key=lambda lead: lead.respond_by)
    first = await expire_batch(session, now=NOW, batch=2)
    assert (first.count, first.last_deadline) == (2, oldest_first[1].respond_by)
    # A lead the first batch could not see (its transaction had not committed) is behind the
    # sweep: the batches that follow go on from their deadline; the next sweep takes it.
    (straggler,) = await leads_received(session, long_ago + timedelta(hours=10))
    second = await expire_batch(session, now=NOW, batch=2, after=first.last_deadline)
    assert (second.count, second.last_deadline) == (2, oldest_first[3].respond_by)
    await session.refresh(straggler)
    assert straggler.stage == "RECEIVED"
    assert (await expire_batch(session, now=NOW, batch=2)).count == 2
    for lead in [*leads, straggler]:
        await session.refresh(lead)
    assert {lead.outcome for lead in [*leads, straggler]} == {"EXPIRED"}


async def test_the_expiry_job_expires_every_overdue_lead_once_on_all_lanes(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        for i in range(30):
            await make_lead(
                session,
                organisation_id=partner.organisation_id,
                received_at=datetime.now(UTC) - timedelta(days=15, minutes=i),
            )
    assert sweeps.EXPIRE_LANES > 1
    expired = await sweeps.expire({"sessionmaker": create_sessionmaker(engine), "jobs": None})
    assert expired >= 30  # other tests' overdue leads may be swept too
    async with AsyncSession(engine) as session:
        steps = await session.execute(
            select(Lead.outcome, func.count(LeadHistory.id))
            .join(LeadHistory, (LeadHistory.lead_id == Lead.id) & (LeadHistory.action == "EXPIRE"))
            .where(Lead.organisation_id == partner.organisation_id)
            .group_by(Lead.id)
        )
        assert sorted(tuple(row) for row in steps) == [("EXPIRED", 1)] * 30


# --- reminders --------------------------------------------------------------------------------


async def test_reminders_are_sent_once_per_threshold(session: AsyncSession) -> None:
    hours_left = (timedelta(hours=50), timedelta(hours=10))
    lead, late = await leads_received(session, *(RESPONSE_TIME - left for left in hours_left))

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
    assert await outbox_topics(session, lead.id) == ["lead.reminder", "notify.reminder"] * 2
    payloads = (
        await session.scalars(
            select(OutboxMessage.payload)
            .where(OutboxMessage.lead_id == lead.id, OutboxMessage.topic == "notify.reminder")
            .order_by(OutboxMessage.id)
        )
    ).all()
    assert [p["hoursLeft"] for p in payloads] == [50, 20]


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


async def test_the_last_hour_reminder_goes_out_once_by_default(session: AsyncSession) -> None:
    """Issue 11's response clock: 72, 24 and 1 hours before the deadline by default; the last
    one comes once, however often the sweep runs in that hour."""
    hours = Settings().reminder_hours
    assert hours == [72, 24, 1]
    (lead,) = await leads_received(session, RESPONSE_TIME - timedelta(hours=30))

    async def reminded() -> list[int]:
        found = await session.scalars(
            select(LeadReminder.hours_before).where(LeadReminder.lead_id == lead.id)
        )
        return sorted(found.all())

    await send_reminders(session, now=NOW, hours=hours)  # 30 h left: the 72-hour one
    await send_reminders(session, now=NOW + timedelta(hours=7), hours=hours)  # 23 h left
    assert await reminded() == [24, 72]
    await send_reminders(session, now=NOW + timedelta(hours=28, minutes=30), hours=hours)
    assert await reminded() == [24, 72], "not yet: 90 minutes left"
    for minutes in (45, 50, 59):  # 75, 70 and 61 minutes left
        await send_reminders(session, now=NOW + timedelta(hours=28, minutes=minutes), hours=hours)
    assert await reminded() == [24, 72]
    for minutes in (1, 20, 59):  # 59, 40 and 1 minute left: one reminder
        await send_reminders(session, now=NOW + timedelta(hours=29, minutes=minutes), hours=hours)
    assert await reminded() == [1, 24, 72]
    payloads = (
        await session.scalars(
            select(OutboxMessage.payload)
            .where(OutboxMessage.lead_id == lead.id, OutboxMessage.topic == "notify.reminder")
            .order_by(OutboxMessage.id)
        )
    ).all()
    assert [(p["reminderHours"], p["hoursLeft"]) for p in payloads] == [(72, 30), (24, 23), (1, 1)]
    # Past the deadline nothing more comes.
    await send_reminders(session, now=NOW + timedelta(hours=30, minutes=1), hours=hours)
    assert await outbox_topics(session, lead.id) == ["lead.reminder", "notify.reminder"] * 3
