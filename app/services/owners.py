"""Who works a lead (issue 11): its owner, a lead manager of the lead's partner. `assign_lead` is
a person's `assignLead`; `give_lead` is the one step both it and routing (app/services/routing.py)
take: the owner changes, the stage never does, the version moves on, and an ASSIGN history row
with its `lead.assigned` event (and the new owner's notice) is written. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, User
from app.domain.lifecycle import LeadAction, TransitionRefused, work_step
from app.domain.roles import LEAD_MANAGER_ROLES
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.history import record_step, snapshot
from app.services.leads import lead_state, own_lead, version_conflict

_MANAGER_ROLES = [r.value for r in LEAD_MANAGER_ROLES]


def is_lead_manager(user: User, organisation_id: uuid.UUID) -> bool:
    """Whether `user` may own a lead of `organisation_id`: active, of it, with a managing role."""
    return (
        user.active
        and user.organisation_id == organisation_id
        and bool(set(user.roles) & set(_MANAGER_ROLES))
    )


async def lead_managers(
    session: AsyncSession, organisation_id: uuid.UUID, ids: Sequence[uuid.UUID] | None = None
) -> dict[uuid.UUID, User]:
    """The partner's active lead managers (among `ids` when given), by id."""
    statement = select(User).where(
        User.organisation_id == organisation_id,
        User.active.is_(True),
        User.roles.overlap(_MANAGER_ROLES),
    )
    if ids is not None:
        statement = statement.where(User.id.in_(list(ids)))
    return {user.id: user for user in await session.scalars(statement)}


async def assignable_owners(session: AsyncSession, actor: Actor | None) -> list[User]:
    """Who the caller may give a lead to or name in a routing rule, by name: its partner's
    active lead managers, for a lead manager; nobody for anyone else."""
    if actor is None or not actor.manages_leads:
        return []
    found = await lead_managers(session, actor.organisation_id)
    return sorted(found.values(), key=lambda user: (user.name.casefold(), str(user.id)))


def owner_json(user: User | None) -> dict[str, Any] | None:
    """An owner as history records it."""
    if user is None:
        return None
    return {"id": str(user.id), "name": user.name, "email": user.email}


async def give_lead(
    session: AsyncSession,
    actor: Actor | None,
    lead: Lead,
    owner: User | None,
    *,
    now: datetime,
) -> Lead | Refused:
    """Make `owner` (None: nobody) the owner of `lead`, locked by the caller. The same owner
    again changes nothing: no version, no history, no event."""
    new_id = owner.id if owner is not None else None
    if lead.owner_user_id == new_id:
        return lead
    step = work_step(lead_state(lead), LeadAction.ASSIGN)
    if isinstance(step, TransitionRefused):
        return Refused.one(ErrorCode.INVALID_TRANSITION, step.reason)
    previous = (
        await session.get(User, lead.owner_user_id) if lead.owner_user_id is not None else None
    )
    changes = {"owner": {"from": owner_json(previous), "to": owner_json(owner)}}
    before = snapshot(lead)
    lead.owner_user_id = new_id
    lead.version += 1
    lead.updated_at = now
    await record_step(session, lead, step, actor, now, changes, before)
    return lead


async def assign_lead(
    session: AsyncSession,
    actor: Actor | None,
    lead_id: str,
    owner_id: str | None,
    *,
    expected_version: int | None = None,
    now: datetime,
) -> Lead | Refused:
    """`assignLead`: a lead manager gives a RECEIVED or ACCEPTED lead of their partner to one
    of its lead managers (themselves included), or to nobody (`owner_id` None)."""
    lead = await own_lead(session, actor, lead_id, lock=True)
    if isinstance(lead, Refused):
        return lead
    conflict = version_conflict(lead, expected_version)
    if conflict is not None:
        return conflict
    owner: User | None = None
    if owner_id is not None:
        parsed = parse_id(owner_id, "owner_id")
        if isinstance(parsed, Refused):
            return parsed
        owner = await session.get(User, parsed)
        # Another organisation's users do not exist for the caller.
        if owner is None or owner.organisation_id != lead.organisation_id:
            return Refused.one(ErrorCode.NOT_FOUND, "no such user", "owner_id")
        if not is_lead_manager(owner, lead.organisation_id):
            return Refused.one(
                ErrorCode.VALIDATION,
                "is not an active partner admin or referrals admin of this partner",
                "owner_id",
            )
    return await give_lead(session, actor, lead, owner, now=now)
