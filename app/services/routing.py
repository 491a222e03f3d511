"""Routing rules (issue 11): a partner's ordered rules that give a lead an owner as it arrives.

A rule matches a lead by the customer's industry, solution area and country (each a list; empty
matches any; industries and solution areas without regard to case) and names its target: one
owner, round-robin among listed users, or round-robin among the lead managers who are a
location's alert contacts (matched by e-mail; contacts who opted out of alerts are left out).
The first rule that matches and has someone eligible (an active lead manager of the partner)
wins; with none the lead stays unowned and alerts go to the whole team.

Round-robin is a counter on the rule's row, taken with `UPDATE ... RETURNING`: concurrent
arrivals queue on the row's lock and each gets the next number, so n leads among k people give
each person n / k of them, give or take one, however they race.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BusinessProfile, Lead, LocationContact, ProfileLocation, RoutingRule, User
from app.domain.roles import Role
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.owners import give_lead, lead_managers

MAX_RULES = 50
MAX_VALUES = 50
VALUE_LENGTH = 100
COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class RuleInput:
    """One rule as a partner admin writes it: what it matches, and exactly one target."""

    industries: Sequence[str] = ()
    solution_areas: Sequence[str] = ()
    countries: Sequence[str] = ()
    owner_id: str | None = None
    round_robin_user_ids: Sequence[str] = field(default_factory=tuple)
    round_robin_location_id: str | None = None


def _values(
    rule: int, name: str, values: Sequence[str], pattern: re.Pattern[str] | None
) -> list[str] | Refused:
    if len(values) > MAX_VALUES:
        return Refused.one(
            ErrorCode.VALIDATION, f"must list at most {MAX_VALUES} values", "rules", str(rule), name
        )
    for i, value in enumerate(values):
        if pattern is not None and not pattern.fullmatch(value):
            return Refused.one(
                ErrorCode.VALIDATION,
                "is not an ISO 3166-1 alpha-2 code, e.g. BR",
                "rules",
                str(rule),
                name,
                str(i),
            )
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            return Refused.one(
                ErrorCode.VALIDATION,
                "must not contain control characters",
                "rules",
                str(rule),
                name,
                str(i),
            )
        if not 0 < len(value.strip()) <= VALUE_LENGTH:
            return Refused.one(
                ErrorCode.VALIDATION,
                f"must be 1 to {VALUE_LENGTH} characters",
                "rules",
                str(rule),
                name,
                str(i),
            )
    return list(dict.fromkeys(v.strip() for v in values))


async def _own_location(
    session: AsyncSession, organisation_id: uuid.UUID, location_id: uuid.UUID
) -> bool:
    found = await session.scalar(
        select(ProfileLocation.id)
        .join(BusinessProfile, BusinessProfile.id == ProfileLocation.profile_id)
        .where(
            ProfileLocation.id == location_id, BusinessProfile.organisation_id == organisation_id
        )
    )
    return found is not None


async def _checked_rule(
    session: AsyncSession, organisation_id: uuid.UUID, i: int, rule: RuleInput, position: int
) -> RoutingRule | Refused:
    here = ("rules", str(i))
    matched: dict[str, list[str]] = {}
    for name, values, pattern in (
        ("industries", rule.industries, None),
        ("solution_areas", rule.solution_areas, None),
        ("countries", rule.countries, COUNTRY),
    ):
        checked = _values(i, name, values, pattern)
        if isinstance(checked, Refused):
            return checked
        matched[name] = checked
    targets = sum(
        (
            rule.owner_id is not None,
            bool(rule.round_robin_user_ids),
            rule.round_robin_location_id is not None,
        )
    )
    if targets != 1:
        return Refused.one(
            ErrorCode.VALIDATION,
            "give exactly one of ownerId, roundRobinUserIds or roundRobinLocationId",
            *here,
        )
    made = RoutingRule(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        position=position,
        owner_user_id=None,
        user_ids=[],
        location_id=None,
        assigned_count=0,
        **matched,
    )
    if rule.round_robin_location_id is not None:
        location = parse_id(rule.round_robin_location_id, *here, "round_robin_location_id")
        if isinstance(location, Refused):
            return location
        if not await _own_location(session, organisation_id, location):
            return Refused.one(
                ErrorCode.NOT_FOUND, "no such location", *here, "round_robin_location_id"
            )
        made.location_id = location
        return made
    name = "owner_id" if rule.owner_id is not None else "round_robin_user_ids"
    raw = [rule.owner_id] if rule.owner_id is not None else list(rule.round_robin_user_ids)
    if len(raw) > MAX_VALUES:
        return Refused.one(
            ErrorCode.VALIDATION, f"must list at most {MAX_VALUES} users", *here, name
        )

    def path(j: int) -> tuple[str, ...]:
        return (*here, name) if rule.owner_id is not None else (*here, name, str(j))

    # Each user once, in the order given, with where it was given (to name a bad one).
    given: dict[uuid.UUID, int] = {}
    for j, value in enumerate(raw):
        parsed = parse_id(str(value), *path(j))
        if isinstance(parsed, Refused):
            return parsed
        given.setdefault(parsed, j)
    ids = list(given)
    managers = await lead_managers(session, organisation_id, ids)
    for user_id, j in given.items():
        if user_id not in managers:
            return Refused.one(
                ErrorCode.VALIDATION,
                "is not an active partner admin or referrals admin of this partner",
                *path(j),
            )
    if rule.owner_id is not None:
        made.owner_user_id = ids[0]
    else:
        made.user_ids = ids
    return made


async def set_routing_rules(
    session: AsyncSession, actor: Actor | None, rules: Sequence[RuleInput]
) -> list[RoutingRule] | Refused:
    """`setRoutingRules`: replace the partner's rules with `rules`, in order (an empty list
    removes them all). Partner admins only; round-robin counters start again."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to set routing rules")
    if actor.organisation_kind != "PARTNER" or not actor.has(Role.PARTNER_ADMIN):
        return Refused.one(ErrorCode.FORBIDDEN, "only partner admins set routing rules")
    if len(rules) > MAX_RULES:
        return Refused.one(ErrorCode.VALIDATION, f"at most {MAX_RULES} rules", "rules")
    # Two admins saving at once take turns: the second replaces what the first saved, rather
    # than both inserting the same positions.
    lock = f"routing_rules {actor.organisation_id}"
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(literal(lock), 0)))
    )
    made: list[RoutingRule] = []
    for i, rule in enumerate(rules):
        checked = await _checked_rule(session, actor.organisation_id, i, rule, i + 1)
        if isinstance(checked, Refused):
            return checked
        made.append(checked)
    await session.execute(
        delete(RoutingRule).where(RoutingRule.organisation_id == actor.organisation_id)
    )
    session.add_all(made)
    await session.flush()
    return made


async def routing_rules(session: AsyncSession, actor: Actor | None) -> list[RoutingRule]:
    """The partner's rules in order, for its lead managers; nothing for anyone else."""
    if actor is None or not actor.manages_leads:
        return []
    return list(
        await session.scalars(
            select(RoutingRule)
            .where(RoutingRule.organisation_id == actor.organisation_id)
            .order_by(RoutingRule.position)
        )
    )


async def rules_by_ids(
    session: AsyncSession, actor: Actor | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, RoutingRule]:
    """The rules among `ids` that `routing_rules` would list for the caller."""
    if actor is None or not actor.manages_leads or not ids:
        return {}
    rows = await session.scalars(
        select(RoutingRule).where(
            RoutingRule.id.in_(ids), RoutingRule.organisation_id == actor.organisation_id
        )
    )
    return {rule.id: rule for rule in rows}


def _matches(rule: RoutingRule, lead: Lead) -> bool:
    def within(values: list[str], value: str | None, *, fold: bool) -> bool:
        if not values:
            return True
        if value is None:
            return False
        if fold:
            return value.casefold() in {v.casefold() for v in values}
        return value in values

    return (
        within(rule.industries, lead.industry, fold=True)
        and within(rule.solution_areas, lead.solution_area, fold=True)
        and within(rule.countries, lead.country, fold=False)
    )


async def _candidates(session: AsyncSession, rule: RoutingRule) -> list[User]:
    """Who the rule may give a lead to now, in a stable order (round-robin's)."""
    org = rule.organisation_id
    if rule.owner_user_id is not None:
        managers = await lead_managers(session, org, [rule.owner_user_id])
        return list(managers.values())
    if rule.user_ids:
        managers = await lead_managers(session, org, rule.user_ids)
        return [managers[i] for i in rule.user_ids if i in managers]
    contacts = select(func.lower(LocationContact.email)).where(
        LocationContact.location_id == rule.location_id,
        LocationContact.alerts_opted_out.is_(False),
    )
    managers = await lead_managers(session, org)
    emails = {e for e in await session.scalars(contacts)}
    found = [u for u in managers.values() if u.email.lower() in emails]
    return sorted(found, key=lambda u: (u.email.lower(), u.id))


async def _take_turn(session: AsyncSession, rule: RoutingRule) -> int:
    """The rule's next number: the row's lock queues concurrent arrivals."""
    taken = await session.scalar(
        update(RoutingRule)
        .where(RoutingRule.id == rule.id)
        .values(assigned_count=RoutingRule.assigned_count + 1)
        .returning(RoutingRule.assigned_count - 1)
        .execution_options(synchronize_session=False)
    )
    return int(taken or 0)


async def owner_for(session: AsyncSession, lead: Lead) -> User | None:
    """The owner the partner's rules give `lead`, or None (no rule matches anyone eligible)."""
    rules = await session.scalars(
        select(RoutingRule)
        .where(RoutingRule.organisation_id == lead.organisation_id)
        .order_by(RoutingRule.position)
    )
    for rule in list(rules):
        if not _matches(rule, lead):
            continue
        candidates = await _candidates(session, rule)
        if not candidates:
            continue
        turn = await _take_turn(session, rule)
        return candidates[turn % len(candidates)]
    return None


async def route_arrival(session: AsyncSession, lead: Lead, *, now: datetime) -> None:
    """Give a just-received lead the owner its partner's rules pick: an ASSIGN step by the
    system, after the RECEIVE step, so the history and the change feed show who routed it."""
    owner = await owner_for(session, lead)
    if owner is not None:
        given = await give_lead(session, None, lead, owner, now=now)
        assert not isinstance(given, Refused), "a just-received lead is assignable"
