"""The bench world: its own Postgres (embedded in .data/bench, or BENCH_DATABASE_URL), built once
per scale and reused by every later run.

    small  demo world + 200,000 leads over 20 bulk partners (the world of earlier RESULTS.md runs)
    full   demo world + 3,000,000 leads over 5,000 bulk partners, skewed so that inboxes range
           from ~400 to 120,000 leads, and 50,000 published profiles for searchPartners

Besides the app's tables the world has a `bench` schema (never exposed to PostGraphile) that
says the world is complete, which partner's inbox is under test, and which leads M1 may accept.
A world whose build was interrupted is dropped and built again.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import jwt

from app.config import PROJECT_ROOT, AppEnv, Settings
from app.db.migrate import upgrade
from app.db.urls import APP_ROLE, database_url_for
from app.dev.stack import DevStack, ensure_database
from app.services.auth import issue_token

T = TypeVar("T")

DATA_DIR = PROJECT_ROOT / ".data" / "bench"
# PostGraphile connects as this role: it may read every table and change leads (M1), no more.
GRAPHILE_ROLE = "bench_graphile"
# M1 accepts each of these leads once per run; they are put back to RECEIVED between runs.
M1_POOL = int(os.environ.get("BENCH_M1_POOL", "20000"))


@dataclass(frozen=True)
class Scale:
    name: str
    database: str
    # (partners, leads) per seed_bulk call: one call spreads its leads evenly over its partners,
    # so several calls make inboxes of different sizes.
    bulk: tuple[tuple[int, int], ...]
    search_profiles: int  # published profiles in all (extra ones are copies, without leads)

    @property
    def leads(self) -> int:
        return sum(n for _, n in self.bulk)

    @property
    def partners(self) -> int:
        return sum(p for p, _ in self.bulk)


SCALES = {
    "small": Scale("small", "partner_leads_bench", ((20, 200_000),), 0),
    "full": Scale(
        "full",
        "partner_leads_bench_full",
        ((1, 120_000), (49, 880_000), (4_950, 2_000_000)),
        50_000,
    ),
}


@dataclass
class Inbox:
    """One partner's inbox and the referrals admin who reads it."""

    organisation_id: uuid.UUID
    user_id: uuid.UUID
    slug: str
    leads: int  # in the QUALIFIED tab (Q1, Q2)
    token: str = ""
    # PostGraphile's: the same user, with the organisation as a claim its context turns into
    # the transaction's tenant settings (bench/postgraphile.config.js).
    graphile_token: str = ""


@dataclass
class World:
    scale: Scale
    settings: Settings
    database_url: str
    graphile_url: str
    pgdata: Path | None  # the embedded server's data folder (None: BENCH_DATABASE_URL)
    target: Inbox  # the biggest bulk inbox: Q1, Q2, Q3
    m1: Inbox  # whose M1 pool leads are accepted
    smallest: Inbox  # the smallest bulk inbox (Q1 at both ends, full scale)
    seller_id: uuid.UUID  # platform seller: suggestPartners
    q3_ids: list[str]
    m1_pool: list[str]
    meta: dict[str, Any]
    pg_stat_statements: bool
    built_seconds: float | None = None  # set when this run built the world
    notes: list[str] = field(default_factory=list)

    def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        return run_sql(self.database_url, work)


def run_sql(url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def _run() -> T:
        conn = await asyncpg.connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(_run())


def _settings(url: str, redis_url: str) -> Settings:
    return Settings(app_env=AppEnv.TEST, database_url=url, redis_url=redis_url)


# --- the server ---------------------------------------------------------------------------------


# The bench Postgres is configured as a server on a machine of this size would be, not as
# initdb's defaults (128 MB of shared buffers, a checkpoint per GB of WAL): with the defaults a
# write-heavy timer (the expiry backlog) spends most of its time writing full-page images after
# each of many checkpoints. Both peers read from this one server.
SERVER_SETTINGS = {
    "shared_buffers": "2GB",
    "wal_buffers": "64MB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
}


def start_stack(scale: Scale) -> DevStack:
    """The bench Postgres (and a Valkey for the API's job queue), with pg_stat_statements and
    SERVER_SETTINGS."""
    url = os.environ.get("BENCH_DATABASE_URL")
    stack = DevStack(DATA_DIR, database_url=url, database_name=scale.database).start()
    if url is None and not _configured(stack):
        # Both need a restart: written with ALTER SYSTEM (into the data folder's
        # postgresql.auto.conf, so later starts keep them), then stop and start.
        assert stack.database_url
        run_sql(stack.database_url, _configure)
        stack.stop()
        stack = DevStack(DATA_DIR, database_name=scale.database).start()
        if not _configured(stack):
            print(
                "! the bench Postgres could not be restarted with pg_stat_statements and its "
                "settings (another process holds it open): statement counts may be missing",
                flush=True,
            )
    return stack


def _configured(stack: DevStack) -> bool:
    assert stack.database_url

    async def check(conn: asyncpg.Connection) -> bool:
        libraries = await conn.fetchval("SHOW shared_preload_libraries")
        if "pg_stat_statements" not in (libraries or ""):
            return False
        for name, value in SERVER_SETTINGS.items():
            if await conn.fetchval(f"SHOW {name}") != value:
                return False
        return True

    return run_sql(stack.database_url, check)


async def _configure(conn: asyncpg.Connection) -> None:
    current = [
        lib.strip()
        for lib in (await conn.fetchval("SHOW shared_preload_libraries") or "").split(",")
        if lib.strip()
    ]
    if "pg_stat_statements" not in current:
        value = ",".join([*current, "pg_stat_statements"])
        await conn.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{value}'")
    for name, value in SERVER_SETTINGS.items():
        await conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")


def pgdata_of(stack: DevStack) -> Path | None:
    return DATA_DIR / "pg" if "postgres" in stack.embedded else None


# --- building -----------------------------------------------------------------------------------


async def _meta(conn: asyncpg.Connection) -> dict[str, Any]:
    await conn.execute(
        "CREATE SCHEMA IF NOT EXISTS bench;"
        "CREATE TABLE IF NOT EXISTS bench.meta (key text PRIMARY KEY, value jsonb NOT NULL);"
        "CREATE TABLE IF NOT EXISTS bench.m1_pool (id uuid PRIMARY KEY)"
    )
    rows = await conn.fetch("SELECT key, value FROM bench.meta")
    return {r["key"]: json.loads(r["value"]) for r in rows}


async def _set_meta(conn: asyncpg.Connection, key: str, value: Any) -> None:
    await conn.execute(
        "INSERT INTO bench.meta VALUES ($1, $2::jsonb) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        key,
        json.dumps(value),
    )


async def _build(settings: Settings, scale: Scale) -> None:
    from app.dev.bulk import seed_bulk
    from app.dev.demo_world import seed_demo

    await seed_demo(settings)
    for partners, leads in scale.bulk:
        started = time.monotonic()
        print(f"seeding {leads:,} leads over {partners:,} partners ...", flush=True)
        await seed_bulk(settings, partners=partners, leads=leads, progress=True)
        print(f"  {time.monotonic() - started:.0f} s", flush=True)


async def _inboxes(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Bulk partners by the size of their QUALIFIED tab, biggest first, with their referrals
    admin."""
    return await conn.fetch(
        """
        SELECT o.id AS organisation_id, o.slug, u.id AS user_id, count(l.id) AS leads
        FROM organisations o
        JOIN users u ON u.organisation_id = o.id AND 'REFERRALS_ADMIN' = ANY(u.roles)
        LEFT JOIN leads l ON l.organisation_id = o.id AND l.tab = 'QUALIFIED'
        WHERE o.slug LIKE 'bulk-%'
        GROUP BY o.id, o.slug, u.id
        ORDER BY count(l.id) DESC, o.slug
        """
    )


async def _lead_columns(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        """SELECT column_name FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'leads' AND is_generated = 'NEVER'
        ORDER BY ordinal_position"""
    )
    return [r["column_name"] for r in rows]


async def copy_leads_sql(
    conn: asyncpg.Connection,
    overrides: dict[str, str],
    source: str,
    count_expr: str,
    *,
    into: str | None = None,
) -> str:
    """INSERT ... SELECT of `count_expr` copies of the leads `source` selects (alias `l`),
    every column as in the source unless `overrides` says otherwise (`g` is the copy's number,
    1..count). With `into`, the new ids also go into that table."""
    columns = await _lead_columns(conn)
    values = [overrides.get(c, f"l.{c}") for c in columns]
    insert = f"""INSERT INTO leads ({", ".join(columns)})
        SELECT {", ".join(values)}
        FROM generate_series(1, {count_expr}) AS g
        JOIN src AS l ON l.rn = 1 + (g - 1) % (SELECT total FROM n)"""
    ctes = f"""WITH src AS (SELECT s.*, row_number() OVER (ORDER BY s.id) AS rn FROM ({source}) s),
        n AS (SELECT count(*) AS total FROM src)"""
    if into is None:
        return f"{ctes} {insert}"
    return f"{ctes}, ins AS ({insert} RETURNING id) INSERT INTO {into} SELECT id FROM ins"


# A lead as it arrives: RECEIVED, nothing answered, no deal (every lifecycle CHECK holds).
RECEIVED_OVERRIDES = {
    "id": "gen_random_uuid()",
    "type": "'CUSTOMER_INQUIRY'",
    "stage": "'RECEIVED'",
    "outcome": "NULL",
    "sender_user_id": "NULL",
    "sender_organisation_id": "NULL",
    "responded_at": "NULL",
    "archived_at": "NULL",
    "deal_name": "NULL",
    "estimated_value_amount": "NULL",
    "estimated_value_currency": "NULL",
    "estimated_purchase_date": "NULL",
    "notes": "NULL",
    "crm_id": "NULL",
    "campaign_id": "NULL",
    "decline_reason": "NULL",
    "decline_notes": "NULL",
    "final_value_amount": "NULL",
    "final_value_currency": "NULL",
    "closing_date": "NULL",
    "lost_reason": "NULL",
    "lost_notes": "NULL",
    "possible_duplicate_of": "NULL",
    "rerouted_from": "NULL",
    "engagement_id": "NULL",
    "auto_reroute": "false",
    "reroute_hop": "0",
    "version": "1",
}


async def _make_m1_pool(conn: asyncpg.Connection, organisation_id: uuid.UUID) -> None:
    """M1_POOL fresh leads in the M1 partner's MARKETPLACE tab, received long before any other
    lead (so they are on no first page), answerable for days."""
    if await conn.fetchval("SELECT count(*) FROM bench.m1_pool") >= M1_POOL:
        return
    sql = await copy_leads_sql(
        conn,
        {
            **RECEIVED_OVERRIDES,
            "received_at": "timestamptz '2001-01-01' + g * interval '1 second'",
            "created_at": "timestamptz '2001-01-01' + g * interval '1 second'",
            "updated_at": "timestamptz '2001-01-01' + g * interval '1 second'",
            "respond_by": "now() + interval '30 days'",
        },
        f"SELECT * FROM leads WHERE organisation_id = '{organisation_id}' LIMIT 1000",
        str(M1_POOL),
        into="bench.m1_pool",
    )
    async with conn.transaction():
        await conn.execute("DELETE FROM leads WHERE id IN (SELECT id FROM bench.m1_pool)")
        await conn.execute("DELETE FROM bench.m1_pool")
        await conn.execute(sql)


async def _add_search_profiles(conn: asyncpg.Connection, total: int, settings: Settings) -> None:
    """Published profiles up to `total`: copies of the seeded ones (keywords, industries,
    description rotate through the demo and bulk profiles), one location each, spread over
    countries; their search documents computed as the profile service computes them."""
    existing = await conn.fetchval("SELECT count(*) FROM business_profiles WHERE published")
    extra = total - existing
    if extra <= 0:
        return
    async with conn.transaction():
        await conn.execute(
            """INSERT INTO organisations (id, slug, name, kind)
            SELECT gen_random_uuid(), 'search-' || g, 'Search Partner ' || g, 'PARTNER'
            FROM generate_series(1, $1) g""",
            extra,
        )
        await conn.execute(
            """
            WITH src AS (
                SELECT bp.*, row_number() OVER (ORDER BY o.slug) AS rn
                FROM business_profiles bp JOIN organisations o ON o.id = bp.organisation_id
                WHERE bp.published
            ), n AS (SELECT count(*) AS total FROM src)
            INSERT INTO business_profiles (id, organisation_id, name, published, description,
                website, keywords, industries, solution_areas, preferred_sizes, competencies,
                endorsements, published_at)
            SELECT gen_random_uuid(), o.id, 'Search Profile ' || substr(o.slug, 8), true,
                s.description, s.website, s.keywords, s.industries, s.solution_areas,
                s.preferred_sizes, s.competencies, s.endorsements, now()
            FROM organisations o
            JOIN src s ON s.rn = 1 + (substr(o.slug, 8)::int - 1) % (SELECT total FROM n)
            WHERE o.slug LIKE 'search-%'
            """
        )
        await conn.execute(
            """INSERT INTO profile_locations (id, profile_id, name, country)
            SELECT gen_random_uuid(), bp.id, 'Head office',
                (ARRAY['US','GB','DE','FR','IN','BR','JP','AU'])[1 + abs(hashtext(bp.id::text)) % 8]
            FROM business_profiles bp JOIN organisations o ON o.id = bp.organisation_id
            WHERE o.slug LIKE 'search-%'"""
        )
    from sqlalchemy import select, update

    from app.db.models import BusinessProfile, Organisation
    from app.db.session import create_engine
    from app.services.profiles import search_document_expression

    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as sa:
            await sa.execute(
                update(BusinessProfile)
                .where(
                    BusinessProfile.organisation_id.in_(
                        select(Organisation.id).where(Organisation.slug.like("search-%"))
                    )
                )
                .values(search_document=search_document_expression())
            )
    finally:
        await engine.dispose()


async def _grant_graphile(conn: asyncpg.Connection) -> None:
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", GRAPHILE_ROLE)
    if not exists:
        await conn.execute(f"CREATE ROLE {GRAPHILE_ROLE} LOGIN")
    await conn.execute(
        f"GRANT USAGE ON SCHEMA public TO {GRAPHILE_ROLE};"
        f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {GRAPHILE_ROLE};"
        f"GRANT UPDATE ON leads TO {GRAPHILE_ROLE};"
        f"REVOKE ALL ON SCHEMA bench FROM {GRAPHILE_ROLE}"
    )
    # Behind the same wall as partner-leads (migration 0007): PostGraphile's role is a member
    # of the API's, so the API's policies apply to it, and each request's transaction names its
    # tenant through pgSettings — PostGraphile's own way of running with row-level security.
    await conn.execute(f"GRANT {APP_ROLE} TO {GRAPHILE_ROLE}")
    tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    for (table,) in tables:
        for command in ("select", "update"):  # what earlier runs of this bench granted
            await conn.execute(f"DROP POLICY IF EXISTS bench_graphile_{command} ON {table}")


async def reset_m1_pool(conn: asyncpg.Connection) -> int:
    """Every M1 pool lead back to RECEIVED, as it was built: what accepting it wrote (deal, team,
    history, outbox rows) is removed. Returns how many leads were put back."""
    pool = "SELECT id FROM bench.m1_pool"
    async with conn.transaction():
        await conn.execute(f"DELETE FROM lead_team_members WHERE lead_id IN ({pool})")
        await conn.execute(f"DELETE FROM lead_history WHERE lead_id IN ({pool})")
        await conn.execute(f"DELETE FROM outbox WHERE lead_id IN ({pool})")
        await conn.execute(f"DELETE FROM notifications WHERE lead_id IN ({pool})")
        status = await conn.execute(
            f"""UPDATE leads SET stage = 'RECEIVED', outcome = NULL, responded_at = NULL,
                archived_at = NULL, deal_name = NULL, estimated_value_amount = NULL,
                estimated_value_currency = NULL, estimated_purchase_date = NULL, notes = NULL,
                crm_id = NULL, version = 1, updated_at = received_at,
                respond_by = now() + interval '30 days'
            WHERE id IN ({pool})
              AND (stage <> 'RECEIVED' OR version <> 1 OR respond_by < now() + interval '7 days')
            """
        )
    return int(status.split()[-1])


async def _describe(conn: asyncpg.Connection, meta: dict[str, Any]) -> dict[str, Any]:
    inboxes = await _inboxes(conn)
    by_id = {str(r["organisation_id"]): r for r in inboxes}

    def inbox(org: str) -> Inbox:
        r = by_id[org]
        return Inbox(r["organisation_id"], r["user_id"], r["slug"], int(r["leads"]))

    seller = await conn.fetchval(
        "SELECT u.id FROM users u JOIN organisations o ON o.id = u.organisation_id "
        "WHERE o.kind = 'PLATFORM' AND 'SELLER' = ANY(u.roles) ORDER BY u.email LIMIT 1"
    )
    target = inbox(meta["target"])
    q3 = await conn.fetch(
        "SELECT id FROM leads WHERE organisation_id = $1 AND tab = 'QUALIFIED' "
        "ORDER BY md5(id::text) LIMIT 2000",
        target.organisation_id,
    )
    pool = await conn.fetch("SELECT id FROM bench.m1_pool ORDER BY id")
    counts = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM leads) AS leads,"
        " (SELECT count(*) FROM organisations WHERE kind = 'PARTNER') AS partners,"
        " (SELECT count(*) FROM business_profiles WHERE published) AS profiles,"
        " (SELECT count(*) FROM lead_history) AS history,"
        " current_setting('server_version') AS postgres"
    )
    return {
        "target": target,
        "m1": inbox(meta["m1"]),
        "smallest": inbox(str(inboxes[-1]["organisation_id"])),
        "seller": seller,
        "q3": [str(r["id"]) for r in q3],
        "pool": [str(r["id"]) for r in pool],
        "counts": dict(counts),
    }


def open_world(scale_name: str) -> tuple[DevStack, World]:
    """Start the bench Postgres, build the world unless it is there, and describe it."""
    scale = SCALES[scale_name]
    stack = start_stack(scale)
    try:
        return stack, _open(stack, scale)
    except BaseException:
        stack.stop()
        raise


def _open(stack: DevStack, scale: Scale) -> World:
    assert stack.database_url and stack.redis_url
    url = stack.database_url
    meta = run_sql(url, _meta)
    built = None
    if "world" not in meta:
        if "postgres" in stack.embedded:
            server = database_url_for(url, "postgres")
            ensure_database(server, scale.database, recreate=True)
        elif run_sql(url, lambda c: c.fetchval("SELECT count(*) FROM organisations")):
            raise SystemExit(
                "BENCH_DATABASE_URL holds data but no complete bench world: use an empty database"
            )
        started = time.monotonic()
        upgrade(url)
        # COPY batches into a multi-million-row table (GIN pending-list flushes included) can
        # outlast the API's statement timeout, which is for requests, not for seeding.
        settings = _settings(url, stack.redis_url).model_copy(
            update={"db_statement_timeout_ms": 3_600_000}
        )
        asyncio.run(_build(settings, scale))

        async def finish(conn: asyncpg.Connection) -> dict[str, Any]:
            meta = await _meta(conn)
            inboxes = await _inboxes(conn)
            await _set_meta(conn, "target", str(inboxes[0]["organisation_id"]))
            await _set_meta(conn, "m1", str(inboxes[1]["organisation_id"]))
            await _make_m1_pool(conn, inboxes[1]["organisation_id"])
            if scale.search_profiles:
                print(f"adding published profiles up to {scale.search_profiles:,} ...")
                await _add_search_profiles(conn, scale.search_profiles, settings)
            for table in ("leads", "lead_history", "business_profiles", "profile_locations"):
                await conn.execute(f"VACUUM ANALYZE {table}")
            return meta

        run_sql(url, finish)
        built = time.monotonic() - started
        run_sql(
            url,
            lambda c: _set_meta(
                c,
                "world",
                {
                    "scale": scale.name,
                    "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "build_seconds": round(built),
                },
            ),
        )
        print(f"bench world ({scale.name}) built in {built:.0f} s", flush=True)
    else:
        upgrade(url)  # a world built before a new migration gets it
    settings = _settings(url, stack.redis_url)

    async def prepare(conn: asyncpg.Connection) -> tuple[dict[str, Any], dict[str, Any], bool]:
        meta = await _meta(conn)
        await _grant_graphile(conn)
        pgss = bool(
            await conn.fetchval(
                "SELECT 1 FROM pg_settings WHERE name = 'shared_preload_libraries' "
                "AND setting LIKE '%pg_stat_statements%'"
            )
        )
        if pgss:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        await reset_m1_pool(conn)
        return meta, await _describe(conn, meta), pgss

    meta, described, pgss = run_sql(url, prepare)
    world = World(
        scale=scale,
        settings=settings,
        database_url=url,
        graphile_url=_with_user(url, GRAPHILE_ROLE),
        pgdata=pgdata_of(stack),
        target=described["target"],
        m1=described["m1"],
        smallest=described["smallest"],
        seller_id=described["seller"],
        q3_ids=described["q3"],
        m1_pool=described["pool"],
        meta={**meta.get("world", {}), **described["counts"]},
        pg_stat_statements=pgss,
        built_seconds=built,
    )
    for inbox in (world.target, world.m1, world.smallest):
        inbox.token = issue_token(settings, inbox.user_id, ttl=timedelta(hours=12))
        claims = jwt.decode(inbox.token, options={"verify_signature": False}, algorithms=["HS256"])
        inbox.graphile_token = jwt.encode(
            {**claims, "org": str(inbox.organisation_id)}, settings.jwt_secret, algorithm="HS256"
        )
    return world


def _with_user(url: str, user: str) -> str:
    scheme, rest = url.split("://", 1)
    authority, sep, tail = rest.partition("/")
    host = authority.rsplit("@", 1)[-1]
    return f"{scheme}://{user}@{host}{sep}{tail}"


if __name__ == "__main__":  # build (or check) a world: python -m bench.world [small|full]
    import sys

    stack, world = open_world(sys.argv[1] if len(sys.argv) > 1 else "small")
    try:
        print(world.meta, world.target, world.m1, world.smallest, len(world.m1_pool))
    finally:
        stack.stop()
