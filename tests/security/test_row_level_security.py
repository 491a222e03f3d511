"""The second tenancy wall (issue 9, section 5): row-level security under the API's scoping.

The API and the workers connect as roles that own no table and cannot bypass the policies;
each transaction names its tenant in transaction-scoped settings. A query that forgot its
organisation filter sees one tenant's rows, a transaction that names nobody sees public rows
only, and a pooled connection never carries one request's tenant into the next."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import models
from app.db.tenancy import NOBODY, Tenant, acting_for, role_problem, tenant_statement
from app.db.urls import APP_ROLE, WORKER_ROLE
from app.main import create_app
from app.services.auth import issue_token
from app.services.compiled_reads import WORD_SEARCH, create_read_pools, pool_fetch
from tests.factories import World, make_lead, make_partner, make_profile
from tests.graphql_client import asgi_client
from workers.settings import build_worker

TENANT_TABLES_WITH_ORGANISATION = ("leads", "users", "webhook_endpoints", "outbox")


async def _as_user(conn: AsyncConnection | AsyncSession, user_id: uuid.UUID) -> None:
    """The request's first statement, as the API makes it: the actor's lookup, which names the
    transaction's tenant."""
    row = (
        await conn.execute(text("SELECT id FROM partner_leads_actor(:u)"), {"u": user_id})
    ).one_or_none()
    assert row is not None


async def _scalar(conn: AsyncConnection | AsyncSession, sql: str, **params: Any) -> Any:
    return (await conn.execute(text(sql), params)).scalar()


# --- the roles and the catalogue -----------------------------------------------------------


async def test_the_api_and_the_workers_connect_as_roles_the_policies_apply_to(
    app_engine: AsyncEngine, worker_engine: AsyncEngine
) -> None:
    for engine, role in ((app_engine, APP_ROLE), (worker_engine, WORKER_ROLE)):
        async with engine.connect() as conn:
            assert await _scalar(conn, "SELECT current_user") == role
            assert await role_problem(conn) is None
            superuser, bypass = (
                await conn.execute(
                    text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :r"),
                    {"r": role},
                )
            ).one()
            assert (superuser, bypass) == (False, False)
            owned = await _scalar(
                conn, "SELECT count(*) FROM pg_tables WHERE tableowner = :r", r=role
            )
            assert owned == 0
        # No DDL either: the public schema gives them USAGE only.
        with pytest.raises(DBAPIError, match="permission denied"):
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE sneaky (id int)"))


async def test_every_table_is_behind_row_level_security_with_policies_for_both_roles(
    connection: AsyncConnection,
) -> None:
    """A table added without policies fails here, before it can leak."""
    rows = (
        await connection.execute(
            text(
                """SELECT c.relname, c.relrowsecurity,
                          array(SELECT DISTINCT unnest(p.polroles)::regrole::text
                                FROM pg_policy AS p WHERE p.polrelid = c.oid)
                   FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'public' AND c.relkind = 'r'
                     AND c.relname <> 'alembic_version'"""
            )
        )
    ).all()
    assert len(rows) >= 18
    for table, secured, roles in rows:
        assert secured, f"{table} has row-level security off"
        assert {APP_ROLE, WORKER_ROLE} <= set(roles), f"{table} lacks a policy: {roles}"


async def test_the_api_refuses_to_start_as_a_role_that_bypasses_the_wall(
    settings: Settings,
) -> None:
    owner = settings.model_copy(update={"app_database_url": settings.database_url})
    app = create_app(owner)
    with pytest.raises(RuntimeError, match="superuser"):
        async with app.router.lifespan_context(app):
            pass


async def test_the_worker_refuses_to_start_as_a_role_that_bypasses_the_wall(
    settings: Settings,
) -> None:
    owner = settings.model_copy(update={"worker_database_url": settings.database_url})
    worker = build_worker(owner)
    ctx: dict[str, Any] = {"redis": None}
    with pytest.raises(RuntimeError, match=r"the worker connects as .*superuser"):
        await worker.on_startup(ctx)
    assert "engine" not in ctx


# --- a query that forgot its organisation filter ---------------------------------------------


@pytest.fixture
async def two_tenants(session: AsyncSession) -> tuple[Any, Any]:
    """Two partners with leads of their own, one of them sent by the other, in the test's
    rolled-back transaction."""
    mine, theirs = await make_partner(session), await make_partner(session)
    for _ in range(3):
        await make_lead(session, organisation_id=mine.organisation_id)
        await make_lead(session, organisation_id=theirs.organisation_id)
    # A referral from `mine` to `theirs`: `mine` sees it as its sender.
    await make_lead(
        session,
        organisation_id=theirs.organisation_id,
        sender_organisation_id=mine.organisation_id,
        sender_user_id=mine.referrals_admin,
    )
    session.add(
        models.WebhookEndpoint(
            id=uuid.uuid4(),
            organisation_id=theirs.organisation_id,
            url="https://hooks.example/theirs",
            events=["lead.received"],
            secret="s" * 32,
        )
    )
    await session.flush()
    return mine, theirs


async def test_a_query_that_forgot_its_organisation_filter_sees_one_tenant(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    two_tenants: tuple[Any, Any],
) -> None:
    mine, theirs = two_tenants
    async with sessionmaker() as app:
        await _as_user(app, mine.referrals_admin)
        # No WHERE at all: Postgres scopes it.
        leads = (await app.execute(select(models.Lead))).scalars().all()
        assert len(leads) == 4
        assert all(
            lead.organisation_id == mine.organisation_id
            or lead.sender_organisation_id == mine.organisation_id
            for lead in leads
        )
        users = (await app.execute(select(models.User.organisation_id))).scalars().all()
        assert set(users) == {mine.organisation_id}
        assert await _scalar(app, "SELECT count(*) FROM webhook_endpoints") == 0
        visible_history = await _scalar(app, "SELECT count(*) FROM lead_history")
    # Every history row of a visible lead, and no other.
    owner_count = await _scalar(
        session,
        "SELECT count(*) FROM lead_history AS h JOIN leads AS l ON l.id = h.lead_id "
        "WHERE l.organisation_id = :o OR l.sender_organisation_id = :o",
        o=mine.organisation_id,
    )
    assert visible_history == owner_count == 4

    async with sessionmaker() as app:
        await _as_user(app, theirs.referrals_admin)
        assert await _scalar(app, "SELECT count(*) FROM leads") == 4
        assert await _scalar(app, "SELECT count(*) FROM webhook_endpoints") == 1
        # The referral's sender is named to the partner that received it, and no one else
        # of the sender's organisation is.
        senders = await _scalar(
            app, "SELECT count(*) FROM users WHERE organisation_id = :o", o=mine.organisation_id
        )
        assert senders == 1


async def test_writes_outside_the_tenant_change_nothing_or_are_refused(
    sessionmaker: async_sessionmaker[AsyncSession], two_tenants: tuple[Any, Any]
) -> None:
    mine, theirs = two_tenants
    async with sessionmaker() as app:
        await _as_user(app, mine.referrals_admin)
        updated = await app.execute(
            text("UPDATE leads SET notes = 'mine now' WHERE organisation_id = :o"),
            {"o": theirs.organisation_id},
        )
        assert updated.rowcount == 0  # type: ignore[attr-defined]
        # Not even the referral it sent: the partner works it, not the sender.
        sent = await app.execute(
            text("UPDATE leads SET notes = 'x' WHERE sender_organisation_id = :o"),
            {"o": mine.organisation_id},
        )
        assert sent.rowcount == 0  # type: ignore[attr-defined]
        deleted = await app.execute(text("DELETE FROM leads"))
        assert deleted.rowcount == 0  # type: ignore[attr-defined]
    async with sessionmaker() as app:
        await _as_user(app, mine.partner_admin)
        with pytest.raises(DBAPIError, match="row-level security"):
            await app.execute(
                text(
                    "INSERT INTO webhook_endpoints (id, organisation_id, url, events, secret) "
                    "VALUES (:id, :o, 'https://x.example', '{}', :s)"
                ),
                {"id": uuid.uuid4(), "o": theirs.organisation_id, "s": "s" * 32},
            )


async def test_a_transaction_that_names_nobody_sees_public_rows_only(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    two_tenants: tuple[Any, Any],
    world: World,
) -> None:
    hidden = await make_profile(session, name="Not yet published", published=False)
    async with sessionmaker() as app:
        for table in (
            "leads",
            "users",
            "lead_history",
            "lead_team_members",
            "lead_favorites",
            "notifications",
            "webhook_endpoints",
            "outbox",
            "deliveries",
            "location_contacts",
            "intake_requests",
        ):
            assert await _scalar(app, f"SELECT count(*) FROM {table}") == 0, table
        public = await _scalar(app, "SELECT count(*) FROM business_profiles")
        assert (
            await _scalar(app, "SELECT count(*) FROM business_profiles WHERE id = :p", p=hidden.id)
            == 0
        )
    published = await _scalar(session, "SELECT count(*) FROM business_profiles WHERE published")
    assert public == published > 0


async def test_acting_for_another_organisation_lasts_for_its_block(
    sessionmaker: async_sessionmaker[AsyncSession], two_tenants: tuple[Any, Any]
) -> None:
    mine, theirs = two_tenants
    count = "SELECT count(*) FROM leads WHERE organisation_id = :o"
    async with sessionmaker() as app:
        await _as_user(app, mine.referrals_admin)
        assert await _scalar(app, count, o=theirs.organisation_id) == 1  # the referral
        async with acting_for(app, theirs.organisation_id):
            assert await _scalar(app, count, o=theirs.organisation_id) == 4
        assert await _scalar(app, count, o=theirs.organisation_id) == 1


async def test_the_workers_see_every_tenant_by_their_own_policies(
    worker_sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    two_tenants: tuple[Any, Any],
) -> None:
    async with worker_sessionmaker() as worker:
        assert await _scalar(worker, "SELECT current_user") == WORKER_ROLE
        seen = await _scalar(worker, "SELECT count(*) FROM leads")
    assert seen == await _scalar(session, "SELECT count(*) FROM leads")


async def test_an_inactive_user_names_no_tenant(
    sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, world: World
) -> None:
    await session.execute(
        text("UPDATE users SET active = false WHERE id = :u"), {"u": world.contoso.member}
    )
    async with sessionmaker() as app:
        found = await app.execute(
            text("SELECT * FROM partner_leads_actor(:u)"), {"u": world.contoso.member}
        )
        assert found.first() is None
        assert await _scalar(app, "SELECT current_setting('app.organisation_id', true)") in (
            None,
            "",
        )
        assert await _scalar(app, "SELECT count(*) FROM leads") == 0


# --- pooled connections ----------------------------------------------------------------------


async def test_a_pooled_connection_never_carries_a_tenant_into_the_next_transaction(
    app_engine: AsyncEngine, world: World
) -> None:
    """One connection (the pool's), two transactions: the first names contoso's admin, the
    second nobody. The second sees nothing of contoso's."""
    async with app_engine.connect() as conn:
        async with conn.begin():
            pid = await _scalar(conn, "SELECT pg_backend_pid()")
            await _as_user(conn, world.contoso.referrals_admin)
            assert await _scalar(conn, "SELECT count(*) FROM leads") > 0
        async with conn.begin():
            assert await _scalar(conn, "SELECT pg_backend_pid()") == pid
            assert await _scalar(conn, "SELECT current_setting('app.organisation_id', true)") in (
                None,
                "",
            )
            assert await _scalar(conn, "SELECT count(*) FROM leads") == 0


async def test_the_read_pool_statement_makes_its_tenant_and_leaves_none_behind(
    settings: Settings, session: AsyncSession, world: World
) -> None:
    assert settings.api_database_url
    pools = await create_read_pools(settings.api_database_url, 1, 5_000)
    pool = pools.planned_once
    try:
        fetch = pool_fetch(pools)
        contoso = Tenant(world.contoso.organisation_id, world.contoso.referrals_admin)
        row = await fetch(
            "SELECT (SELECT count(*) FROM leads) AS n, "
            "(SELECT array_agg(DISTINCT organisation_id) FROM leads "
            " WHERE sender_organisation_id IS DISTINCT FROM organisation_id) AS orgs",
            [],
            contoso,
        )
        expected = await _scalar(
            session,
            "SELECT count(*) FROM leads WHERE organisation_id = :o OR sender_organisation_id = :o",
            o=world.contoso.organisation_id,
        )
        assert row["n"] == expected > 0
        assert world.contoso.organisation_id in row["orgs"]
        # The pool's one connection, right after: no tenant, nothing visible.
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT current_setting('app.organisation_id', true)") in (
                None,
                "",
            )
            assert await conn.fetchval("SELECT count(*) FROM leads") == 0
        nobody = await fetch("SELECT count(*) AS n FROM leads", [], NOBODY)
        assert nobody["n"] == 0
    finally:
        await pools.close()


async def test_word_searches_are_planned_for_their_words_and_the_rest_once(
    settings: Settings,
) -> None:
    assert settings.api_database_url
    pools = await create_read_pools(settings.api_database_url, 4, 5_000)
    mode = "SELECT current_setting('plan_cache_mode') AS mode"
    try:
        fetch = pool_fetch(pools)
        assert (await fetch(mode, [], NOBODY))["mode"] == "auto"
        searching = (
            f"{mode} FROM (SELECT to_tsvector('simple', 'cloud move') AS search_document) AS l "
            f"WHERE {WORD_SEARCH}$1)"
        )
        assert (await fetch(searching, ["cloud"], NOBODY))["mode"] == "force_custom_plan"
    finally:
        await pools.close()


async def test_the_tenant_statement_runs_its_settings_before_every_read() -> None:
    """The wrapper's shape: the settings' subquery is the outer side, the statement a LATERAL
    subquery gated on it (see tenant_statement)."""
    sql, params = tenant_statement("SELECT $1::int AS x", [7], NOBODY)
    assert params == (7, "", "", "")
    assert "CROSS JOIN LATERAL" in sql and "OFFSET 0" in sql
    assert sql.index("set_config") < sql.index("SELECT $1::int")


async def test_requests_on_one_connection_each_see_their_own_tenant(
    settings: Settings, session: AsyncSession, world: World
) -> None:
    """The app as it runs in production (its own engine and read pool, one connection each):
    contoso's admin reads and writes, then fabrikam's reads on the same connections and sees
    fabrikam's inbox, then an anonymous caller sees no inbox at all."""
    one = settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0, "read_pool_size": 1})
    app = create_app(one)
    query = "{ leads(tab: MARKETPLACE, first: 50) { totalCount edges { node { id } } } }"
    general = "{ leads(tab: MARKETPLACE, first: 50) { totalCount } viewer { user { name } } }"
    async with asgi_client(app) as http:

        async def ask(user: uuid.UUID | None, document: str) -> dict[str, Any]:
            headers = (
                {} if user is None else {"Authorization": f"Bearer {issue_token(settings, user)}"}
            )
            response = await http.post("/graphql", json={"query": document}, headers=headers)
            return dict(response.json())

        contoso = await ask(world.contoso.referrals_admin, query)
        assert contoso["data"]["leads"]["totalCount"] > 0
        await ask(world.contoso.referrals_admin, general)
        fabrikam = await ask(world.fabrikam.referrals_admin, query)
        ids = [e["node"]["id"] for e in fabrikam["data"]["leads"]["edges"]]
        owners = {
            row[0]
            for row in (
                await session.execute(
                    text("SELECT organisation_id FROM leads WHERE id = ANY(:ids)"),
                    {"ids": [uuid.UUID(i) for i in ids]},
                )
            ).all()
        }
        # Had contoso's tenant stayed on the connection, fabrikam's own WHERE and contoso's
        # policies together would have shown nothing.
        assert ids and owners == {world.fabrikam.organisation_id}
        anonymous = await ask(None, query)
        assert anonymous["data"]["leads"] == {"totalCount": 0, "edges": []}


async def test_asyncpg_refuses_the_app_role_any_table_it_was_not_granted(
    settings: Settings,
) -> None:
    assert settings.api_database_url
    conn = await asyncpg.connect(settings.api_database_url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM alembic_version")
    finally:
        await conn.close()
