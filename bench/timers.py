"""Timers beside the load runs, in-process against the bench world: the expiry backlog, the
responsiveness recompute, suggestPartners and searchPartners. Each is independent: one that
fails reports its error and the others still run (the services may change under the bench)."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.session import create_engine, create_sessionmaker
from app.db.urls import database_url_for
from app.dev.stack import drop_database
from app.services.sweeps import BATCH
from bench.world import RECEIVED_OVERRIDES, World, copy_leads_sql, run_sql
from workers.sweeps import EXPIRE_LANES, expire_backlog

BACKLOG = 1_000_000
# The sweep of the backlog stops after this many seconds (0: sweeps it all; at ~6,000 leads/s
# that takes about 3 minutes), and its rate is what it expired by then.
EXPIRY_SECONDS = float(os.environ.get("BENCH_EXPIRY_SECONDS", "120"))


@dataclass
class Timing:
    name: str
    value: str
    detail: str


async def _median_ms(
    engine: Any, work: Callable[[AsyncSession], Awaitable[Any]], runs: int, warmup: int = 2
) -> tuple[float, float, Any]:
    """Median and p90 (ms) of `runs` calls, each in its own session and transaction."""
    times = []
    result = None
    for i in range(warmup + runs):
        async with AsyncSession(engine) as session, session.begin():
            started = time.perf_counter()
            result = await work(session)
            if i >= warmup:
                times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.9) - 1], result


def recompute_scores(world: World) -> Timing:
    from app.services.responsiveness import recompute_all

    async def run() -> Timing:
        engine = create_engine(
            world.settings, world.settings.jobs_database_url, pool_size=1, max_overflow=0
        )
        try:
            median, _, written = await _median_ms(
                engine,
                lambda s: recompute_all(s, now=datetime.now(UTC), settings=world.settings),
                runs=5,
                warmup=1,
            )
        finally:
            await engine.dispose()
        return Timing(
            "recompute_all (every responsiveness score)",
            f"{median:,.0f} ms",
            f"median of 5; {written:,} profiles over {world.meta['leads']:,} leads",
        )

    return asyncio.run(run())


def affinity(world: World) -> Timing:
    """The cron's rebuild of every partner's similar-deal counts (affinity.rebuild): read every
    answered lead, write what changed (nothing, on a world whose counts are current)."""
    from app.services.affinity_counts import refresh

    async def run() -> Timing:
        engine = create_engine(
            world.settings, world.settings.jobs_database_url, pool_size=1, max_overflow=0
        )
        try:
            median, _, written = await _median_ms(engine, refresh, runs=3, warmup=1)
        finally:
            await engine.dispose()
        return Timing(
            "affinity.rebuild (every partner's similar-deal counts)",
            f"{median:,.0f} ms",
            f"median of 3; over {world.meta['leads']:,} leads; {written:,} rows written",
        )

    return asyncio.run(run())


def suggest(world: World) -> Timing:
    from app.domain.reference import CompanySize
    from app.services.auth import load_actor
    from app.services.matching import LeadNeed, suggest_partners

    need = LeadNeed(
        description="cloud migration to Azure with a security review",
        industry="Retail",
        company_size=CompanySize.SIZE_251_1000,
    )

    async def run() -> Timing:
        engine = create_engine(
            world.settings, world.settings.api_database_url, pool_size=1, max_overflow=0
        )
        try:
            async with AsyncSession(engine) as session:
                actor = await load_actor(session, world.seller_id)
            median, p90, found = await _median_ms(
                engine, lambda s: suggest_partners(s, actor, need=need, first=5), runs=20
            )
        finally:
            await engine.dispose()
        return Timing(
            "suggestPartners (service, in-process)",
            f"{median:.1f} ms",
            f"median of 20 (p90 {p90:.1f} ms), first 5, {_count(found)} suggested; "
            f"{world.meta['profiles']:,} published profiles",
        )

    return asyncio.run(run())


def search(world: World) -> Timing:
    from app.services.search import search_partners

    async def run() -> Timing:
        engine = create_engine(
            world.settings, world.settings.api_database_url, pool_size=1, max_overflow=0
        )
        try:
            median, p90, page = await _median_ms(
                engine,
                lambda s: search_partners(s, query="cloud migration azure", first=10),
                runs=20,
            )
        finally:
            await engine.dispose()
        return Timing(
            "searchPartners (service, in-process)",
            f"{median:.1f} ms",
            f'median of 20 (p90 {p90:.1f} ms), "cloud migration azure", first 10, '
            f"{_count(getattr(page, 'items', page))} hits; "
            f"{world.meta['profiles']:,} published profiles",
        )

    return asyncio.run(run())


def _count(value: Any) -> str:
    try:
        return str(len(value))
    except TypeError:
        return type(value).__name__


def expiry(world: World) -> Timing:
    """Expire a backlog of 1,000,000 overdue leads in a scratch copy of the world (a database
    made from it as a template), batch after batch as the worker's lead.expire_overdue job
    does, each batch one transaction writing the leads, their history and outbox rows."""
    server = database_url_for(world.database_url, "postgres")
    scratch = f"{world.scale.database}_scratch"
    scratch_url = database_url_for(world.database_url, scratch)
    source = world.scale.database

    async def copy(conn: asyncpg.Connection) -> None:
        await conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        for attempt in range(10):
            try:
                # Sessions still open on the source (autovacuum) would make this fail.
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    source,
                )
                await conn.execute(f'CREATE DATABASE "{scratch}" TEMPLATE "{source}"')
                return
            except asyncpg.ObjectInUseError:
                if attempt == 9:
                    raise
                await asyncio.sleep(1)

    started = time.monotonic()
    run_sql(server, copy)
    copied = time.monotonic() - started

    async def backlog(conn: asyncpg.Connection) -> tuple[int, int]:
        overdue = await conn.fetchval(
            "SELECT count(*) FROM leads WHERE stage = 'RECEIVED' AND respond_by <= now()"
        )
        missing = max(BACKLOG - overdue, 0)
        if missing:
            sql = await copy_leads_sql(
                conn,
                {
                    **RECEIVED_OVERRIDES,
                    "respond_by": "now() - interval '1 hour' - g * interval '1 millisecond'",
                },
                "SELECT * FROM leads WHERE organisation_id IN "
                "(SELECT id FROM organisations WHERE slug LIKE 'bulk-%') LIMIT 20000",
                str(missing),
            )
            await conn.execute(sql)
            await conn.execute("ANALYZE leads")
        return overdue, missing

    try:
        started = time.monotonic()
        overdue, inserted = run_sql(scratch_url, backlog)
        prepared = time.monotonic() - started
        settings = world.settings.model_copy(update={"database_url": scratch_url})

        async def sweep() -> tuple[int, float, int, int, bool]:
            # As the worker's lead.expire_overdue job runs (its lanes, batches and
            # transactions), stopped after EXPIRY_SECONDS when that is set.
            engine = create_engine(
                settings, settings.jobs_database_url, pool_size=EXPIRE_LANES, max_overflow=0
            )
            try:
                counts = "SELECT (SELECT count(*) FROM lead_history), (SELECT count(*) FROM outbox)"
                async with engine.connect() as conn:
                    before: Any = (await conn.exec_driver_sql(counts)).one()
                started = time.perf_counter()
                expired = await expire_backlog(
                    create_sessionmaker(engine), None, stop_after=EXPIRY_SECONDS or None
                )
                seconds = time.perf_counter() - started
                async with engine.connect() as conn:
                    after: Any = (await conn.exec_driver_sql(counts)).one()
                    left: int = (
                        await conn.exec_driver_sql(
                            "SELECT count(*) FROM leads "
                            "WHERE stage = 'RECEIVED' AND respond_by <= now()"
                        )
                    ).scalar_one()
            finally:
                await engine.dispose()
            history, outbox = int(after[0] - before[0]), int(after[1] - before[1])
            return expired, seconds, history, outbox, left > 0

        expired, seconds, history, outbox, capped = asyncio.run(sweep())
    finally:
        drop_database(server, scratch)
    return Timing(
        "expiry: a backlog of 1,000,000 overdue leads (lead.expire_overdue batches)",
        f"{expired / seconds:,.0f} leads/s",
        f"{expired:,} leads expired in {seconds:.1f} s"
        + (
            f" (stopped after {EXPIRY_SECONDS:.0f} s; BENCH_EXPIRY_SECONDS=0 sweeps all)"
            if capped
            else ""
        )
        + f" in batches of {BATCH}, one transaction each, on {EXPIRE_LANES} connections, "
        f"writing {history:,} "
        f"history and {outbox:,} outbox rows; scratch copy of the world ({copied:.0f} s) with "
        f"{inserted:,} overdue leads added to {overdue:,} already overdue ({prepared:.0f} s)",
    )


def run_all(world: World, names: list[str]) -> list[Timing]:
    timers: dict[str, Callable[[World], Timing]] = {
        "scores": recompute_scores,
        "affinity": affinity,
        "suggest": suggest,
        "search": search,
        "expiry": expiry,
    }
    results = []
    for name in names:
        print(f"timer: {name} ...", flush=True)
        started = time.monotonic()
        try:
            timing = timers[name](world)
        except Exception as exc:  # a changed service must not stop the bench
            traceback.print_exc()
            timing = Timing(name, "failed", f"{type(exc).__name__}: {exc}"[:300])
        print(f"  {timing.value} ({time.monotonic() - started:.0f} s) {timing.detail}", flush=True)
        results.append(timing)
    return results
