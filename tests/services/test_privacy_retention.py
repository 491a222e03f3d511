"""The retention sweep (issue 11, section 4): archived leads past PII_RETENTION_DAYS lose the
customer's personal data and the free text that may hold it, in batches, once, with a REDACT
entry in their history, and the pipeline answers exactly as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import models
from app.domain.lifecycle import LeadStage
from app.services import pipeline as pipeline_service
from app.services.auth import load_actor
from app.services.privacy import redact_due
from tests.factories import WorldPartner, history_entry, make_lead, make_partner
from workers.privacy import redact_retained

# Long before the test world's own leads, so that only this test's leads are due.
NOW = datetime(2020, 6, 1, tzinfo=UTC)
SECRET = "call Ana Silva on +1 555 0100"


async def _archived(
    session: AsyncSession,
    partner: WorldPartner,
    outcome: str,
    days_ago: int,
    **fields: Any,
) -> models.Lead:
    archived_at = NOW - timedelta(days=days_ago)
    received = archived_at - timedelta(days=10)
    values: dict[str, Any] = {"outcome": outcome, "archived_at": archived_at}
    if outcome in ("WON", "LOST"):
        values.update(
            deal_name="Adatum migration",
            estimated_value_amount=Decimal("50000"),
            estimated_value_currency="USD",
            responded_at=received + timedelta(hours=5),
            notes=SECRET,
        )
    if outcome == "DECLINED":
        values.update(decline_reason="OTHER", decline_notes=SECRET, responded_at=received)
    values.update(fields)
    return await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ARCHIVED,
        received_at=received,
        contact_phone="+1 555 0100",
        **values,
    )


async def _pipeline(session: AsyncSession, partner: WorldPartner) -> Any:
    actor = await load_actor(session, partner.referrals_admin)
    figures = pipeline_service.pipeline(
        session,
        actor,
        pipeline_service.PipelineFilter(
            received_from=NOW - timedelta(days=700), received_to=NOW + timedelta(days=1)
        ),
        [pipeline_service.PipelineGrouping.MONTH, pipeline_service.PipelineGrouping.TYPE],
        now=NOW,
    )
    return await figures


async def test_archived_leads_past_retention_are_redacted_once_and_the_pipeline_stays(
    session: AsyncSession,
    worker_sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    partner = await make_partner(session)
    won = await _archived(
        session,
        partner,
        "WON",
        400,
        final_value_amount=Decimal("48000"),
        final_value_currency="USD",
        closing_date=(NOW - timedelta(days=400)).date(),
    )
    declined = await _archived(session, partner, "DECLINED", 380)
    expired = await _archived(session, partner, "EXPIRED", 366)
    recent = await _archived(session, partner, "LOST", 100, lost_reason="PRICE", lost_notes=SECRET)
    open_lead = await make_lead(
        session, organisation_id=partner.organisation_id, received_at=NOW - timedelta(days=500)
    )
    session.add(
        history_entry(
            won,
            "UPDATE",
            "ACCEPTED",
            "ACCEPTED",
            at=NOW - timedelta(days=405),
            changes={
                "notes": {"from": None, "to": SECRET},
                "dealName": {"from": "Deal", "to": "Adatum migration"},
            },
        )
    )
    session.add(
        models.Notification(
            user_id=partner.referrals_admin,
            lead_id=declined.id,
            kind="URGENT_CONTACT",
            title="Urgent: Adatum asked to be contacted directly",
            body=f"Reach out to Ana Silva (ana@adatum.example, {SECRET})",
        )
    )
    session.add(
        models.OutboxMessage(
            topic="lead.declined",
            lead_id=declined.id,
            organisation_id=partner.organisation_id,
            payload={
                "lead": {"customer": {"contactName": "Ana Silva", "country": "US"}},
                "changes": {"declineNotes": {"from": None, "to": SECRET}},
                "recipient": {"name": "Ana Silva", "email": "ana@adatum.example"},
            },
        )
    )
    # What was said on a call, in the append-only log and in its webhook event.
    session.add(
        models.LeadActivity(
            lead_id=won.id,
            organisation_id=partner.organisation_id,
            author_user_id=partner.referrals_admin,
            kind="CALL",
            body=SECRET,
            occurred_at=NOW - timedelta(days=420),
        )
    )
    session.add(
        models.OutboxMessage(
            topic="lead.activity_added",
            lead_id=won.id,
            organisation_id=partner.organisation_id,
            payload={"activity": {"kind": "CALL", "body": SECRET}},
        )
    )
    await session.flush()
    before = await _pipeline(session, partner)
    versions = {lead.id: lead.version for lead in (won, declined, expired)}

    # Batches of two, as the worker's role: two, then the last one, then nothing.
    counts = []
    for _ in range(3):
        async with worker_sessionmaker() as worker:
            counts.append(await redact_due(worker, now=NOW, settings=settings, batch=2))
            await worker.commit()
    assert counts == [2, 1, 0]

    session.expire_all()
    for lead in (won, declined, expired):
        await session.refresh(lead)
        assert (lead.contact_name, lead.contact_email, lead.contact_phone, lead.need) == (
            "",
            "",
            None,
            "",
        )
        assert (lead.notes, lead.decline_notes, lead.lost_notes) == (None, None, None)
        assert lead.pii_redacted_at == NOW and lead.version == versions[lead.id] + 1
        assert not lead.consent_to_share
        (entry,) = (
            await session.scalars(
                select(models.LeadHistory).where(
                    models.LeadHistory.lead_id == lead.id, models.LeadHistory.action == "REDACT"
                )
            )
        ).all()
        assert (entry.actor_kind, entry.from_stage, entry.to_stage, entry.outcome) == (
            "SYSTEM",
            "ARCHIVED",
            "ARCHIVED",
            lead.outcome,
        )
        assert entry.changes["reason"] == "retention" and entry.version == lead.version
    # What the pipeline counts is intact.
    assert (won.final_value_amount, won.estimated_value_amount, won.deal_name) == (
        Decimal("48000"),
        Decimal("50000"),
        "Adatum migration",
    )
    assert (won.company_name, won.country, won.industry) == ("Adatum Corp", "US", "Retail")
    assert await _pipeline(session, partner) == before

    # The history keeps that the notes changed, not what they said.
    update = await session.scalar(
        select(models.LeadHistory).where(
            models.LeadHistory.lead_id == won.id, models.LeadHistory.action == "UPDATE"
        )
    )
    assert update is not None
    assert update.changes == {
        "notes": {"from": None, "to": None},
        "dealName": {"from": "Deal", "to": "Adatum migration"},
    }
    notification = await session.scalar(
        select(models.Notification).where(models.Notification.lead_id == declined.id)
    )
    assert notification is not None and SECRET not in notification.body
    assert "Ana" not in notification.body
    outbox = await session.scalar(
        select(models.OutboxMessage).where(models.OutboxMessage.lead_id == declined.id)
    )
    assert outbox is not None
    assert outbox.payload == {
        "lead": {"customer": {"contactName": None, "country": "US"}},
        "changes": {"declineNotes": {"from": None, "to": None}},
        "recipient": None,
    }
    activity = await session.scalar(
        select(models.LeadActivity).where(models.LeadActivity.lead_id == won.id)
    )
    assert activity is not None and activity.kind == "CALL"
    assert SECRET not in activity.body and "Ana" not in activity.body
    event = await session.scalar(
        select(models.OutboxMessage).where(
            models.OutboxMessage.lead_id == won.id,
            models.OutboxMessage.topic == "lead.activity_added",
        )
    )
    assert event is not None and event.payload == {"activity": {"kind": "CALL", "body": None}}

    # Untouched: archived within the retention period, and open leads whatever their age.
    for lead in (recent, open_lead):
        await session.refresh(lead)
        assert lead.pii_redacted_at is None and lead.contact_email == "ana@adatum.example"
    assert recent.lost_notes == SECRET

    # At-least-once: a second run finds nothing and writes nothing.
    async with worker_sessionmaker() as worker:
        assert await redact_due(worker, now=NOW + timedelta(days=1), settings=settings) == 0
    redactions = await session.scalars(
        select(models.LeadHistory.id).where(
            models.LeadHistory.action == "REDACT",
            models.LeadHistory.lead_id.in_([won.id, declined.id, expired.id]),
        )
    )
    assert len(redactions.all()) == 3


async def test_the_retention_period_is_a_setting(
    session: AsyncSession,
    worker_sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    partner = await make_partner(session)
    lead = await _archived(session, partner, "EXPIRED", 40)
    shorter = settings.model_copy(update={"pii_retention_days": 30})
    async with worker_sessionmaker() as worker:
        assert await redact_due(worker, now=NOW, settings=settings) == 0
        assert await redact_due(worker, now=NOW, settings=shorter) == 1
        await worker.commit()
    await session.refresh(lead)
    assert lead.contact_email == "" and lead.pii_redacted_at == NOW


async def test_the_worker_job_drains_what_is_due(
    session: AsyncSession,
    worker_sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    """privacy.redact_retained as arq runs it (its own transactions, the worker's role, now)."""
    partner = await make_partner(session)
    archived_at = datetime.now(UTC) - timedelta(days=settings.pii_retention_days + 1)
    lead = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ARCHIVED,
        outcome="EXPIRED",
        received_at=archived_at - timedelta(days=14),
        archived_at=archived_at,
    )
    ctx = {"sessionmaker": worker_sessionmaker, "jobs": None, "settings": settings}
    assert await redact_retained(ctx) >= 1
    assert await redact_retained(ctx) == 0
    await session.refresh(lead)
    assert lead.contact_email == "" and lead.pii_redacted_at is not None
