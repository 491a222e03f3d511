"""Return to pool: an autoReroute lead declined or expired is offered to the next suggested
partner that has not had it, once per step, linked in one engagement, visible in both
histories."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile, Lead, LeadHistory
from app.domain.lifecycle import LeadType
from app.domain.reference import DeclineReason
from app.services.auth import load_actor
from app.services.leads import decline_lead
from app.services.profiles import refresh_search_document
from app.services.receive import IncomingLead, receive_lead
from app.services.reroute import reroute_due
from app.services.sweeps import expire_overdue
from tests.factories import World, WorldPartner, incoming_lead, make_partner

NOW = datetime.now(UTC).replace(microsecond=0)
WORD = f"zzreroute{uuid.uuid4().hex[:6]}"


async def _partner(session: AsyncSession, keywords: list[str]) -> WorldPartner:
    partner = await make_partner(session)
    profile = BusinessProfile(
        id=uuid.uuid4(),
        organisation_id=partner.organisation_id,
        name=f"Reroute {keywords[-1]}",
        published=True,
        description=f"We do {WORD} projects",
        keywords=keywords,
        industries=["Quantum Farming"],
    )
    session.add(profile)
    await session.flush()
    await refresh_search_document(session, profile.id)
    return partner


async def _chain(session: AsyncSession, lead_id: uuid.UUID) -> list[Lead]:
    chain = [await session.get(Lead, lead_id)]
    while True:
        following = await session.scalar(select(Lead).where(Lead.rerouted_from == chain[-1].id))  # type: ignore[union-attr]
        if following is None:
            return chain  # type: ignore[return-value]
        chain.append(following)


async def _only_history(session: AsyncSession, lead_id: uuid.UUID, action: str) -> LeadHistory:
    """The lead's one history row of `action`."""
    rows = await session.scalars(
        select(LeadHistory).where(LeadHistory.lead_id == lead_id, LeadHistory.action == action)
    )
    return rows.one()


def _sales_lead(contact: str, company: str, **fields: Any) -> IncomingLead:
    """A sales-qualified lead in the partners' industry, from `contact` at `company`."""
    return incoming_lead(
        type=LeadType.SALES_QUALIFIED,
        company_name=company,
        contact_name=contact,
        contact_email=f"{contact.lower()}-{WORD}@{company.lower()}.example",
        industry="Quantum Farming",
        contact_requested=False,
        **fields,
    )


async def test_a_reroute_chain_of_three_partners(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    first = await _partner(session, [WORD, f"{WORD}x", f"{WORD}y", "first"])
    second = await _partner(session, [WORD, f"{WORD}x", "second"])
    third = await _partner(session, [WORD, "third"])
    seller = await load_actor(session, world.seller)
    assert seller is not None
    lead = await receive_lead(
        session,
        first.organisation_id,
        _sales_lead(
            "Nia",
            "Tailspin",
            company_size="SIZE_51_250",
            need=f"{WORD} {WORD}x {WORD}y",
            auto_reroute=True,
            consent_to_share=True,
            sender_user_id=seller.user_id,
            sender_organisation_id=seller.organisation_id,
        ),
        now=NOW - timedelta(days=20),
        settings=settings,
    )

    # The first partner declines: it goes to the best suggestion that has not had it.
    actor = await load_actor(session, first.referrals_admin)
    await decline_lead(
        session, actor, str(lead.id), DeclineReason.NO_CAPACITY, None, now=NOW - timedelta(days=19)
    )
    assert await reroute_due(session, now=NOW, settings=settings) >= 1
    assert await reroute_due(session, now=NOW, settings=settings) == 0  # decided once
    chain = await _chain(session, lead.id)
    assert [c.organisation_id for c in chain] == [first.organisation_id, second.organisation_id]

    # The second lets it expire (it arrived 15 days before `later`): on to the third.
    later = NOW + timedelta(days=15)
    await expire_overdue(session, now=later)
    await reroute_due(session, now=later, settings=settings)
    chain = await _chain(session, lead.id)
    assert [c.organisation_id for c in chain] == [
        first.organisation_id,
        second.organisation_id,
        third.organisation_id,
    ]
    assert [c.reroute_hop for c in chain] == [0, 1, 2]
    assert len({c.engagement_id for c in chain}) == 1 and chain[0].engagement_id is not None
    assert all(c.auto_reroute and c.sender_user_id == world.seller for c in chain)
    assert chain[2].stage == "RECEIVED"

    # Both histories show the hop: REROUTE on the old lead, the RECEIVE of the new one.
    history = await _only_history(session, chain[0].id, "REROUTE")
    assert history.actor_kind == "SYSTEM"
    assert history.changes["reroutedTo"]["to"]["leadId"] == str(chain[1].id)
    received = await _only_history(session, chain[1].id, "RECEIVE")
    assert received.to_stage == "RECEIVED"


async def test_no_reroute_without_the_flag_or_past_the_hop_limit(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    one = await _partner(session, [WORD, "one"])
    await _partner(session, [WORD, "two"])
    unflagged = _sales_lead("Ana", "Litware", need=WORD)
    last_hop = _sales_lead(
        "Bo",
        "Proseware",
        need=WORD,
        auto_reroute=True,
        consent_to_share=True,
        reroute_hop=settings.reroute_max_hops,
    )
    received = NOW - timedelta(days=20)
    plain, capped = [
        await receive_lead(session, one.organisation_id, lead, now=received, settings=settings)
        for lead in (unflagged, last_hop)
    ]
    await expire_overdue(session, now=NOW)
    await reroute_due(session, now=NOW, settings=settings)
    for lead in (plain, capped):
        assert len(await _chain(session, lead.id)) == 1


async def test_without_consent_to_share_nobody_else_gets_the_lead(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    """Return to pool copies the customer's contact only with the customer's consent; without
    it the lead is offered to nobody (not even its need), and the history says why."""
    first = await _partner(session, [WORD, f"{WORD}x", "first"])
    await _partner(session, [WORD, f"{WORD}x", "second"])
    admin = await load_actor(session, first.referrals_admin)
    consenting, private = [
        await receive_lead(
            session,
            first.organisation_id,
            _sales_lead(contact, company, need=f"{WORD} {WORD}x", auto_reroute=True, **consent),
            now=NOW - timedelta(days=2),
            settings=settings,
        )
        for contact, company, consent in (
            ("Ola", "Fourth Coffee", {"consent_to_share": True}),
            ("Pia", "Wingtip", {}),
        )
    ]
    for lead in (consenting, private):
        await decline_lead(
            session, admin, str(lead.id), DeclineReason.NO_CAPACITY, None, now=NOW - timedelta(1)
        )
    assert await reroute_due(session, now=NOW, settings=settings) >= 2
    assert await reroute_due(session, now=NOW, settings=settings) == 0  # both decided once

    offered = (await _chain(session, consenting.id))[1]
    assert offered.contact_email == consenting.contact_email and offered.consent_to_share
    assert len(await _chain(session, private.id)) == 1
    skipped = await _only_history(session, private.id, "REROUTE")
    assert skipped.actor_kind == "SYSTEM"
    assert skipped.changes == {
        "reroutedTo": {"from": None, "to": None},
        "reason": "the customer did not consent to share the request with other partners",
    }
