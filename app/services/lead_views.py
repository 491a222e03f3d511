"""Saved lead views (issue 11): a lead manager's named tab, filter and order, kept per user and
optionally shared with their organisation. The filter is checked exactly as `leads` checks it
and stored as JSON; a stored filter that no longer checks (a value renamed since) is shown as
invalid rather than breaking the list."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import LeadView, User
from app.domain.lifecycle import LeadOutcome, LeadStage, LeadTab, LeadType
from app.domain.reference import CompanySize
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.lead_queries import LeadFilter, LeadOrder, check_filter
from app.services.paging import as_utc

# A handful of views is what a person keeps; a bound keeps one user from filling the table.
MAX_VIEWS_PER_USER = 50
NAME_LENGTH = 100  # the column's

ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "types": LeadType,
    "stages": LeadStage,
    "outcomes": LeadOutcome,
    "company_sizes": CompanySize,
}
TIME_FIELDS = frozenset({"received_from", "received_to", "updated_after"})
FILTER_FIELDS = frozenset(f.name for f in fields(LeadFilter))


def filter_to_json(f: LeadFilter) -> dict[str, Any]:
    """The filter's given fields, JSON-ready: enums by value, instants in UTC ISO 8601."""
    stored: dict[str, Any] = {}
    for name in FILTER_FIELDS:
        value = getattr(f, name)
        if value is None:
            continue
        if name in TIME_FIELDS:
            utc = as_utc(value)
            if utc is not None:  # check_filter refused any other
                stored[name] = utc.isoformat()
        elif name in ENUM_FIELDS:
            stored[name] = [v.value if isinstance(v, StrEnum) else str(v) for v in value]
        elif isinstance(value, list | tuple):
            stored[name] = [str(v) for v in value]
        else:
            stored[name] = value
    return stored


def filter_from_json(stored: Any) -> LeadFilter | None:
    """The stored filter, or None when it no longer reads or checks as a filter."""
    if not isinstance(stored, dict) or not set(stored) <= FILTER_FIELDS:
        return None
    given: dict[str, Any] = {}
    try:
        for name, value in stored.items():
            if name in TIME_FIELDS:
                given[name] = datetime.fromisoformat(value)
            elif name in ENUM_FIELDS:
                given[name] = [ENUM_FIELDS[name](v) for v in value]
            elif isinstance(value, list):
                given[name] = [str(v) for v in value]
            else:
                given[name] = value
        f = LeadFilter(**given)
        if isinstance(check_filter(f), Refused):
            return None
    except (TypeError, ValueError, AttributeError):
        return None
    return f


@dataclass(frozen=True, slots=True)
class SaveView:
    name: str
    tab: LeadTab
    filter: LeadFilter
    order_by: LeadOrder
    shared: bool
    view_id: str | None = None


@dataclass(frozen=True, slots=True)
class ViewRow:
    view: LeadView
    owner_name: str
    mine: bool
    # The stored filter, re-checked; None when it no longer checks.
    filter: LeadFilter | None


def keeper(actor: Actor | None) -> Actor | Refused:
    """The actor if they may keep views: a partner's lead managers, in person."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to keep views")
    # An API key is not a person: it has no views of its own.
    if not actor.manages_leads or actor.api_key_id is not None:
        return Refused.one(ErrorCode.FORBIDDEN, "only a partner's lead managers keep lead views")
    return actor


async def save_view(
    session: AsyncSession, actor: Actor | None, data: SaveView, *, now: datetime
) -> ViewRow | Refused:
    """Create a view of the caller, or update one of theirs (`view_id`)."""
    who = keeper(actor)
    if isinstance(who, Refused):
        return who
    name = data.name.strip()
    if not 0 < len(name) <= NAME_LENGTH:
        return Refused.one(ErrorCode.VALIDATION, f"must be 1 to {NAME_LENGTH} characters", "name")
    checked = check_filter(data.filter)
    if isinstance(checked, Refused):
        return checked
    mine = LeadView.user_id == who.user_id
    view: LeadView | None = None
    if data.view_id is not None:
        view_id = parse_id(data.view_id, "view_id")
        if isinstance(view_id, Refused):
            return view_id
        view = await session.scalar(select(LeadView).where(LeadView.id == view_id, mine))
        if view is None:
            return Refused.one(ErrorCode.NOT_FOUND, "no such view of yours", "view_id")
    same_name = select(LeadView.id).where(mine, LeadView.name == name)
    if view is not None:
        same_name = same_name.where(LeadView.id != view.id)
    clash = await session.scalar(same_name)
    if clash is not None:
        return Refused.one(ErrorCode.CONFLICT, "you already have a view of this name", "name")
    if view is None:
        count = await session.scalar(select(func.count()).select_from(LeadView).where(mine))
        if (count or 0) >= MAX_VIEWS_PER_USER:
            return Refused.one(
                ErrorCode.VALIDATION, f"you keep at most {MAX_VIEWS_PER_USER} views", "name"
            )
        view = LeadView(id=uuid.uuid4(), organisation_id=who.organisation_id, user_id=who.user_id)
        session.add(view)
    view.name = name
    view.tab = data.tab.value
    view.filter = filter_to_json(data.filter)
    view.order_by = data.order_by.value
    view.shared = data.shared
    view.updated_at = now
    try:
        # Two saves of one name at once: the unique key refuses the second, in a savepoint so
        # the caller's transaction stays usable.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        return Refused.one(ErrorCode.CONFLICT, "you already have a view of this name", "name")
    return ViewRow(view, who.name, True, filter_from_json(view.filter))


async def list_views(session: AsyncSession, actor: Actor | None) -> list[ViewRow]:
    """The caller's views and their organisation's shared ones, by name; empty for callers
    who keep none."""
    who = keeper(actor)
    if isinstance(who, Refused):
        return []
    rows = (
        await session.execute(
            select(LeadView, User.name)
            .join(User, User.id == LeadView.user_id)
            .where(
                LeadView.organisation_id == who.organisation_id,
                or_(LeadView.user_id == who.user_id, LeadView.shared.is_(True)),
            )
            .order_by(LeadView.name, LeadView.id)
        )
    ).all()
    return [
        ViewRow(view, owner, view.user_id == who.user_id, filter_from_json(view.filter))
        for view, owner in rows
    ]


async def views_by_ids(
    session: AsyncSession, actor: Actor | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ViewRow]:
    """The views among `ids` that `list_views` would list for the caller."""
    who = keeper(actor)
    if isinstance(who, Refused) or not ids:
        return {}
    rows = (
        await session.execute(
            select(LeadView, User.name)
            .join(User, User.id == LeadView.user_id)
            .where(
                LeadView.id.in_(ids),
                LeadView.organisation_id == who.organisation_id,
                or_(LeadView.user_id == who.user_id, LeadView.shared.is_(True)),
            )
        )
    ).all()
    return {
        view.id: ViewRow(view, owner, view.user_id == who.user_id, filter_from_json(view.filter))
        for view, owner in rows
    }


async def delete_view(
    session: AsyncSession, actor: Actor | None, raw_id: str
) -> uuid.UUID | Refused:
    """Delete one of the caller's own views. Shared views are deleted by their owner only: a
    colleague (even a partner admin) who wants it gone copies it and asks the owner."""
    who = keeper(actor)
    if isinstance(who, Refused):
        return who
    view_id = parse_id(raw_id, "view_id")
    if isinstance(view_id, Refused):
        return view_id
    deleted = await session.scalar(
        delete(LeadView)
        .where(LeadView.id == view_id, LeadView.user_id == who.user_id)
        .returning(LeadView.id)
    )
    if deleted is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such view of yours", "view_id")
    return deleted
