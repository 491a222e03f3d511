"""`make soak`: partner-leads alone under a steady mixed load for SOAK_MINUTES (10) at 80 % of
the throughput it measured first, on the bench world (loopback only). It passes with no errors
and flat memory, and appends its figures to bench/RESULTS.md.

    make soak                        # SOAK_MINUTES=10 SOAK_SHARE=0.8 on the small world

The mix (weights of 100): the inbox page Q1 40, its filtered page 2 Q2 10, one lead's detail Q3
25, the badges C1 10, and updateLead 15 (a new note each time: a real write, with its history
and outbox rows). Ids are accepted leads of the inbox under test. "Flat memory": the API
process' resident memory over the last minute is within SOAK_MEMORY_GROWTH (10 %) of the second
minute's (the first is warm-up: caches, pools and plans fill).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench import load, report
from bench.peers import PAGE, PL_C1, PL_Q1, PL_Q2, PL_Q3, TAB, PartnerLeads, post
from bench.world import World, open_world

LUA = Path(__file__).with_name("soak.lua")
CONNECTIONS = 16
UPDATE = """mutation Note($id: ID!, $notes: String!) {
  updateLead(input: {id: $id, notes: $notes}) { lead { id version } errors { code } }
}"""


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


def _mix(world: World, cursor: str | None) -> list[tuple[int, dict[str, Any]]]:
    return [
        (40, {"query": PL_Q1, "operationName": "Q1", "variables": {"tab": TAB, "first": PAGE}}),
        (
            10,
            {
                "query": PL_Q2,
                "operationName": "Q2",
                "variables": {
                    "tab": TAB,
                    "first": PAGE,
                    "after": cursor,
                    "stages": ["ACCEPTED"],
                    "types": ["SALES_QUALIFIED"],
                },
            },
        ),
        (25, {"query": PL_Q3, "operationName": "Q3", "variables": {"id": "$ID"}}),
        (10, {"query": PL_C1, "operationName": "C1"}),
        (
            15,
            {
                "query": UPDATE,
                "operationName": "Note",
                "variables": {"id": "$ID", "notes": "soak note $N"},
            },
        ),
    ]


def _accepted_ids(world: World) -> list[str]:
    async def fetch(conn: asyncpg.Connection) -> list[str]:
        rows = await conn.fetch(
            "SELECT id FROM leads WHERE organisation_id = $1 AND stage = 'ACCEPTED' "
            "ORDER BY received_at DESC LIMIT 2000",
            world.target.organisation_id,
        )
        return [str(r["id"]) for r in rows]

    return world.run(fetch)


def _wrk(
    port: int, token: str, mix_file: Path, ids_file: Path, delay_ms: float, seconds: int
) -> dict[str, float]:
    env = dict(
        os.environ,
        MIX_FILE=str(mix_file),
        IDS_FILE=str(ids_file),
        TOKEN=token,
        DELAY_MS=str(round(delay_ms)),
    )
    return load.run_wrk(port, CONNECTIONS, f"{seconds}s", LUA, env)


class MemorySampler(threading.Thread):
    """The API process' resident memory every `every` seconds, as (seconds since start, MiB)."""

    def __init__(self, pid: int, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.process, self.every = psutil.Process(pid), every
        self.samples: list[tuple[float, float]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopping.is_set():
            rss = self.process.memory_info().rss / 2**20
            self.samples.append((time.monotonic() - started, rss))
            self.stopping.wait(self.every)


def main() -> int:
    minutes = float(_env("SOAK_MINUTES", "10"))
    share = float(_env("SOAK_SHARE", "0.8"))
    growth_limit = float(_env("SOAK_MEMORY_GROWTH", "0.10"))
    load.ensure_wrk()
    stack, world = open_world(_env("BENCH_SCALE", "small"))
    peer = PartnerLeads("A", "partner-leads")
    try:
        peer.start(world)
        peer.wait_ready(world)
        first = post(
            peer.port,
            {
                "query": PL_Q2,
                "operationName": "Q2",
                "variables": {
                    "tab": TAB,
                    "first": PAGE,
                    "stages": ["ACCEPTED"],
                    "types": ["SALES_QUALIFIED"],
                },
            },
            world.target.token,
        )
        cursor = first["data"]["leads"]["pageInfo"]["endCursor"]
        with tempfile.TemporaryDirectory() as tmp:
            mix_file, ids_file = Path(tmp, "mix.tsv"), Path(tmp, "ids.txt")
            mix_file.write_text(
                "".join(f"{w}\t{json.dumps(body)}\n" for w, body in _mix(world, cursor))
            )
            ids_file.write_text("\n".join(_accepted_ids(world)) + "\n")
            token = world.target.token
            print("measuring the mix's maximum throughput (16 connections, 20 s) ...", flush=True)
            _wrk(peer.port, token, mix_file, ids_file, 0, 5)
            peak = _wrk(peer.port, token, mix_file, ids_file, 0, 20)
            target = peak["rps"] * share
            # A connection's cycle is its answer's latency plus the delay: calibrate the delay.
            delay = CONNECTIONS * 1000 / target
            probe = _wrk(peer.port, token, mix_file, ids_file, delay, 10)
            latency = max(CONNECTIONS * 1000 / probe["rps"] - delay, 0)
            delay = max(CONNECTIONS * 1000 / target - latency, 0)
            print(
                f"maximum {peak['rps']:.0f} req/s; soaking at {share:.0%} = {target:.0f} req/s "
                f"for {minutes:g} min (delay {delay:.1f} ms per connection) ...",
                flush=True,
            )
            sampler = MemorySampler(peer.pid)
            pg_pid = load.postmaster_pid(world.pgdata)
            cpu0, pg0 = load.process_cpu(peer.pid), load.process_cpu(pg_pid) if pg_pid else 0.0
            busy0, wrk0, wall0 = load.busy(), load.children_cpu(), time.monotonic()
            sampler.start()
            soak = _wrk(peer.port, token, mix_file, ids_file, delay, int(minutes * 60))
            sampler.stopping.set()
            sampler.join()
            cpu = load.process_cpu(peer.pid) - cpu0
            pg = (load.process_cpu(pg_pid) if pg_pid else 0.0) - pg0
            other = max(
                0.0,
                (load.busy() - busy0 - cpu - pg - (load.children_cpu() - wrk0))
                / (time.monotonic() - wall0),
            )
    finally:
        peer.stop()
        stack.stop()
    samples = sampler.samples
    second = [m for t, m in samples if 60 <= t < 120] or [samples[0][1]]
    last = [m for t, m in samples if t >= samples[-1][0] - 60] or [samples[-1][1]]
    base, end = statistics.mean(second), statistics.mean(last)
    growth = (end - base) / base
    errors = int(soak["errors"] + soak["socket_errors"])
    passed = errors == 0 and growth <= growth_limit
    now = datetime.now(UTC)
    text = "\n".join(
        [
            f"## {now:%Y-%m-%d} — `make soak` (issue 9 §6), {world.scale.name} world",
            "",
            f"- Machine: {report.machine()}; commit {report.commit()}; {now:%Y-%m-%d %H:%M} UTC.",
            "- partner-leads alone (one uvicorn process, its Postgres on the same machine), wrk on "
            f"loopback, {CONNECTIONS} connections. Mix: Q1 40 %, Q2 10 %, Q3 25 %, C1 10 %, "
            "updateLead with a new note 15 % (as the inbox under test's referrals admin).",
            f"- Maximum throughput of the mix (20 s): {peak['rps']:,.0f} req/s. Soaked at "
            f"{share:.0%} of it ({target:,.0f} req/s asked) for {minutes:g} min: "
            f"**{soak['rps']:,.0f} req/s achieved, {int(soak['requests']):,} requests, "
            f"{errors} errors**; p50 {soak['p50_ms']:.1f} ms, p99 {soak['p99_ms']:.1f} ms; "
            f"server CPU {cpu * 1000 / max(soak['requests'], 1):.2f} ms per request; other load "
            f"on the machine {other:.2f} cores (0 when quiet).",
            f"- API resident memory: {samples[0][1]:.0f} MiB at the start, {base:.0f} MiB over the "
            f"second minute, {end:.0f} MiB over the last ({growth:+.1%}; limit "
            f"{growth_limit:+.0%}), peak {max(m for _, m in samples):.0f} MiB. "
            f"**{'Passed' if passed else 'FAILED'}.**",
            "",
        ]
    )
    print("\n" + text)
    if _env("BENCH_WRITE", "1") == "1":
        report.append(text)
        print(f"appended to {report.RESULTS}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
