"""The compiled read path's SQL: a whole GraphQL query becomes one statement whose single row
holds one value per root field, related rows included, so a request costs one round trip.

Each value is a record or an array of records that asyncpg decodes into Python tuples with
their Python types (datetimes, decimals, uuids); the GraphQL layer shapes them. What a list
selects, filters and orders is exactly what `lead_queries` selects, filters and orders (it shares
their checks; tests compare both paths on the same data). Every statement is scoped to the
caller's organisation in its WHERE clause.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.tenancy import NOBODY, Tenant, tenant_statement
from app.domain.lifecycle import LeadStage, LeadTab
from app.domain.privacy import CONTACT_FREE_SEARCH_COLUMNS, HIDDEN_OUTCOMES
from app.i18n import DEFAULT_LOCALE, DEFAULT_TIME_ZONE
from app.services.auth import Actor
from app.services.lead_queries import ORDERS, CheckedFilter, LeadOrder

TEAM_COLUMNS = ("id", "name", "email", "phone", "added_at")
OWNER_COLUMNS = ("id", "name", "email")
HISTORY_COLUMNS = (
    "id",
    "action",
    "from_stage",
    "to_stage",
    "outcome",
    "at",
    "changes",
    "actor_kind",
    "actor_name",
)
# A sender that is an organisation: its kind and name, and the sending user's name.
SENDER_COLUMNS = ("kind", "organisation_name", "user_name")
NOTIFICATION_COLUMNS = ("id", "kind", "title", "body", "lead_id", "created_at", "read_at")


# A lead's deal fields: a lead shows a deal once any of them is set.
DEAL_COLUMNS = (
    "deal_name",
    "estimated_value_amount",
    "estimated_value_currency",
    "estimated_purchase_date",
    "notes",
    "crm_id",
    "campaign_id",
    "decline_reason",
    "decline_notes",
    "final_value_amount",
    "final_value_currency",
    "closing_date",
    "lost_reason",
    "lost_notes",
)
# Values a lead's record may carry that Postgres works out: cheaper than fetching what they are
# made of. `{t}` is the leads row's alias.
DERIVED_COLUMNS = {
    "has_deal": "(" + " OR ".join(f"{{t}}.{c} IS NOT NULL" for c in DEAL_COLUMNS) + ")",
}


def _column(alias: str, column: str) -> str:
    derived = DERIVED_COLUMNS.get(column)
    return derived.format(t=alias) if derived is not None else f"{alias}.{column}"


class Params:
    """Positional parameters of one statement, numbered as they are added."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


@dataclass(frozen=True)
class LeadProjection:
    """What a selection needs of each lead: its columns, then the related rows it asks for, in
    this order in the lead's record."""

    columns: tuple[str, ...]
    team: bool = False
    history: bool = False
    sender: bool = False
    favorite: bool = False
    owner: bool = False
    slots: dict[str, int] = field(init=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        names = [*self.columns]
        names += [
            name
            for name in ("team", "history", "sender", "favorite", "owner")
            if getattr(self, name)
        ]
        object.__setattr__(self, "slots", {name: i for i, name in enumerate(names)})


def lead_record(
    p: LeadProjection, alias: str, actor: Actor, params: Params, *, derive: bool = True
) -> str:
    """ROW(...) of one lead of the row `alias`, with its related rows. `derive`: work out the
    derived columns here (else `alias` already has them)."""
    parts = [_column(alias, c) if derive else f"{alias}.{c}" for c in p.columns]
    if p.team:
        parts.append(
            "(SELECT array_agg(ROW(t.id, t.name, t.email, t.phone, t.added_at) "
            "ORDER BY t.added_at, t.id) FROM lead_team_members AS t "
            f"WHERE t.lead_id = {alias}.id)"
        )
    if p.history:
        parts.append(
            "(SELECT array_agg(ROW(h.id, h.action, h.from_stage, h.to_stage, h.outcome, h.at, "
            "h.changes::text, h.actor_kind, coalesce(u.name, k.name)) ORDER BY h.id) "
            "FROM lead_history AS h LEFT JOIN users AS u ON u.id = h.actor_user_id "
            f"LEFT JOIN api_keys AS k ON k.id = h.api_key_id WHERE h.lead_id = {alias}.id)"
        )
    if p.sender:
        parts.append(
            "(SELECT ROW(o.kind, o.name, (SELECT su.name FROM users AS su "
            f"WHERE su.id = {alias}.sender_user_id)) FROM organisations AS o "
            f"WHERE o.id = {alias}.sender_organisation_id)"
        )
    if p.favorite:
        parts.append(
            "EXISTS (SELECT 1 FROM lead_favorites AS f "
            f"WHERE f.lead_id = {alias}.id AND f.user_id = {params(actor.user_id)})"
        )
    if p.owner:
        parts.append(
            "(SELECT ROW(ou.id, ou.name, ou.email) FROM users AS ou "
            f"WHERE ou.id = {alias}.owner_user_id)"
        )
    return f"ROW({', '.join(parts)})"


# The inbox's word search: a statement that has it is planned for its words each time (see
# ReadPools).
WORD_SEARCH = "l.search_document @@ to_tsquery('simple', "


def _word_search_sql(query: str, hidden_before: str) -> str:
    """As lead_queries' `_word_search`: a lead whose contact is hidden matches without it."""
    contact_free = ", ".join(f"l.{column}" for column in CONTACT_FREE_SEARCH_COLUMNS)
    hidden = ", ".join(f"'{outcome}'" for outcome in sorted(HIDDEN_OUTCOMES))
    return (
        f"{WORD_SEARCH}{query}) AND (l.archived_at IS NULL OR l.outcome NOT IN ({hidden}) "
        f"OR l.archived_at > {hidden_before} "
        f"OR to_tsvector('simple', concat_ws(' ', {contact_free})) "
        f"@@ to_tsquery('simple', {query}))"
    )


def _filter_sql(
    f: CheckedFilter, params: Params, actor: Actor, contact_hidden_before: datetime
) -> list[str]:
    where = []
    for column, values in (("type", f.types), ("stage", f.stages), ("outcome", f.outcomes)):
        if values is not None:
            where.append(f"l.{column} = ANY({params(list(values))}::text[])")
    if f.search_query == "":
        where.append("false")
    elif f.search_query is not None:
        where.append(_word_search_sql(params(f.search_query), params(contact_hidden_before)))
    if f.received_from is not None:
        where.append(f"l.received_at >= {params(f.received_from)}")
    if f.received_to is not None:
        where.append(f"l.received_at < {params(f.received_to)}")
    if f.contact_requested is not None:
        where.append(f"l.contact_requested = {params(f.contact_requested)}")
    if f.updated_after is not None:
        where.append(f"l.updated_at > {params(f.updated_after)}")
    if f.crm_ids is not None:
        where.append(f"l.crm_id = ANY({params(list(f.crm_ids))}::text[])")
    lists: tuple[tuple[str, Sequence[object] | None, str], ...] = (
        ("country", f.countries, "text"),
        ("industry", f.industries, "text"),
        ("company_size", f.company_sizes, "text"),
        ("sender_organisation_id", f.sender_organisation_ids, "uuid"),
        ("campaign_id", f.campaign_ids, "text"),
    )
    for column, wanted, kind in lists:
        if wanted is not None:
            where.append(f"l.{column} = ANY({params(list(wanted))}::{kind}[])")
    if f.due_within_hours is not None:
        # lead_queries' `_filters` reads the same statement clock.
        hours = params(f.due_within_hours)
        where.append(
            f"l.stage = {params(LeadStage.RECEIVED.value)} AND l.respond_by >= now() "
            f"AND l.respond_by < now() + make_interval(0, 0, 0, 0, {hours})"
        )
    # lead_queries' `_owner_filters`.
    if f.assigned_to_me is not None:
        operator = "=" if f.assigned_to_me else "IS DISTINCT FROM"
        where.append(f"l.owner_user_id {operator} {params(actor.user_id)}::uuid")
    if f.owners is not None:
        where.append(f"l.owner_user_id = ANY({params(list(f.owners))}::uuid[])")
    if f.unassigned is not None:
        where.append(f"l.owner_user_id IS {'' if f.unassigned else 'NOT '}NULL")
    return where


@dataclass(frozen=True)
class LeadPageRequest:
    """A checked page request: where it reads, in which order, how many, after which key."""

    where: tuple[str, ...]
    order: LeadOrder
    limit: int
    after: tuple[Any, uuid.UUID] | None
    count: bool


def inbox_where(
    actor: Actor,
    tab: LeadTab,
    checked: CheckedFilter,
    params: Params,
    *,
    contact_hidden_before: datetime,
) -> tuple[str, ...]:
    """The conditions of a tab of the actor's organisation (lead_queries' `_scope`, `_filters`)."""
    where = [f"l.organisation_id = {params(actor.organisation_id)}"]
    if tab is LeadTab.FAVORITES:
        where.append(
            "l.id IN (SELECT lf.lead_id FROM lead_favorites AS lf "
            f"WHERE lf.user_id = {params(actor.user_id)})"
        )
    else:
        where.append(f"l.tab = {params(tab.value)}")
    return (*where, *_filter_sql(checked, params, actor, contact_hidden_before))


def sent_where(
    actor: Actor, checked: CheckedFilter, params: Params, *, contact_hidden_before: datetime
) -> tuple[str, ...]:
    return (
        f"l.sender_user_id = {params(actor.user_id)}",
        *_filter_sql(checked, params, actor, contact_hidden_before),
    )


def lead_page(
    p: LeadProjection, request: LeadPageRequest, actor: Actor, params: Params
) -> tuple[str, str]:
    """(total count or NULL, array of lead records in order): two columns, the page's limit + 1
    rows so that the caller knows whether there is a next page. (Two columns, not one record:
    asyncpg decodes arrays inside a record only when the outermost value is an array.)"""
    column, descending = ORDERS[request.order]
    direction = "DESC" if descending else "ASC"
    where = " AND ".join(request.where)
    keyset = ""
    if request.after is not None:
        value, row_id = request.after
        comparison = "<" if descending else ">"
        keyset = f" AND (l.{column}, l.id) {comparison} ({params(value)}, {params(row_id)})"
    needed = dict.fromkeys((*p.columns, "id", column, "sender_user_id", "sender_organisation_id"))
    if p.owner:
        needed["owner_user_id"] = None
    selected = ", ".join(
        f"{_column('l', c)} AS {c}" if c in DERIVED_COLUMNS else f"l.{c}" for c in needed
    )
    inner = (
        f"SELECT {selected} FROM leads AS l "
        f"WHERE {where}{keyset} ORDER BY l.{column} {direction}, l.id {direction} "
        f"LIMIT {params(request.limit + 1)}"
    )
    rows = (
        f"(SELECT array_agg({lead_record(p, 'l', actor, params, derive=False)} "
        f"ORDER BY l.{column} {direction}, l.id {direction}) FROM ({inner}) AS l)"
    )
    total = f"(SELECT count(*) FROM leads AS l WHERE {where})" if request.count else "NULL"
    return total, rows


def lead_by_id(p: LeadProjection, lead_id: uuid.UUID, actor: Actor, params: Params) -> str:
    """An array of the lead's record if it is the actor's organisation's; NULL otherwise. (An
    array, not the record: asyncpg decodes arrays inside a record only when the outermost
    value is an array.)"""
    return (
        f"(SELECT array_agg({lead_record(p, 'l', actor, params)}) FROM leads AS l "
        f"WHERE l.id = {params(lead_id)} AND l.organisation_id = {params(actor.organisation_id)})"
    )


def statement(columns: Sequence[str]) -> str | None:
    """One statement of the operation's columns (each a scalar subquery); None for none."""
    return "SELECT " + ", ".join(columns) if columns else None


async def read_lead(fetch: Fetch, p: LeadProjection, lead_id: uuid.UUID, actor: Actor) -> Any:
    """The record of a lead of the actor's organisation, in one statement (`lead_by_id`)."""
    params = Params()
    row = await fetch(
        f"SELECT {lead_by_id(p, lead_id, actor, params)}", params.values, tenant_of(actor)
    )
    [record] = row[0]
    return record


def lead_counts(actor: Actor, params: Params) -> str:
    """Array of (tab, stage, count) for the organisation's tabs and the actor's favorites."""
    org, user = params(actor.organisation_id), params(actor.user_id)
    return (
        "(SELECT array_agg(ROW(c.tab, c.stage, c.n)) FROM ("
        f"SELECT l.tab, l.stage, count(*) AS n FROM leads AS l WHERE l.organisation_id = {org} "
        "GROUP BY l.tab, l.stage UNION ALL "
        f"SELECT {params(LeadTab.FAVORITES.value)}::text, l.stage, count(*) FROM leads AS l "
        f"JOIN lead_favorites AS f ON f.lead_id = l.id "
        f"WHERE f.user_id = {user} AND l.organisation_id = {org} GROUP BY l.stage) AS c)"
    )


def notification_page(
    actor: Actor,
    *,
    unread_only: bool,
    limit: int,
    after: tuple[Any, uuid.UUID] | None,
    unread_count: bool,
    params: Params,
) -> tuple[str, str]:
    """(unread count or NULL, array of notification records, newest first): two columns."""
    user = params(actor.user_id)
    where = f"n.user_id = {user}" + (" AND n.read_at IS NULL" if unread_only else "")
    if after is not None:
        where += f" AND (n.created_at, n.id) < ({params(after[0])}, {params(after[1])})"
    columns = ", ".join(f"n.{c}" for c in NOTIFICATION_COLUMNS)
    rows = (
        f"(SELECT array_agg(ROW({columns}) ORDER BY n.created_at DESC, n.id DESC) FROM "
        f"(SELECT * FROM notifications AS n WHERE {where} "
        f"ORDER BY n.created_at DESC, n.id DESC LIMIT {params(limit + 1)}) AS n)"
    )
    unread = (
        f"(SELECT count(*) FROM notifications AS n WHERE n.user_id = {user} AND n.read_at IS NULL)"
        if unread_count
        else "NULL"
    )
    return unread, rows


# Runs one compiled statement for a tenant and answers its single row. Tenant None: the
# statement makes its tenant itself (the actor's lookup).
Fetch = Callable[[str, Sequence[Any], Tenant | None], Awaitable[Any]]


def tenant_of(actor: Actor | None) -> Tenant:
    return NOBODY if actor is None else actor.tenant


def pool_fetch(pools: ReadPools) -> Fetch:
    """Statements on the read pools, each alone in its implicit transaction: the tenant's
    settings are made inside the statement, and end with it."""

    async def fetch(sql: str, params: Sequence[Any], tenant: Tenant | None) -> Any:
        if tenant is not None:
            sql, params = tenant_statement(sql, params, tenant)
        pool = pools.planned_each_time if WORD_SEARCH in sql else pools.planned_once
        async with pool.acquire() as conn:
            return await conn.fetchrow(sql, *params)

    return fetch


def session_fetch(sessionmaker: async_sessionmaker[AsyncSession]) -> Fetch:
    """Statements on a session's connection, inside whatever transaction it is bound to (tests
    bind the app to their own rolled-back transaction, and count its statements). The session
    says nothing of the tenant on BEGIN: the statement's own settings are all it has, as on
    the read pool."""

    async def fetch(sql: str, params: Sequence[Any], tenant: Tenant | None) -> Any:
        if tenant is not None:
            sql, params = tenant_statement(sql, params, tenant)
        async with sessionmaker() as session:
            connection = await session.connection()
            return (await connection.exec_driver_sql(sql, tuple(params))).first()

    return fetch


@dataclass
class ReadPools:
    """The compiled path's connections: plain asyncpg, statements prepared once per connection,
    and no reset query on release (their statements change no session state).

    Most statements are planned once per connection and the plan kept (`plan_cache_mode`
    auto): an inbox page's plan does not depend on whose inbox it is, and planning it afresh
    every time, with the row-level security policies expanded into it, cost as much Postgres
    time as running it (measured: 0.95 against 0.50 ms a page). A word search is planned for
    its words each time: a kept generic plan turned a 4 ms search into 20 ms."""

    planned_once: asyncpg.Pool
    planned_each_time: asyncpg.Pool

    async def close(self) -> None:
        await self.planned_once.close()
        await self.planned_each_time.close()


async def create_read_pools(database_url: str, size: int, statement_timeout_ms: int) -> ReadPools:
    async def no_reset(conn: asyncpg.Connection) -> None:
        return None

    async def pool(name: str, max_size: int, plan_cache_mode: str) -> asyncpg.Pool:
        created = await asyncpg.create_pool(
            database_url,
            min_size=1,
            max_size=max_size,
            reset=no_reset,
            server_settings={
                "application_name": name,
                "statement_timeout": str(statement_timeout_ms),
                "plan_cache_mode": plan_cache_mode,
            },
        )
        assert created is not None
        return created

    return ReadPools(
        await pool("partner-leads-reads", size, "auto"),
        await pool("partner-leads-searches", max(1, size // 4), "force_custom_plan"),
    )


# The viewer's organisation, its profile and score, and the profile's locations with contacts.
ORGANISATION_COLUMNS = ("organisation_id", "slug", "organisation_name", "kind")
PROFILE_COLUMNS = (
    "profile_id",
    "name",
    "published",
    "published_at",
    "description",
    "website",
    "keywords",
    "industries",
    "solution_areas",
    "preferred_sizes",
    "competencies",
    "endorsements",
    "profile_organisation_id",
)
SCORE_COLUMNS = (
    "score",
    "answered_on_time_share",
    "median_response_hours",
    "expired_share",
    "leads_considered",
    "computed_at",
)
VIEWER_COLUMNS = (
    *ORGANISATION_COLUMNS,
    *PROFILE_COLUMNS,
    *SCORE_COLUMNS,
    "locations",
    "user_locale",
    "user_time_zone",
)
LOCATION_COLUMNS = ("id", "name", "address", "country", "contacts")
CONTACT_COLUMNS = ("id", "name", "email", "phone", "alerts_opted_out")


def own_organisation(actor: Actor, params: Params) -> str:
    """An array of the actor's organisation's record (VIEWER_COLUMNS): with its profile (NULLs
    without one), the score, and the locations by name with their contacts by name."""
    profile = ", ".join(f"p.{c}" for c in ("id", *PROFILE_COLUMNS[1:-1], "organisation_id"))
    score = ", ".join(f"s.{c}" for c in SCORE_COLUMNS)
    contacts = (
        "(SELECT array_agg(ROW(c.id, c.name, c.email, c.phone, c.alerts_opted_out) "
        "ORDER BY c.name, c.id) FROM location_contacts AS c WHERE c.location_id = pl.id)"
    )
    locations = (
        f"(SELECT array_agg(ROW(pl.id, pl.name, pl.address, pl.country, {contacts}) "
        "ORDER BY pl.name, pl.id) FROM profile_locations AS pl WHERE pl.profile_id = p.id)"
    )
    # The user's own language and zone (an API key, no user, reads as the defaults).
    user = f"(SELECT u.{{}} FROM users AS u WHERE u.id = {params(actor.user_id)})"
    preferences = (
        f"COALESCE({user.format('locale')}, '{DEFAULT_LOCALE}'), "
        f"COALESCE({user.format('time_zone')}, '{DEFAULT_TIME_ZONE}')"
    )
    return (
        f"(SELECT array_agg(ROW(o.id, o.slug, o.name, o.kind, {profile}, {score}, {locations}, "
        f"{preferences})) "
        "FROM organisations AS o "
        "LEFT JOIN business_profiles AS p ON p.organisation_id = o.id "
        "LEFT JOIN responsiveness_scores AS s ON s.profile_id = p.id "
        f"WHERE o.id = {params(actor.organisation_id)})"
    )
