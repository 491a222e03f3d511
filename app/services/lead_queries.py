"""Reading leads: tabs, filters, keyset pages, badge counts. Every read is scoped to the caller's
organisation, and only lead managers read at all."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, LeadFavorite
from app.domain.lifecycle import LeadOutcome, LeadStage, LeadTab, LeadType
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused

MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_SEARCH = 200
# What a timestamptz column stores without surprises.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 1, 1, tzinfo=UTC)


class LeadOrder(StrEnum):
    RECEIVED_AT_DESC = "RECEIVED_AT_DESC"
    RECEIVED_AT_ASC = "RECEIVED_AT_ASC"
    RESPOND_BY_ASC = "RESPOND_BY_ASC"
    UPDATED_AT_DESC = "UPDATED_AT_DESC"


# order -> (column, descending). `id` breaks ties in the same direction, so (column, id) is a
# total order and a keyset cursor never skips or repeats a lead.
ORDERS: dict[LeadOrder, tuple[str, bool]] = {
    LeadOrder.RECEIVED_AT_DESC: ("received_at", True),
    LeadOrder.RECEIVED_AT_ASC: ("received_at", False),
    LeadOrder.RESPOND_BY_ASC: ("respond_by", False),
    LeadOrder.UPDATED_AT_DESC: ("updated_at", True),
}


@dataclass(frozen=True, slots=True)
class LeadFilter:
    types: Sequence[LeadType] | None = None
    stages: Sequence[LeadStage] | None = None
    outcomes: Sequence[LeadOutcome] | None = None
    search: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    contact_requested: bool | None = None


@dataclass(slots=True)
class LeadPage:
    leads: list[Lead]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    # What totalCount needs, run only if a client asks for it.
    count_statement: Select[Any] | None = field(default=None, repr=False)


def encode_cursor(order: LeadOrder, value: datetime, lead_id: uuid.UUID) -> str:
    raw = json.dumps([order.value, value.isoformat(), str(lead_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _as_utc(value: datetime) -> datetime | None:
    """Naive times are read as UTC; None if the instant is outside what Postgres stores."""
    try:
        utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return utc if MIN_TIME <= utc <= MAX_TIME else None


def decode_cursor(cursor: str, order: LeadOrder) -> tuple[datetime, uuid.UUID] | Refused:
    bad = Refused.one(ErrorCode.VALIDATION, "is not a cursor from this list", "after")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return bad
    if not (
        isinstance(decoded, list)
        and len(decoded) == 3
        and all(isinstance(part, str) for part in decoded)
    ):
        return bad
    name, value, lead_id = decoded
    if name != order.value:
        return Refused.one(ErrorCode.VALIDATION, "the cursor belongs to another orderBy", "after")
    try:
        parsed = datetime.fromisoformat(value)
        key = uuid.UUID(lead_id)
    except ValueError:
        return bad
    at = _as_utc(parsed) if parsed.tzinfo is not None else None
    return (at, key) if at is not None else bad


def prefix_tsquery(text: str) -> str | None:
    """`acme corp` -> `'acme':* & 'corp':*`, so the list search matches as the user types."""
    words = re.findall(r"\w+", text.lower())[:16]
    return " & ".join(f"'{w}':*" for w in words) or None


def _scope(actor: Actor, tab: LeadTab) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Lead.organisation_id == actor.organisation_id]
    if tab is LeadTab.FAVORITES:
        conditions.append(
            Lead.id.in_(select(LeadFavorite.lead_id).where(LeadFavorite.user_id == actor.user_id))
        )
    else:
        conditions.append(Lead.tab == tab.value)
    return conditions


def _filters(f: LeadFilter) -> list[ColumnElement[bool]] | Refused:
    conditions: list[ColumnElement[bool]] = []
    if f.types is not None:
        conditions.append(Lead.type.in_([t.value for t in f.types]))
    if f.stages is not None:
        conditions.append(Lead.stage.in_([s.value for s in f.stages]))
    if f.outcomes is not None:
        conditions.append(Lead.outcome.in_([o.value for o in f.outcomes]))
    if f.search is not None and f.search.strip():
        if len(f.search) > MAX_SEARCH:
            return Refused.one(
                ErrorCode.VALIDATION, f"must be at most {MAX_SEARCH} characters", "filter", "search"
            )
        query = prefix_tsquery(f.search)
        if query is None:
            conditions.append(false())
        else:
            conditions.append(Lead.search_document.op("@@")(func.to_tsquery("simple", query)))
    bounds: dict[str, datetime | None] = {}
    for name, value in (("receivedFrom", f.received_from), ("receivedTo", f.received_to)):
        bounds[name] = _as_utc(value) if value is not None else None
        if value is not None and bounds[name] is None:
            return Refused.one(ErrorCode.VALIDATION, "is out of range", "filter", name)
    received_from, received_to = bounds["receivedFrom"], bounds["receivedTo"]
    if received_from is not None:
        conditions.append(Lead.received_at >= received_from)
    if received_to is not None:
        conditions.append(Lead.received_at < received_to)
    if received_from and received_to and received_from > received_to:
        return Refused.one(
            ErrorCode.VALIDATION, "receivedFrom is after receivedTo", "filter", "receivedFrom"
        )
    if f.contact_requested is not None:
        conditions.append(Lead.contact_requested.is_(f.contact_requested))
    return conditions


async def list_leads(
    session: AsyncSession,
    actor: Actor | None,
    tab: LeadTab,
    filter: LeadFilter | None = None,
    order: LeadOrder = LeadOrder.RECEIVED_AT_DESC,
    first: int | None = None,
    after: str | None = None,
) -> LeadPage | Refused:
    limit = DEFAULT_PAGE if first is None else first
    if not 0 <= limit <= MAX_PAGE:
        return Refused.one(ErrorCode.VALIDATION, f"must be between 0 and {MAX_PAGE}", "first")
    column_name, descending = ORDERS[order]
    keyset: tuple[datetime, uuid.UUID] | None = None
    if after is not None:
        decoded = decode_cursor(after, order)
        if isinstance(decoded, Refused):
            return decoded
        keyset = decoded
    conditions = _filters(filter or LeadFilter())
    if isinstance(conditions, Refused):
        return conditions
    if actor is None or not actor.manages_leads:
        # Anonymous callers and partner users without a referrals role see no leads.
        return LeadPage([], [], False, False, None)

    where = and_(*_scope(actor, tab), *conditions)
    column = getattr(Lead, column_name)
    statement = select(Lead).where(where)
    if keyset is not None:
        key = tuple_(column, Lead.id)
        bound = tuple_(literal(keyset[0]), literal(keyset[1]))
        statement = statement.where(key < bound if descending else key > bound)
    ordering = (column.desc(), Lead.id.desc()) if descending else (column.asc(), Lead.id.asc())
    rows = list((await session.scalars(statement.order_by(*ordering).limit(limit + 1))).all())
    has_next = len(rows) > limit
    rows = rows[:limit]
    return LeadPage(
        leads=rows,
        cursors=[encode_cursor(order, getattr(r, column_name), r.id) for r in rows],
        has_next_page=has_next,
        has_previous_page=after is not None,
        count_statement=select(func.count()).select_from(Lead).where(where),
    )


async def count_page(session: AsyncSession, page: LeadPage) -> int:
    if page.count_statement is None:
        return 0
    return int(await session.scalar(page.count_statement) or 0)


async def get_lead(session: AsyncSession, actor: Actor | None, raw_id: str) -> Lead | None:
    """The lead if the caller may see it; None for foreign, unknown or malformed ids alike."""
    if actor is None or not actor.manages_leads:
        return None
    try:
        lead_id = uuid.UUID(str(raw_id))
    except ValueError:
        return None
    return (
        await session.execute(
            select(Lead).where(Lead.id == lead_id, Lead.organisation_id == actor.organisation_id)
        )
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class LeadCount:
    tab: LeadTab
    stage: LeadStage
    count: int


async def lead_counts(session: AsyncSession, actor: Actor | None) -> list[LeadCount]:
    """Badge counts for every (tab, stage), zeros included, in one statement."""
    counts: dict[tuple[str, str], int] = {}
    if actor is not None and actor.manages_leads:
        by_tab = (
            select(Lead.tab, Lead.stage, func.count())
            .where(Lead.organisation_id == actor.organisation_id)
            .group_by(Lead.tab, Lead.stage)
        )
        favorites = (
            select(literal(LeadTab.FAVORITES.value), Lead.stage, func.count())
            .join(LeadFavorite, LeadFavorite.lead_id == Lead.id)
            .where(
                LeadFavorite.user_id == actor.user_id,
                Lead.organisation_id == actor.organisation_id,
            )
            .group_by(Lead.stage)
        )
        for tab, stage, count in (await session.execute(by_tab.union_all(favorites))).all():
            counts[(tab, stage)] = count
    return [
        LeadCount(tab, stage, counts.get((tab.value, stage.value), 0))
        for tab in LeadTab
        for stage in LeadStage
    ]
