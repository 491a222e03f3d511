"""Leads arriving: the system's RECEIVE step, with its history and outbox rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile, Lead
from app.domain.alerts import respond_by
from app.domain.lifecycle import ActorKind, LeadAction, LeadStage, LeadType, Transition, transition
from app.services.leads import record_step


@dataclass(frozen=True, slots=True)
class IncomingLead:
    type: LeadType
    company_name: str
    company_size: str
    country: str
    contact_name: str
    contact_email: str
    need: str
    industry: str | None = None
    contact_phone: str | None = None
    contact_requested: bool = False
    consent_to_contact: bool = True
    campaign_id: str | None = None
    sender_user_id: uuid.UUID | None = None
    sender_organisation_id: uuid.UUID | None = None


async def receive_lead(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    incoming: IncomingLead,
    *,
    now: datetime,
    settings: Settings,
) -> Lead:
    """Create a RECEIVED lead for a partner. Validation of what customers and senders type is
    intake's job (issue 4); this is the step every source shares."""
    step = transition(None, LeadAction.RECEIVE, actor=ActorKind.SYSTEM)
    assert isinstance(step, Transition)
    profile_id = await session.scalar(
        select(BusinessProfile.id).where(BusinessProfile.organisation_id == organisation_id)
    )
    lead = Lead(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        profile_id=profile_id,
        type=incoming.type.value,
        stage=LeadStage.RECEIVED.value,
        company_name=incoming.company_name,
        company_size=incoming.company_size,
        industry=incoming.industry,
        country=incoming.country,
        contact_name=incoming.contact_name,
        contact_email=incoming.contact_email,
        contact_phone=incoming.contact_phone,
        need=incoming.need,
        contact_requested=incoming.contact_requested,
        consent_to_contact=incoming.consent_to_contact,
        campaign_id=incoming.campaign_id,
        sender_user_id=incoming.sender_user_id,
        sender_organisation_id=incoming.sender_organisation_id,
        received_at=now,
        respond_by=respond_by(now, settings.lead_response_days),
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    await session.flush()
    await record_step(session, lead, step, None, now, {}, None)
    return lead
