"""`make bench`: partner-leads against PostGraphile v5 and a raw ceiling, on one database, in one
run; the results are appended to bench/RESULTS.md and summed up in one `ratios:` line.

    make bench                     # BENCH_SCALE=small: ~200k leads (built once, ~2 min)
    make bench-full                # BENCH_SCALE=full: 5,000 partners, 3,000,000 leads

Settings (environment):
    BENCH_SCALE        small | full                         (small)
    BENCH_ROUNDS       interleaved rounds                   (3)
    BENCH_DURATION     wrk duration of a timed run          (10s)
    BENCH_WARMUP       wrk duration before each timed run   (2s)
    BENCH_OPS          operations to time                   (Q1,Q2,Q3,M1)
    BENCH_TIMERS       in-process timers: scores,affinity,suggest,search,expiry, or none   (all)
    BENCH_INBOXES      1: Q1 at the smallest and the largest inbox   (1 at full scale)
    BENCH_WRITE        0: do not append to RESULTS.md       (1)
    BENCH_DATABASE_URL use this Postgres (an empty database) instead of .data/bench

Layout: world.py builds and describes the world, peers.py starts the servers and knows their
documents, load.py runs wrk and measures, timers.py times the services, report.py writes.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from typing import Any

from bench import load, report, timers
from bench.peers import OPERATIONS, OUT, Peer, PostGraphile, all_peers, check_same_answers, post
from bench.world import World, open_world, reset_m1_pool

WARMUP_IDS = 500  # M1's warm-up accepts the pool's last ids; the timed run the others


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


def _measure(
    world: World,
    peer: Peer,
    op: str,
    connections: int,
    *,
    duration: str,
    warmup: str,
    statements: load.Statements,
    pg_pid: int | None,
    request: Any = None,
) -> load.Run:
    request = request or peer.requests[op]
    timed_ids = None
    if op == "M1":
        world.run(reset_m1_pool)
        load.wrk(peer.port, request, connections, warmup, ids=world.m1_pool[-WARMUP_IDS:])
        timed_ids = world.m1_pool[:-WARMUP_IDS]
    else:
        load.wrk(peer.port, request, connections, warmup)
    return load.measure(
        peer.port,
        peer.pid,
        request,
        connections,
        duration,
        pg_pid=pg_pid,
        statements=statements,
        ids=timed_ids,
    )


def main() -> None:
    scale = _env("BENCH_SCALE", "small")
    rounds = int(_env("BENCH_ROUNDS", "3"))
    duration = _env("BENCH_DURATION", "10s")
    warmup = _env("BENCH_WARMUP", "2s")
    ops = [o for o in _env("BENCH_OPS", ",".join(OPERATIONS)).split(",") if o in OPERATIONS]
    timer_names = [
        t
        for t in _env("BENCH_TIMERS", "scores,affinity,suggest,search,expiry").split(",")
        if t and t != "none"
    ]
    compare_inboxes = _env("BENCH_INBOXES", "1" if scale == "full" else "0") == "1"
    started = time.monotonic()

    load.ensure_wrk()
    every = all_peers()
    for peer in every:
        if isinstance(peer, PostGraphile):
            peer.install()
    skipped = [p for p in every if p.skipped]
    for peer in skipped:
        print(f"! {peer.name} skipped: {peer.skipped}", flush=True)
    peers = [p for p in every if not p.skipped]

    stack, world = open_world(scale)
    statements = None
    rows: list[dict[str, Any]] = []
    inbox_rows: list[dict[str, Any]] = []
    try:
        for peer in peers:
            peer.start(world)
        for peer in peers:
            peer.wait_ready(world)
            peer.prepare(world)
        warnings = check_same_answers(world, peers)
        for w in warnings:
            print(f"! {w}", flush=True)
        print("the peers return the same leads for Q1, Q2 and Q3; M1 accepts", flush=True)
        world.run(reset_m1_pool)
        statements = load.Statements(world.database_url, world.pg_stat_statements)
        pg_pid = load.postmaster_pid(world.pgdata)
        for round_no in range(1, rounds + 1):
            for op in ops:
                for peer in peers:
                    if op not in peer.requests:
                        continue
                    for connections in (1, 16):
                        run = _measure(
                            world,
                            peer,
                            op,
                            connections,
                            duration=duration,
                            warmup=warmup,
                            statements=statements,
                            pg_pid=pg_pid,
                        )
                        rows.append(
                            {"round": round_no, "op": op, "peer": peer.key, "c": connections}
                            | run.as_dict()
                        )
                        print(
                            f"round {round_no} {op} {peer.key} {peer.name:16} c={connections:<2} "
                            f"{run.rps:8.1f} req/s  p50 {run.p50_ms:6.2f}  p99 {run.p99_ms:6.2f} ms"
                            f"  cpu {run.server_cpu_ms:6.2f} + pg {run.pg_cpu_ms or 0:5.2f} ms"
                            f"  stmts {run.data_statements or 0:4.1f}"
                            f" ({run.all_statements or 0:4.1f})  errors {run.errors}"
                            f"  other load {run.other_cores:.2f} cores",
                            flush=True,
                        )
        if compare_inboxes:
            inbox_rows = _inboxes(world, peers, duration, warmup, statements, pg_pid)
        world.run(reset_m1_pool)
    finally:
        for peer in peers:
            peer.stop()
        if statements is not None:
            statements.close()
    try:
        timings = timers.run_all(world, timer_names)
    finally:
        stack.stop()

    cells = report.summarize(rows)
    ratios = report.ratios_line(cells)
    OUT.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    (OUT / f"results-{scale}-{stamp}.json").write_text(
        json.dumps({"rows": rows, "inboxes": inbox_rows}, indent=1, default=str)
    )
    text = report.section(
        scale=scale,
        world={
            **world.meta,
            "target_slug": world.target.slug,
            "target_leads": world.target.leads,
            "m1_slug": world.m1.slug,
            "pool": len(world.m1_pool),
            "built_seconds": world.built_seconds,
        },
        versions={
            "python": f"Python {platform.python_version()}",
            "postgres": f"Postgres {world.meta['postgres']}",
        },
        settings={"rounds": str(rounds), "duration": duration, "warmup": warmup},
        cells=cells,
        peers={p.key: f"{p.name} ({p.version})" if p.version else p.name for p in every},
        timings=timings,
        inboxes=inbox_rows,
        warnings=warnings
        + [f"{p.name} did not run: {p.skipped}" for p in skipped]
        + ([] if world.pg_stat_statements else ["pg_stat_statements was not loaded"]),
        ratios=ratios,
    )
    print("\n" + text)
    if _env("BENCH_WRITE", "1") == "1":
        report.append(text)
        print(f"appended to {report.RESULTS}")
    print(f"bench took {(time.monotonic() - started) / 60:.1f} min")
    print(ratios, flush=True)


def _inboxes(
    world: World,
    peers: list[Peer],
    duration: str,
    warmup: str,
    statements: load.Statements,
    pg_pid: int | None,
) -> list[dict[str, Any]]:
    """Q1 at the smallest and at the largest bulk inbox, each peer, one round."""
    rows = []
    for inbox in (world.smallest, world.target):
        ids = {}
        for peer in peers:
            request = peer.q1(world, inbox)
            ids[peer.name] = peer.page(post(peer.port, request.body, request.token)["data"])[0]
            runs = {
                c: _measure(
                    world,
                    peer,
                    "Q1",
                    c,
                    duration=duration,
                    warmup=warmup,
                    statements=statements,
                    pg_pid=pg_pid,
                    request=request,
                )
                for c in (1, 16)
            }
            rows.append(
                {
                    "peer": f"{peer.key} {peer.name}",
                    "inbox": inbox.slug,
                    "leads": inbox.leads,
                    "rps": runs[16].rps,
                    "p50": runs[1].p50_ms,
                    "p99": runs[1].p99_ms,
                    "cpu": runs[16].server_cpu_ms,
                }
            )
            print(f"inbox {inbox.slug} ({inbox.leads:,}) {peer.name}: {rows[-1]}", flush=True)
        if len({tuple(v) for v in ids.values()}) != 1:
            sys.exit(f"the peers disagree on Q1 for inbox {inbox.slug}: {ids}")
    return rows


if __name__ == "__main__":
    main()
