"""Routing rules (issue 11): who may set them and what they accept, the first matching rule
giving an arriving lead its owner, round-robin that stays fair when leads arrive at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import models
from app.db.tenancy import acting_for
from app.domain.roles import Role
from app.services.auth import load_actor
from app.services.errors import ErrorCode, Refused
from app.services.receive import receive_lead
from app.services.routing import RuleInput, routing_rules, set_routing_rules
from tests.factories import WorldPartner, incoming_lead, make_partner, unique

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


async def _set(
    sessionmaker: async_sessionmaker[AsyncSession], user: uuid.UUID, rules: list[RuleInput]
) -> list[models.RoutingRule] | Refused:
    async with sessionmaker() as app:
        actor = await load_actor(app, user)
        result = await set_routing_rules(app, actor, rules)
        if isinstance(result, Refused):
            await app.rollback()
        else:
            await app.commit()
        return result


def _refusal(result: object) -> tuple[ErrorCode, tuple[str, ...] | None]:
    assert isinstance(result, Refused), result
    [error] = result.errors
    return error.code, error.field


async def _manager(session: AsyncSession, partner: WorldPartner, name: str) -> uuid.UUID:
    """One more referrals admin of the partner."""
    user = models.User(
        id=uuid.uuid4(),
        organisation_id=partner.organisation_id,
        roles=[Role.REFERRALS_ADMIN.value],
        email=f"{name}@{partner.slug}.example",
        name=name.title(),
    )
    session.add(user)
    await session.flush()
    return user.id


async def _location(
    session: AsyncSession, partner: WorldPartner, contacts: list[tuple[str, bool]]
) -> uuid.UUID:
    """A location of the partner's profile with (e-mail, opted out) contacts."""
    profile = await session.scalar(
        select(models.BusinessProfile).where(
            models.BusinessProfile.organisation_id == partner.organisation_id
        )
    )
    if profile is None:
        profile = models.BusinessProfile(
            id=uuid.uuid4(), organisation_id=partner.organisation_id, name="Test Partner"
        )
        session.add(profile)
        await session.flush()
    location = models.ProfileLocation(
        id=uuid.uuid4(), profile_id=profile.id, name="HQ", country="BR"
    )
    session.add(location)
    await session.flush()
    for email, opted_out in contacts:
        session.add(
            models.LocationContact(
                location_id=location.id, name=email, email=email, alerts_opted_out=opted_out
            )
        )
    await session.flush()
    return location.id


async def _arrive(
    session: AsyncSession, settings: Settings, partner: WorldPartner, **facts: object
) -> models.Lead:
    return await receive_lead(
        session,
        partner.organisation_id,
        incoming_lead(contact_email=f"{unique('c')}@customer.example", **facts),
        now=NOW,
        settings=settings,
    )


async def test_only_partner_admins_set_rules_and_bad_rules_are_refused(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    partner = await make_partner(session)
    other = await make_partner(session)
    foreign_location = await _location(session, other, [])
    me = str(partner.referrals_admin)
    one = [RuleInput(owner_id=me)]

    assert _refusal(await _set(sessionmaker, partner.referrals_admin, one)) == (
        ErrorCode.FORBIDDEN,
        None,
    )
    assert _refusal(await _set(sessionmaker, partner.member, one)) == (ErrorCode.FORBIDDEN, None)
    async with sessionmaker() as app:
        assert _refusal(await set_routing_rules(app, None, one)) == (
            ErrorCode.UNAUTHENTICATED,
            None,
        )

    admin = partner.partner_admin
    cases: list[tuple[RuleInput, tuple[ErrorCode, tuple[str, ...]]]] = [
        (RuleInput(), (ErrorCode.VALIDATION, ("rules", "0"))),
        (
            RuleInput(owner_id=me, round_robin_user_ids=[me]),
            (ErrorCode.VALIDATION, ("rules", "0")),
        ),
        (
            RuleInput(countries=["BR", "br"], owner_id=me),
            (ErrorCode.VALIDATION, ("rules", "0", "countries", "1")),
        ),
        (
            RuleInput(industries=[""], owner_id=me),
            (ErrorCode.VALIDATION, ("rules", "0", "industries", "0")),
        ),
        (
            RuleInput(solution_areas=["Data", "A\x00I"], owner_id=me),
            (ErrorCode.VALIDATION, ("rules", "0", "solution_areas", "1")),
        ),
        (
            RuleInput(round_robin_user_ids=[me, str(partner.member)]),
            (ErrorCode.VALIDATION, ("rules", "0", "round_robin_user_ids", "1")),
        ),
        (
            RuleInput(round_robin_user_ids=[me, me, str(partner.member)]),
            (ErrorCode.VALIDATION, ("rules", "0", "round_robin_user_ids", "2")),
        ),
        (
            RuleInput(owner_id=str(other.partner_admin)),
            (ErrorCode.VALIDATION, ("rules", "0", "owner_id")),
        ),
        (RuleInput(owner_id="x"), (ErrorCode.VALIDATION, ("rules", "0", "owner_id"))),
        (
            RuleInput(round_robin_location_id=str(foreign_location)),
            (ErrorCode.NOT_FOUND, ("rules", "0", "round_robin_location_id")),
        ),
    ]
    for rule, expected in cases:
        assert _refusal(await _set(sessionmaker, admin, [rule])) == expected, rule
    assert _refusal(await _set(sessionmaker, admin, one * 51)) == (
        ErrorCode.VALIDATION,
        ("rules",),
    )

    saved = await _set(
        sessionmaker,
        admin,
        [RuleInput(industries=["Retail"], owner_id=me), RuleInput(round_robin_user_ids=[me])],
    )
    assert isinstance(saved, list)
    assert [(r.position, r.industries, r.owner_user_id) for r in saved] == [
        (1, ["Retail"], partner.referrals_admin),
        (2, [], None),
    ]
    # Read back by the partner's lead managers; another partner sees none of them.
    async with sessionmaker() as app:
        actor = await load_actor(app, partner.referrals_admin)
        assert [r.position for r in await routing_rules(app, actor)] == [1, 2]
    async with sessionmaker() as app:
        actor = await load_actor(app, other.partner_admin)
        assert await routing_rules(app, actor) == []
        # Row-level security: no WHERE at all, still only the caller's own rules.
        assert (await app.scalars(select(models.RoutingRule))).all() == []
    # Setting again replaces them; [] removes them all.
    assert await _set(sessionmaker, admin, []) == []
    assert (
        await session.scalars(
            select(models.RoutingRule).where(
                models.RoutingRule.organisation_id == partner.organisation_id
            )
        )
    ).all() == []


async def test_the_first_matching_rule_gives_the_arriving_lead_its_owner(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    partner = await make_partner(session)
    ana, bia = await _manager(session, partner, "ana"), await _manager(session, partner, "bia")
    rules = [
        RuleInput(industries=["healthcare"], owner_id=str(ana)),
        RuleInput(countries=["BR"], solution_areas=["Data & AI"], owner_id=str(bia)),
        RuleInput(countries=["BR"], round_robin_user_ids=[str(partner.referrals_admin)]),
    ]
    assert isinstance(await _set(sessionmaker, partner.partner_admin, rules), list)

    health = await _arrive(session, settings, partner, industry="Healthcare", country="BR")
    data = await _arrive(session, settings, partner, country="BR", solution_area="data & ai")
    brazil = await _arrive(session, settings, partner, country="BR", industry="Retail")
    elsewhere = await _arrive(session, settings, partner, country="US", industry="Retail")
    assert [lead.owner_user_id for lead in (health, data, brazil, elsewhere)] == [
        ana,
        bia,
        partner.referrals_admin,
        None,
    ]
    history = (
        await session.scalars(
            select(models.LeadHistory)
            .where(models.LeadHistory.lead_id == health.id)
            .order_by(models.LeadHistory.id)
        )
    ).all()
    assert [(h.action, h.actor_kind, h.version) for h in history] == [
        ("RECEIVE", "SYSTEM", 1),
        ("ASSIGN", "SYSTEM", 2),
    ]
    assert history[1].changes["owner"]["to"]["id"] == str(ana)
    assert (health.version, elsewhere.version) == (2, 1)

    # A rule whose owner is no longer a lead manager is passed over.
    user = await session.get(models.User, ana)
    assert user is not None
    user.roles = []
    await session.flush()
    later = await _arrive(session, settings, partner, industry="Healthcare", country="BR")
    assert later.owner_user_id == partner.referrals_admin


async def test_round_robin_among_a_locations_lead_managers(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    partner = await make_partner(session)
    ana, bia = await _manager(session, partner, "ana"), await _manager(session, partner, "bia")
    cid = await _manager(session, partner, "cid")
    location = await _location(
        session,
        partner,
        [
            (f"BIA@{partner.slug}.example", False),  # the e-mail matches without regard to case
            (f"ana@{partner.slug}.example", False),
            (f"cid@{partner.slug}.example", True),  # opted out of alerts: not in the turn
            (f"member@{partner.slug}.example", False),  # no lead-managing role
            ("desk@elsewhere.example", False),  # no user at all
        ],
    )
    rules = [RuleInput(round_robin_location_id=str(location))]
    assert isinstance(await _set(sessionmaker, partner.partner_admin, rules), list)
    owners = [(await _arrive(session, settings, partner)).owner_user_id for _ in range(5)]
    assert owners == [ana, bia, ana, bia, ana]
    assert cid not in owners
    count = await session.scalar(
        select(models.RoutingRule.assigned_count).where(
            models.RoutingRule.organisation_id == partner.organisation_id
        )
    )
    assert count == 5


async def test_round_robin_is_fair_when_leads_arrive_at_once(
    engine: AsyncEngine, worker_engine: AsyncEngine, settings: Settings
) -> None:
    """Real concurrent transactions (they commit, on a partner of their own): every arrival
    takes the next turn, so 12 leads among 3 people give each exactly 4."""
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        people = [await _manager(session, partner, name) for name in ("ana", "bia", "cid")]
        session.add(
            models.RoutingRule(
                id=uuid.uuid4(),
                organisation_id=partner.organisation_id,
                position=1,
                industries=[],
                solution_areas=[],
                countries=[],
                user_ids=people,
            )
        )

    async def arrive() -> uuid.UUID | None:
        async with AsyncSession(worker_engine) as session, session.begin():
            lead = await _arrive(session, settings, partner)
            return lead.owner_user_id

    owners = await asyncio.gather(*(arrive() for _ in range(12)))
    assert Counter(owners) == {person: 4 for person in people}
    async with AsyncSession(engine) as session:
        stored = Counter(
            (
                await session.scalars(
                    select(models.Lead.owner_user_id).where(
                        models.Lead.organisation_id == partner.organisation_id
                    )
                )
            ).all()
        )
    assert stored == {person: 4 for person in people}


async def test_routing_works_behind_the_tenancy_wall_as_intake_receives(
    session: AsyncSession, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """An anonymous inquiry is received as the partner's (`acting_for`) by the API's role: the
    rules, the location's contacts and the users are the partner's own rows."""
    partner = await make_partner(session)
    ana = await _manager(session, partner, "ana")
    location = await _location(session, partner, [(f"ana@{partner.slug}.example", False)])
    rules = [RuleInput(round_robin_location_id=str(location))]
    assert isinstance(await _set(sessionmaker, partner.partner_admin, rules), list)
    async with sessionmaker() as app:
        async with acting_for(app, partner.organisation_id):
            lead = await _arrive(app, settings, partner)
        await app.commit()
    assert lead.owner_user_id == ana
