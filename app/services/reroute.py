"""Return to pool (beyond Partner Center): a sender may mark a qualified lead `autoReroute`;
when it is declined or expires, the worker offers a new lead to the next suggested partner
that has not had this engagement yet, at most `reroute_max_hops` times, and only when the
customer consented to share the request with other partners (`consent_to_share`; the new lead
carries the consent on).

Decided once: the old lead is locked (`FOR UPDATE SKIP LOCKED`), a REROUTE row in its history
marks it done, and a unique index on `rerouted_from` refuses a second offer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Lead, LeadHistory
from app.domain.events import Topic
from app.domain.lifecycle import UNWORKED_OUTCOMES, ActorKind, LeadAction, LeadStage, LeadType
from app.domain.reference import CompanySize
from app.jobs import relay, stage
from app.services.history import api_name, field_change, system_event
from app.services.matching import LeadNeed, rank_partners
from app.services.receive import incoming_from, receive_lead

BATCH = 20
NO_CONSENT = "the customer did not consent to share the request with other partners"
_NOBODY = {api_name("rerouted_to"): field_change(None, None)}


async def reroute_due(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Offer up to BATCH declined or expired autoReroute leads onward. Returns how many were
    decided (offered, or found to have nobody left)."""
    done = exists().where(
        LeadHistory.lead_id == Lead.id, LeadHistory.action == LeadAction.REROUTE.value
    )
    leads = list(
        (
            await session.scalars(
                select(Lead)
                .where(
                    Lead.auto_reroute.is_(True),
                    Lead.stage == LeadStage.ARCHIVED.value,
                    Lead.outcome.in_([o.value for o in UNWORKED_OUTCOMES]),
                    Lead.reroute_hop < settings.reroute_max_hops,
                    ~done,
                )
                .order_by(Lead.archived_at, Lead.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    for lead in leads:
        await _reroute(session, lead, now=now, settings=settings)
    return len(leads)


async def _reroute(session: AsyncSession, lead: Lead, *, now: datetime, settings: Settings) -> None:
    if not lead.consent_to_share:
        # Without the customer's consent nobody else sees the request, not even its need: a
        # partner cannot work a lead it may not contact, and the customer, told to choose
        # another partner (the decline notice), chooses for themselves.
        _record_reroute(session, lead, now, {**_NOBODY, "reason": NO_CONSENT})
        await session.flush()
        return
    engagement = lead.engagement_id or lead.id
    offered = set(
        (
            await session.scalars(
                select(Lead.organisation_id).where(
                    (Lead.engagement_id == engagement) | (Lead.id == lead.id)
                )
            )
        ).all()
    )
    need = LeadNeed(
        description=lead.need,
        industry=lead.industry,
        company_size=CompanySize(lead.company_size),
        country=lead.country,
        solution_area=lead.solution_area,
        lead_type=LeadType(lead.type),
    )
    picks = await rank_partners(session, need, first=1, exclude=sorted(offered))
    changes: dict[str, object]
    if picks:
        pick = picks[0].profile
        offered_lead = await receive_lead(
            session,
            pick.organisation_id,
            incoming_from(
                lead,
                auto_reroute=True,
                engagement_id=engagement,
                reroute_hop=lead.reroute_hop + 1,
                rerouted_from=lead.id,
            ),
            now=now,
            settings=settings,
        )
        rerouted_to = {"leadId": str(offered_lead.id), "partner": pick.name}
        changes = {api_name("rerouted_to"): field_change(None, rerouted_to)}
    else:
        changes = {**_NOBODY, "reason": "no suggested partner has not had this lead"}
    if lead.engagement_id is None:
        lead.engagement_id = engagement
    if picks:
        # Its partner's tooling and its sender hear that it went on to the next partner.
        session.add(system_event(lead, Topic.LEAD_REROUTED, LeadAction.REROUTE.value, now, changes))
        stage(session, relay())
    _record_reroute(session, lead, now, changes)
    await session.flush()


def _record_reroute(
    session: AsyncSession, lead: Lead, now: datetime, changes: dict[str, object]
) -> None:
    """The REROUTE entry that marks the lead decided, offered onward or not."""
    session.add(
        LeadHistory(
            lead_id=lead.id,
            action=LeadAction.REROUTE.value,
            from_stage=lead.stage,
            to_stage=lead.stage,
            outcome=lead.outcome,
            actor_kind=ActorKind.SYSTEM.value,
            changes=changes,
            at=now,
        )
    )
