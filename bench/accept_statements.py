"""What one acceptLead (M1) costs Postgres, statement by statement, on the bench world.

    python -m bench.accept_statements [N] [SECONDS]   # defaults: 300 accepts, then 10 s at c=16

Starts the bench Postgres (`make bench`'s world, built if missing) and one API process, puts the
M1 pool back to RECEIVED, then accepts N of its leads one after another over HTTP with
`pg_stat_statements.track = all` (statements run by triggers and functions are counted apart),
and then more of them with wrk at 16 connections for SECONDS. Prints, per accept: each
statement's calls, time and rows, the shared blocks it touched; the leads table's updates and how
many of them were HOT; at 16 connections also the CPU of the API process and of Postgres per
accept and the database sessions opened. Throughput is printed but not the point: on a shared
machine it says more about the neighbours than about the code; the per-accept figures do not
move with them.

BENCH_CODE_DIR runs the API from another checkout of the project (an older commit, to compare)
against the same database, migrated down to BENCH_REVISION (that commit's head) for the run and
back up afterwards.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import asyncpg

from app.db.migrate import downgrade, upgrade
from bench.load import HOUSEKEEPING, postmaster_pid, process_cpu, wrk
from bench.peers import OUT, PartnerLeads, post
from bench.world import World, open_world, reset_m1_pool

TABLES = ("leads", "lead_history", "outbox", "notifications", "lead_team_members")


class Api(PartnerLeads):
    def command(self, world: World) -> tuple[list[str], dict[str, str], Path]:
        args, env, cwd = super().command(world)
        code = os.environ.get("BENCH_CODE_DIR")
        if code:
            env["PYTHONPATH"] = code
            cwd = Path(code)
        return args, env, cwd


async def _snapshot(conn: asyncpg.Connection) -> dict[str, dict[str, int]]:
    rows = await conn.fetch(
        "SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd, n_tup_del "
        "FROM pg_stat_user_tables WHERE relname = ANY($1::text[])",
        list(TABLES),
    )
    return {r["relname"]: dict(r) for r in rows}


async def _outbox_sizes(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT count(*) AS rows, avg(octet_length(payload::text))::int AS text_bytes,"
        " avg(pg_column_size(payload))::int AS stored_bytes,"
        " (SELECT avg(pg_column_size(changes))::int FROM lead_history"
        "  WHERE lead_id IN (SELECT id FROM bench.m1_pool)) AS history_changes_bytes"
        " FROM outbox WHERE lead_id IN (SELECT id FROM bench.m1_pool)"
    )


async def _sessions(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        )
    )


async def _statements(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT s.toplevel, s.query, s.calls, s.total_exec_time, s.total_plan_time, s.rows,
                  s.shared_blks_hit + s.shared_blks_read AS blocks, s.shared_blks_dirtied,
                  s.wal_records, s.wal_bytes
           FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
           WHERE d.datname = current_database() AND s.query NOT ILIKE '%pg_stat_statements%'
           ORDER BY s.total_exec_time DESC"""
    )


def _redis_calls(world: World) -> tuple[int, int]:
    """(commands, WATCHes) the bench's Valkey has run: the API's job queue is its only client
    here, and each of arq's `enqueue_job` calls begins with a WATCH."""
    import redis

    client = redis.Redis.from_url(world.settings.redis_url or "")
    try:
        stats = cast(dict[str, dict[str, Any]], client.info("commandstats"))
        calls = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
        return calls, int(stats.get("cmdstat_watch", {}).get("calls", 0))
    finally:
        client.close()


def _with(world: World, work: Any) -> Any:
    async def run() -> Any:
        conn = await asyncpg.connect(world.database_url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(run())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    stack, world = open_world("small")
    api = Api(key="A", name="partner-leads")
    try:
        if not world.pg_stat_statements:
            sys.exit("pg_stat_statements is not loaded in the bench Postgres")

        async def track_all(conn: asyncpg.Connection) -> None:
            await conn.execute("ALTER SYSTEM SET pg_stat_statements.track = 'all'")
            await conn.execute("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
            await conn.execute("SELECT pg_reload_conf()")

        _with(world, track_all)
        if os.environ.get("BENCH_REVISION"):
            downgrade(world.database_url, os.environ["BENCH_REVISION"])
        world.run(reset_m1_pool)
        api.start(world)
        api.wait_ready(world)
        request = api.m1(world)
        ids = world.m1_pool[: n + 20]
        for lead_id in ids[:20]:  # warm-up: the documents, plans and pools
            post(api.port, request.with_id(lead_id), request.token)
        before, redis0 = _with(world, _snapshot), _redis_calls(world)
        _with(world, lambda c: c.execute("SELECT pg_stat_statements_reset()"))
        started = time.monotonic()
        for lead_id in ids[20:]:
            answer = post(api.port, request.with_id(lead_id), request.token)
            lead = answer["data"]["acceptLead"]["lead"]
            assert lead and lead["stage"] == "ACCEPTED", answer
        elapsed = time.monotonic() - started
        rows, redis1 = _with(world, _statements), _redis_calls(world)
        time.sleep(1)  # the API's idle backends report their table counts within a second
        after = _with(world, _snapshot)
        _report(n, elapsed, rows, before, after)
        print(
            f"\nRedis per accept: {(redis1[0] - redis0[0]) / n:.1f} commands, "
            f"{(redis1[1] - redis0[1]) / n:.2f} enqueue_job calls (WATCH)"
        )
        print("\noutbox rows of the accepted leads:", dict(_with(world, _outbox_sizes)))
        if seconds:
            rest = world.m1_pool[n + 20 :]
            pg = postmaster_pid(world.pgdata)
            _with(world, lambda c: c.execute("SELECT pg_stat_statements_reset()"))
            sessions0, calls0 = _with(world, _sessions), _redis_calls(world)[0]
            api0, pg0 = process_cpu(api.pid), process_cpu(pg) if pg else 0.0
            # BENCH_PYSPY=<py-spy binary>: the API process' stacks during the run, as raw
            # (collapsed) stacks in bench/out/accept-api.pyspy.txt.
            spy = None
            if os.environ.get("BENCH_PYSPY"):
                spy = subprocess.Popen(
                    [
                        os.environ["BENCH_PYSPY"],
                        "record",
                        "-r",
                        "250",
                        "-f",
                        "raw",
                        "-d",
                        str(seconds),
                        "-p",
                        str(api.pid),
                        "-o",
                        str(OUT / "accept-api.pyspy.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            result = wrk(api.port, request, 16, f"{seconds}s", ids=rest)
            if spy is not None:
                spy.wait(30)
            api1, pg1 = process_cpu(api.pid), process_cpu(pg) if pg else 0.0
            sessions1, calls1 = _with(world, _sessions), _redis_calls(world)[0]
            rows = _with(world, _statements)
            done = int(result["requests"])
            api_ms, pg_ms = (api1 - api0) * 1000 / done, (pg1 - pg0) * 1000 / done
            print(
                f"\n16 connections, {seconds} s: {done} accepts, {result['rps']:.0f}/s, "
                f"{result['errors']:.0f} errors; per accept: API CPU {api_ms:.2f} ms, "
                f"Postgres CPU {pg_ms:.2f} ms; "
                f"{sessions1 - sessions0} database sessions opened; "
                f"{(calls1 - calls0) / done:.1f} Redis commands"
            )
            _report(done, 0.0, rows, None, None)
    finally:
        api.stop()
        try:
            _with(world, lambda c: c.execute("ALTER SYSTEM RESET pg_stat_statements.track"))
            _with(
                world, lambda c: c.execute("ALTER SYSTEM RESET pg_stat_statements.track_planning")
            )
            _with(world, lambda c: c.execute("SELECT pg_reload_conf()"))
            world.run(reset_m1_pool)
            if os.environ.get("BENCH_REVISION"):
                upgrade(world.database_url)
        finally:
            stack.stop()


def _report(
    n: int,
    elapsed: float,
    rows: list[asyncpg.Record],
    before: dict[str, dict[str, int]] | None,
    after: dict[str, dict[str, int]] | None,
) -> None:
    top = [r for r in rows if r["toplevel"]]
    data = [r for r in top if not HOUSEKEEPING.match(r["query"])]
    if elapsed:
        print(f"{n} accepts, one at a time, {elapsed / n * 1000:.2f} ms each (wall clock)")
    print(
        f"top-level statements per accept: {sum(r['calls'] for r in top) / n:.2f}, "
        f"data statements: {sum(r['calls'] for r in data) / n:.2f}; "
        f"Postgres execution {sum(r['total_exec_time'] for r in top) / n:.3f} ms"
        f" + planning {sum(r['total_plan_time'] for r in top) / n:.3f} ms per accept"
    )
    print(
        "\n| level | calls/accept | exec ms/accept | plan ms/accept | rows/call "
        "| blocks/call | dirtied/call | WAL bytes/call | statement |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        calls = r["calls"]
        if calls < n // 2 and r["total_exec_time"] / n < 0.005:
            continue
        query = " ".join(r["query"].split())[:110].replace("|", "\\|")
        print(
            f"| {'top' if r['toplevel'] else 'nested'} | {calls / n:.2f} "
            f"| {r['total_exec_time'] / n:.3f} | {r['total_plan_time'] / n:.3f} "
            f"| {r['rows'] / calls:.1f} | {r['blocks'] / calls:.1f} "
            f"| {r['shared_blks_dirtied'] / calls:.2f} | {int(r['wal_bytes']) / calls:.0f} "
            f"| `{query}` |"
        )
    if before is None or after is None:
        return
    print("\n| table | inserts/accept | updates/accept | HOT updates/accept |")
    print("| --- | ---: | ---: | ---: |")
    for table in TABLES:
        b, a = before.get(table), after.get(table)
        if not a or not b:
            continue
        print(
            f"| {table} | {(a['n_tup_ins'] - b['n_tup_ins']) / n:.2f} "
            f"| {(a['n_tup_upd'] - b['n_tup_upd']) / n:.2f} "
            f"| {(a['n_tup_hot_upd'] - b['n_tup_hot_upd']) / n:.2f} |"
        )


if __name__ == "__main__":
    main()
