"""Reading leads: tabs, filters, keyset pages, badge counts. Every read is scoped to the caller's
organisation, and only lead managers read at all."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, LeadFavorite
from app.domain.lifecycle import LeadOutcome, LeadStage, LeadTab, LeadType
from app.domain.privacy import CONTACT_FREE_SEARCH_COLUMNS, HIDDEN_OUTCOMES
from app.domain.reference import CompanySize
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused
from app.services.paging import Key, Keyset, Page, as_utc, decode_cursor, keyset_page, page_size

MAX_PAGE = 100
DEFAULT_PAGE = 20
MAX_SEARCH = 200
# A connector looks up one sync batch of its own ids at a time.
MAX_CRM_IDS = 100
CRM_ID_LENGTH = 100  # the column's
# A saved view or a list filter names a handful of values; more is a mistake, not a need.
MAX_FILTER_VALUES = 50
TEXT_VALUE_LENGTH = 100  # industry and campaign_id columns
# "Due within N hours": a month covers every response deadline (R7's longest is days).
MAX_DUE_WITHIN_HOURS = 720
COUNTRY_CODE = re.compile(r"[A-Z]{2}")

LeadPage = Page[Lead]


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
    # Changed after this instant (exclusive): a connector's "since my last sync".
    updated_after: datetime | None = None
    # Exactly these CRM ids (the partner's own, set with the deal).
    crm_ids: Sequence[str] | None = None
    # ISO 3166-1 alpha-2 codes, matched exactly.
    countries: Sequence[str] | None = None
    industries: Sequence[str] | None = None
    company_sizes: Sequence[CompanySize] | None = None
    sender_organisation_ids: Sequence[str] | None = None
    campaign_ids: Sequence[str] | None = None
    # RECEIVED leads whose response deadline falls in the next N hours.
    due_within_hours: int | None = None
    # Owners (issue 11): the caller's own leads (or, false, everyone else's and nobody's),
    # leads owned by these users, leads nobody owns (or, false, leads somebody owns).
    assigned_to_me: bool | None = None
    owners: Sequence[str] | None = None
    unassigned: bool | None = None


# What a sender narrows `sentLeads` by: the lead's own facts, never the partner's work on it
# (a search would probe the deal's name, CRM ids are the partner's, the deadline its concern).
SENDER_FILTER_FIELDS = frozenset(
    {
        "types",
        "stages",
        "outcomes",
        "received_from",
        "received_to",
        "updated_after",
        "countries",
        "industries",
        "company_sizes",
        "campaign_ids",
    }
)


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


@dataclass(frozen=True, slots=True)
class CheckedFilter:
    """A filter whose values were checked: what every list query applies, however it is built."""

    types: tuple[str, ...] | None
    stages: tuple[str, ...] | None
    outcomes: tuple[str, ...] | None
    # The prefix tsquery; "" when the search had no words (it then matches nothing).
    search_query: str | None
    received_from: datetime | None
    received_to: datetime | None
    contact_requested: bool | None
    updated_after: datetime | None
    crm_ids: tuple[str, ...] | None
    countries: tuple[str, ...] | None = None
    industries: tuple[str, ...] | None = None
    company_sizes: tuple[str, ...] | None = None
    sender_organisation_ids: tuple[uuid.UUID, ...] | None = None
    campaign_ids: tuple[str, ...] | None = None
    due_within_hours: int | None = None
    assigned_to_me: bool | None = None
    owners: tuple[uuid.UUID, ...] | None = None
    unassigned: bool | None = None


def _check_values(
    name: str, values: Sequence[str] | None, valid: re.Pattern[str] | None, what: str
) -> tuple[str, ...] | Refused | None:
    """At most MAX_FILTER_VALUES values, each 1 to TEXT_VALUE_LENGTH characters (or matching
    `valid`); a bad one is named by its index."""
    if values is None:
        return None
    if len(values) > MAX_FILTER_VALUES:
        return Refused.one(
            ErrorCode.VALIDATION, f"must list at most {MAX_FILTER_VALUES} values", "filter", name
        )
    for i, value in enumerate(values):
        if valid is not None and not valid.fullmatch(value):
            return Refused.one(ErrorCode.VALIDATION, f"is not {what}", "filter", name, str(i))
        if not 0 < len(value) <= TEXT_VALUE_LENGTH:
            return Refused.one(
                ErrorCode.VALIDATION,
                f"must be 1 to {TEXT_VALUE_LENGTH} characters",
                "filter",
                name,
                str(i),
            )
    return tuple(values)


def _check_uuids(name: str, values: Sequence[str] | None) -> tuple[uuid.UUID, ...] | Refused | None:
    if values is None:
        return None
    if len(values) > MAX_FILTER_VALUES:
        return Refused.one(
            ErrorCode.VALIDATION, f"must list at most {MAX_FILTER_VALUES} values", "filter", name
        )
    ids = []
    for i, value in enumerate(values):
        try:
            ids.append(uuid.UUID(str(value)))
        except ValueError:
            return Refused.one(ErrorCode.VALIDATION, "is not an id", "filter", name, str(i))
    return tuple(ids)


def _check_more(f: LeadFilter) -> dict[str, Any] | Refused:
    """The team filters (issue 11): country, industry, size, sender, campaign, due within."""
    checked: dict[str, Any] = {}
    for name, values, valid, what in (
        ("countries", f.countries, COUNTRY_CODE, "an ISO 3166-1 alpha-2 code, e.g. BR"),
        ("industries", f.industries, None, ""),
        ("campaign_ids", f.campaign_ids, None, ""),
    ):
        result = _check_values(name, values, valid, what)
        if isinstance(result, Refused):
            return result
        checked[name] = result
    senders = _check_uuids("sender_organisation_ids", f.sender_organisation_ids)
    if isinstance(senders, Refused):
        return senders
    checked["sender_organisation_ids"] = senders
    owners = _check_uuids("owners", f.owners)
    if isinstance(owners, Refused):
        return owners
    checked["owners"] = owners
    checked["assigned_to_me"] = f.assigned_to_me
    checked["unassigned"] = f.unassigned
    sizes = f.company_sizes
    if sizes is not None and len(sizes) > len(CompanySize):
        return Refused.one(
            ErrorCode.VALIDATION,
            f"must list at most {len(CompanySize)} sizes",
            "filter",
            "company_sizes",
        )
    checked["company_sizes"] = (
        tuple(CompanySize(s).value for s in sizes) if sizes is not None else None
    )
    hours = f.due_within_hours
    if hours is not None and not 1 <= hours <= MAX_DUE_WITHIN_HOURS:
        return Refused.one(
            ErrorCode.VALIDATION,
            f"must be 1 to {MAX_DUE_WITHIN_HOURS} hours",
            "filter",
            "due_within_hours",
        )
    checked["due_within_hours"] = hours
    return checked


def _check_crm_ids(crm_ids: Sequence[str] | None) -> tuple[str, ...] | Refused | None:
    if crm_ids is None:
        return None
    if len(crm_ids) > MAX_CRM_IDS:
        return Refused.one(
            ErrorCode.VALIDATION, f"must list at most {MAX_CRM_IDS} ids", "filter", "crm_ids"
        )
    for crm_id in crm_ids:
        if not 0 < len(crm_id) <= CRM_ID_LENGTH:
            return Refused.one(
                ErrorCode.VALIDATION,
                f"each id must be 1 to {CRM_ID_LENGTH} characters",
                "filter",
                "crm_ids",
            )
    return tuple(crm_ids)


def check_filter(f: LeadFilter) -> CheckedFilter | Refused:
    search_query = None
    if f.search is not None and f.search.strip():
        if len(f.search) > MAX_SEARCH:
            return Refused.one(
                ErrorCode.VALIDATION, f"must be at most {MAX_SEARCH} characters", "filter", "search"
            )
        search_query = prefix_tsquery(f.search) or ""
    bounds: dict[str, datetime | None] = {}
    for name, value in (
        ("received_from", f.received_from),
        ("received_to", f.received_to),
        ("updated_after", f.updated_after),
    ):
        bounds[name] = as_utc(value) if value is not None else None
        if value is not None and bounds[name] is None:
            return Refused.one(ErrorCode.VALIDATION, "is out of range", "filter", name)
    received_from, received_to = bounds["received_from"], bounds["received_to"]
    if received_from and received_to and received_from > received_to:
        return Refused.one(
            ErrorCode.VALIDATION, "the start is after the end", "filter", "received_from"
        )
    crm_ids = _check_crm_ids(f.crm_ids)
    if isinstance(crm_ids, Refused):
        return crm_ids
    more = _check_more(f)
    if isinstance(more, Refused):
        return more
    return CheckedFilter(
        types=tuple(t.value for t in f.types) if f.types is not None else None,
        stages=tuple(s.value for s in f.stages) if f.stages is not None else None,
        outcomes=tuple(o.value for o in f.outcomes) if f.outcomes is not None else None,
        search_query=search_query,
        received_from=received_from,
        received_to=received_to,
        contact_requested=f.contact_requested,
        updated_after=bounds["updated_after"],
        crm_ids=crm_ids,
        **more,
    )


def _owner_filters(checked: CheckedFilter, actor: Actor | None) -> list[ColumnElement[bool]]:
    """The owner filters; the compiled path's `_filter_sql` writes the same conditions."""
    conditions: list[ColumnElement[bool]] = []
    me = actor.user_id if actor is not None else None
    if checked.assigned_to_me is True:
        conditions.append(Lead.owner_user_id == me)
    elif checked.assigned_to_me is False:
        conditions.append(Lead.owner_user_id.is_distinct_from(me))
    if checked.owners is not None:
        conditions.append(Lead.owner_user_id.in_(checked.owners))
    if checked.unassigned is True:
        conditions.append(Lead.owner_user_id.is_(None))
    elif checked.unassigned is False:
        conditions.append(Lead.owner_user_id.is_not(None))
    return conditions


def _word_search(query: ColumnElement[Any], hidden_before: datetime) -> ColumnElement[bool]:
    """The words match; a lead whose contact is hidden matches without its contact's words."""
    contact_free = func.to_tsvector(
        "simple", func.concat_ws(" ", *(getattr(Lead, c) for c in CONTACT_FREE_SEARCH_COLUMNS))
    )
    return and_(
        Lead.search_document.op("@@")(query),
        or_(
            Lead.archived_at.is_(None),
            Lead.outcome.not_in(sorted(HIDDEN_OUTCOMES)),
            Lead.archived_at > hidden_before,
            contact_free.op("@@")(query),
        ),
    )


def _filters(
    f: LeadFilter, actor: Actor | None = None, *, contact_hidden_before: datetime
) -> list[ColumnElement[bool]] | Refused:
    """`contact_hidden_before`: privacy.contact_hidden_before at the request's clock."""
    checked = check_filter(f)
    if isinstance(checked, Refused):
        return checked
    conditions: list[ColumnElement[bool]] = []
    if checked.types is not None:
        conditions.append(Lead.type.in_(checked.types))
    if checked.stages is not None:
        conditions.append(Lead.stage.in_(checked.stages))
    if checked.outcomes is not None:
        conditions.append(Lead.outcome.in_(checked.outcomes))
    if checked.search_query == "":
        conditions.append(false())
    elif checked.search_query is not None:
        query = func.to_tsquery("simple", checked.search_query)
        conditions.append(_word_search(query, contact_hidden_before))
    if checked.received_from is not None:
        conditions.append(Lead.received_at >= checked.received_from)
    if checked.received_to is not None:
        conditions.append(Lead.received_at < checked.received_to)
    if checked.contact_requested is not None:
        conditions.append(Lead.contact_requested.is_(checked.contact_requested))
    if checked.updated_after is not None:
        conditions.append(Lead.updated_at > checked.updated_after)
    if checked.crm_ids is not None:
        conditions.append(Lead.crm_id.in_(checked.crm_ids))
    for column, values in (
        (Lead.country, checked.countries),
        (Lead.industry, checked.industries),
        (Lead.company_size, checked.company_sizes),
        (Lead.sender_organisation_id, checked.sender_organisation_ids),
        (Lead.campaign_id, checked.campaign_ids),
    ):
        if values is not None:
            conditions.append(column.in_(values))
    if checked.due_within_hours is not None:
        # The statement's clock (`now()`), as the compiled path reads it: both agree.
        conditions.append(Lead.stage == LeadStage.RECEIVED.value)
        conditions.append(Lead.respond_by >= func.now())
        conditions.append(
            Lead.respond_by < func.now() + func.make_interval(0, 0, 0, 0, checked.due_within_hours)
        )
    return conditions + _owner_filters(checked, actor)


@dataclass(frozen=True, slots=True)
class _PageRequest:
    order: LeadOrder
    limit: int
    keyset: Keyset
    after: tuple[Key, uuid.UUID] | None


def _page_request(first: int | None, after: str | None, order: LeadOrder) -> _PageRequest | Refused:
    """The page size, the order's keyset and the cursor's key, or why they are wrong."""
    limit = page_size(first, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    if isinstance(limit, Refused):
        return limit
    column_name, descending = ORDERS[order]
    keyset = Keyset(order.value, getattr(Lead, column_name), Lead.id, descending)
    key = decode_cursor(after, keyset.tag, datetime) if after is not None else None
    if isinstance(key, Refused):
        return key
    return _PageRequest(order, limit, keyset, key)


async def _lead_page(
    session: AsyncSession, where: ColumnElement[bool], request: _PageRequest
) -> LeadPage:
    column_name = ORDERS[request.order][0]
    return await keyset_page(
        session,
        select(Lead).where(where),
        request.keyset,
        limit=request.limit,
        after=request.after,
        key_of=lambda lead: (getattr(lead, column_name), lead.id),
        count_statement=select(func.count()).select_from(Lead).where(where),
    )


async def list_leads(
    session: AsyncSession,
    actor: Actor | None,
    tab: LeadTab,
    filter: LeadFilter | None = None,
    order: LeadOrder = LeadOrder.RECEIVED_AT_DESC,
    first: int | None = None,
    after: str | None = None,
    *,
    contact_hidden_before: datetime,
) -> LeadPage | Refused:
    request = _page_request(first, after, order)
    if isinstance(request, Refused):
        return request
    conditions = _filters(
        filter or LeadFilter(), actor, contact_hidden_before=contact_hidden_before
    )
    if isinstance(conditions, Refused):
        return conditions
    if actor is None or not actor.manages_leads:
        # Anonymous callers and partner users without a referrals role see no leads.
        return Page.empty()
    return await _lead_page(session, and_(*_scope(actor, tab), *conditions), request)


async def list_sent_leads(
    session: AsyncSession,
    actor: Actor | None,
    first: int | None = None,
    after: str | None = None,
    filter: LeadFilter | None = None,
    *,
    contact_hidden_before: datetime,
) -> LeadPage | Refused:
    """What the caller sent, newest first, with each lead's stage and outcome: for platform
    staff and for partners who referred leads. Others (and anonymous callers) get nothing.
    `filter` holds only what a sender may narrow by (SENDER_FILTER_FIELDS)."""
    order = LeadOrder.RECEIVED_AT_DESC
    request = _page_request(first, after, order)
    if isinstance(request, Refused):
        return request
    conditions = _filters(filter or LeadFilter(), contact_hidden_before=contact_hidden_before)
    if isinstance(conditions, Refused):
        return conditions
    if actor is None or not (actor.organisation_kind == "PLATFORM" or actor.manages_leads):
        return Page.empty()
    return await _lead_page(
        session, and_(Lead.sender_user_id == actor.user_id, *conditions), request
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


async def get_lead_by_crm_id(
    session: AsyncSession, actor: Actor | None, crm_id: str
) -> Lead | None:
    """The caller's organisation's lead with this CRM id; None when there is none (or the caller
    manages no leads). CRM ids are the partner's and not unique: the latest updated wins."""
    if actor is None or not actor.manages_leads or not 0 < len(crm_id) <= CRM_ID_LENGTH:
        return None
    return (
        await session.execute(
            select(Lead)
            .where(Lead.organisation_id == actor.organisation_id, Lead.crm_id == crm_id)
            .order_by(Lead.updated_at.desc(), Lead.id.desc())
            .limit(1)
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


def export_query(
    actor: Actor,
    tab: LeadTab,
    filter: LeadFilter | None,
    order: LeadOrder,
    columns: Sequence[ColumnElement[Any]],
    *,
    contact_hidden_before: datetime,
) -> Select[Any] | Refused:
    """`columns` of every lead the `leads` field would list for this tab, filter and order (all
    pages, in the same keyset order), or why the filter is wrong. Lead managers only."""
    conditions = _filters(
        filter or LeadFilter(), actor, contact_hidden_before=contact_hidden_before
    )
    if isinstance(conditions, Refused):
        return conditions
    column_name, descending = ORDERS[order]
    keyset = Keyset(order.value, getattr(Lead, column_name), Lead.id, descending)
    return select(*columns).where(*_scope(actor, tab), *conditions).order_by(*keyset.ordering())
