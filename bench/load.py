"""Driving a peer with wrk and measuring what one run cost: requests, latency, CPU seconds of the
server process and of Postgres (from /proc), statements Postgres ran (pg_stat_statements)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.peers import Request

LUA = Path(__file__).with_name("bench.lua")

# Statements that carry no data: transaction control, session settings, pool pings and resets
# (asyncpg's reset query, PostGraphile's set_config), cursors, LISTEN. Everything else that
# runs in the bench database (SELECT / INSERT / UPDATE / DELETE / WITH) is a data statement.
HOUSEKEEPING = re.compile(
    r"""^\s*(
        (begin|commit|rollback|end|start\s+transaction|savepoint|release|set|reset|show|discard
         |deallocate|close|unlisten|listen)\b
        | select\s+(\$1|1|pg_advisory_unlock_all\(\)|version\(\)|current_schema\(\)
                    |set_config\(|current_setting\()
      )""",
    re.IGNORECASE | re.VERBOSE,
)


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("installing wrk (apt-get) ...", flush=True)
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "wrk"],
            check=True,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process, its threads and its live and reaped
    children."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                t = child.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


def postmaster_pid(pgdata: Path | None) -> int | None:
    if pgdata is None:
        return None
    try:
        return int((pgdata / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class Statements:
    """pg_stat_statements of the bench database, through one connection of our own."""

    def __init__(self, url: str, enabled: bool) -> None:
        self.enabled = enabled
        self.loop = asyncio.new_event_loop()
        self.conn: asyncpg.Connection | None = None
        if enabled:
            self.conn = self.loop.run_until_complete(asyncpg.connect(url))

    def reset(self) -> None:
        if self.conn is not None:
            self.loop.run_until_complete(self.conn.execute("SELECT pg_stat_statements_reset()"))

    def read(self) -> tuple[int, int, list[tuple[str, int]]] | None:
        """(data statements, all statements, [(statement, calls)]) since the reset."""
        if self.conn is None:
            return None
        rows = self.loop.run_until_complete(
            self.conn.fetch(
                """SELECT s.query, sum(s.calls)::bigint AS calls
                FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE d.datname = current_database() AND s.query NOT ILIKE '%pg_stat_statements%'
                GROUP BY s.query ORDER BY calls DESC"""
            )
        )
        data = sum(r["calls"] for r in rows if not HOUSEKEEPING.match(r["query"]))
        return data, sum(r["calls"] for r in rows), [(r["query"], r["calls"]) for r in rows]

    def close(self) -> None:
        if self.conn is not None:
            self.loop.run_until_complete(self.conn.close())
        self.loop.close()


@dataclass
class Run:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    duration_s: float
    errors: int
    socket_errors: int
    server_cpu_ms: float | None  # per request
    pg_cpu_ms: float | None  # per request, every Postgres process
    data_statements: float | None  # per request
    all_statements: float | None  # per request
    # CPU cores busy outside the server, Postgres and wrk during the run: other work on the
    # machine that competed with the run (0 on a quiet machine).
    other_cores: float = 0.0
    top_statements: list[tuple[str, int]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def wrk(
    port: int,
    request: Request,
    connections: int,
    duration: str,
    ids: list[str] | None = None,
) -> dict[str, float]:
    threads = min(2, connections)
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp, "body.json")
        body.write_text(json.dumps(request.body))
        env = dict(
            os.environ,
            BODY_FILE=str(body),
            TOKEN=request.token,
            THREADS=str(threads),
            IDS_ONCE="1" if request.once else "",
            IDS_FILE="",
        )
        ids = ids if ids is not None else request.ids
        if ids:
            Path(tmp, "ids.txt").write_text("\n".join(ids) + "\n")
            env["IDS_FILE"] = str(Path(tmp, "ids.txt"))
        return run_wrk(port, connections, duration, LUA, env, threads=threads)


def run_wrk(
    port: int,
    connections: int,
    duration: str,
    script: Path,
    env: dict[str, str],
    *,
    threads: int = 2,
) -> dict[str, float]:
    """wrk against the peer's /graphql with `script`; the numbers of its `RESULT k=v ...` line."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}/graphql",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    match = re.search(r"RESULT (.*)", out.stdout)
    if out.returncode != 0 or not match:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}\n{out.stderr}")
    return {k: float(v) for k, v in (kv.split("=") for kv in match.group(1).split())}


def measure(
    port: int,
    server_pid: int,
    request: Request,
    connections: int,
    duration: str,
    *,
    pg_pid: int | None,
    statements: Statements,
    ids: list[str] | None = None,
) -> Run:
    """One timed wrk run, with the CPU and statements it cost."""
    statements.reset()
    busy0, wrk0, wall0 = busy(), children_cpu(), time.monotonic()
    server0 = process_cpu(server_pid)
    pg0 = process_cpu(pg_pid) if pg_pid else None
    result = wrk(port, request, connections, duration, ids)
    server1 = process_cpu(server_pid)
    pg1 = process_cpu(pg_pid) if pg_pid else None
    busy1, wrk1, wall1 = busy(), children_cpu(), time.monotonic()
    ours = (server1 - server0) + ((pg1 or 0) - (pg0 or 0)) + (wrk1 - wrk0)
    counted = statements.read()
    n = max(int(result["requests"]), 1)
    return Run(
        rps=result["rps"],
        p50_ms=result["p50_ms"],
        p90_ms=result["p90_ms"],
        p99_ms=result["p99_ms"],
        requests=int(result["requests"]),
        duration_s=result["duration_s"],
        errors=max(0, int(result["errors"]) - int(result["after_end"])),
        socket_errors=int(result["socket_errors"]),
        server_cpu_ms=(server1 - server0) * 1000 / n,
        pg_cpu_ms=(pg1 - pg0) * 1000 / n if pg0 is not None and pg1 is not None else None,
        data_statements=counted[0] / n if counted else None,
        all_statements=counted[1] / n if counted else None,
        other_cores=max(0.0, (busy1 - busy0 - ours) / (wall1 - wall0)),
        top_statements=counted[2][:8] if counted else None,
    )


def busy() -> float:
    """CPU seconds the whole machine has spent busy."""
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def children_cpu() -> float:
    """CPU seconds of this process' reaped children (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
