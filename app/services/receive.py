"""The RECEIVE step every lead goes through, whatever its source (an inquiry, a qualified lead,
a referral, a reroute, demo seeding): a RECEIVED lead for a partner, flagged as a possible
duplicate of the partner's recent lead for the same customer, grouped into the customer's
engagement, with its history row and outbox rows, then given the owner the partner's routing
rules pick, if any (app/services/routing.py). Flushes, never commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Uuid, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile, Lead
from app.domain.alerts import respond_by
from app.domain.lifecycle import ActorKind, LeadAction, LeadStage, LeadType, Transition, transition
from app.services.history import record_step
from app.services.routing import route_arrival

# How far back a lead counts as the same customer (duplicates, engagements).
DUPLICATE_WINDOW = timedelta(days=30)
# Candidates read per incoming lead when looking for a duplicate (same partner, same domain).
DUPLICATE_CANDIDATES = 200


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
    consent_to_share: bool = False
    campaign_id: str | None = None
    sender_user_id: uuid.UUID | None = None
    sender_organisation_id: uuid.UUID | None = None
    solution_area: str | None = None
    auto_reroute: bool = False
    # Set by whoever continues an engagement (a reroute); otherwise found or made by receive_lead.
    engagement_id: uuid.UUID | None = None
    reroute_hop: int = 0
    rerouted_from: uuid.UUID | None = None
    # The customer's BCP 47 locale and IANA zone, checked (app/services/preferences.py).
    customer_locale: str | None = None
    customer_time_zone: str | None = None


# The lead's own columns an IncomingLead carries as they are.
_CARRIED = tuple(f.name for f in fields(IncomingLead) if f.name not in ("type", "engagement_id"))


def incoming_from(lead: Lead, **changed: Any) -> IncomingLead:
    """An IncomingLead for the same customer and need as `lead` (from the same sender), with
    `changed` on top: how a reroute offers a lead to the next partner."""
    carried = {name: getattr(lead, name) for name in _CARRIED}
    return IncomingLead(**{"type": LeadType(lead.type), **carried, **changed})


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_company(name: str) -> str:
    """`  Adatum,  Corp. ` -> `adatum corp`: lowercase, punctuation stripped, spaces collapsed."""
    without_punctuation = "".join(
        ch if ch.isalnum() or ch.isspace() else " " if ch in "-/&+" else "" for ch in name.lower()
    )
    return " ".join(without_punctuation.split())


def _domain(email: str) -> str:
    return email.rpartition("@")[2]


async def find_duplicate(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    company_name: str,
    contact_email: str,
    *,
    now: datetime,
) -> uuid.UUID | None:
    """The most recent lead of the same partner within the window for the same customer: the
    same contact e-mail, or the same company at the same e-mail domain."""
    email = normalise_email(contact_email)
    domain = _domain(email)
    company = normalise_company(company_name)
    lowered = func.lower(Lead.contact_email)
    rows = (
        await session.execute(
            select(Lead.id, Lead.contact_email, Lead.company_name)
            .where(
                Lead.organisation_id == organisation_id,
                Lead.received_at >= now - DUPLICATE_WINDOW,
                Lead.received_at <= now,
                (lowered == email) | (func.split_part(lowered, "@", 2) == domain),
            )
            .order_by(Lead.received_at.desc(), Lead.id.desc())
            .limit(DUPLICATE_CANDIDATES)
        )
    ).all()
    for lead_id, other_email, other_company in rows:
        if normalise_email(other_email) == email or normalise_company(other_company) == company:
            found: uuid.UUID = lead_id
            return found
    return None


async def find_engagement(
    session: AsyncSession, contact_email: str, *, now: datetime
) -> uuid.UUID | None:
    """The engagement of the most recent lead (at any partner) for the same contact e-mail:
    past the tenancy wall, by the one function that answers this and nothing more (migration
    0007)."""
    found: uuid.UUID | None = await session.scalar(
        select(
            func.partner_leads_engagement(
                normalise_email(contact_email), now - DUPLICATE_WINDOW, now, type_=Uuid
            )
        )
    )
    return found


async def receive_lead(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    incoming: IncomingLead,
    *,
    now: datetime,
    settings: Settings,
) -> Lead:
    """Create a RECEIVED lead for a partner, flagged as a possible duplicate and grouped into an
    engagement. Validation of what customers and senders type happens before (the intake use
    cases in `app.services.intake`); this is the step every source shares."""
    step = transition(None, LeadAction.RECEIVE, actor=ActorKind.SYSTEM)
    assert isinstance(step, Transition)
    profile_id = await session.scalar(
        select(BusinessProfile.id).where(BusinessProfile.organisation_id == organisation_id)
    )
    duplicate_of = await find_duplicate(
        session, organisation_id, incoming.company_name, incoming.contact_email, now=now
    )
    engagement_id = (
        incoming.engagement_id
        or await find_engagement(session, incoming.contact_email, now=now)
        or uuid.uuid4()
    )
    lead = Lead(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        profile_id=profile_id,
        type=incoming.type.value,
        stage=LeadStage.RECEIVED.value,
        **{name: getattr(incoming, name) for name in _CARRIED},
        engagement_id=engagement_id,
        possible_duplicate_of=duplicate_of,
        received_at=now,
        respond_by=respond_by(now, settings.lead_response_days),
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    await record_step(session, lead, step, None, now, {}, None)
    await route_arrival(session, lead, now=now)
    return lead
