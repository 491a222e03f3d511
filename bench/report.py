"""Medians of the rounds, the RESULTS.md section and the one line for scripts."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from app.config import PROJECT_ROOT
from bench.timers import Timing

RESULTS = Path(__file__).with_name("RESULTS.md")
LOAD_CONNECTIONS = 16
LATENCY_CONNECTIONS = 1
OP_TITLES = {
    "Q1": "Q1: one inbox, first 50 leads with customer, deal and team, newest first",
    "Q2": "Q2: the same inbox filtered (stage ACCEPTED, type SALES_QUALIFIED), page 2 by cursor",
    "Q3": "Q3: one lead with customer, deal, team and history (ids rotate over 2,000 leads)",
    "M1": "M1: accept a lead (each lead once)",
    "C1": "C1: the inbox's tab and stage counts (`leadCounts`); PostGraphile v5 has no grouped "
    "counts without a plugin, so it does not run C1",
}


@dataclass
class Cell:
    """One (operation, peer): medians over the rounds."""

    rps: float | None = None
    p50: float | None = None
    p99: float | None = None
    cpu: float | None = None
    pg_cpu: float | None = None
    sql: float | None = None
    sql_all: float | None = None
    errors: int = 0
    other: float | None = None  # cores busy with other work during the runs
    rounds: int = 0
    top: list[tuple[str, int]] = field(default_factory=list)


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def summarize(rows: list[dict[str, Any]]) -> dict[tuple[str, str], Cell]:
    cells: dict[tuple[str, str], Cell] = {}
    for key in {(r["op"], r["peer"]) for r in rows}:
        load = [r for r in rows if (r["op"], r["peer"]) == key and r["c"] == LOAD_CONNECTIONS]
        one = [r for r in rows if (r["op"], r["peer"]) == key and r["c"] == LATENCY_CONNECTIONS]
        cells[key] = Cell(
            rps=_median(r["rps"] for r in load),
            p50=_median(r["p50_ms"] for r in one),
            p99=_median(r["p99_ms"] for r in one),
            cpu=_median(r["server_cpu_ms"] for r in load),
            pg_cpu=_median(r["pg_cpu_ms"] for r in load),
            sql=_median(r["data_statements"] for r in load),
            sql_all=_median(r["all_statements"] for r in load),
            errors=sum(r["errors"] + r["socket_errors"] for r in load + one),
            other=_median(r.get("other_cores") for r in load + one),
            rounds=len(load),
            top=(load[-1].get("top_statements") or []) if load else [],
        )
    return cells


def _f(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios_line(cells: dict[tuple[str, str], Cell]) -> str:
    def cell(op: str, peer: str) -> Cell:
        return cells.get((op, peer), Cell())

    q1, m1 = cell("Q1", "A"), cell("M1", "A")
    parts = {
        "Q1_vs_postgraphile": _ratio(q1.rps, cell("Q1", "B").rps),
        "Q1_vs_raw": _ratio(q1.rps, cell("Q1", "C").rps),
        "Q1_cpu_ms": q1.cpu,
        "Q1_p99_ms": q1.p99,
        "Q1_sql": q1.sql,
        "Q3_vs_postgraphile": _ratio(cell("Q3", "A").rps, cell("Q3", "B").rps),
        "M1_cpu_ms": m1.cpu,
        "C1_cpu_ms": cell("C1", "A").cpu,
    }
    digits = {"Q1_sql": 1, "Q1_p99_ms": 1}
    return "ratios: " + " ".join(
        f"{k}={_f(v, digits.get(k, 2)).replace(',', '')}" for k, v in parts.items()
    )


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    system = platform.platform(terse=True)
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, {system}"


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True
        ).stdout.strip()

    sha = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "app", "workers")
    return f"{sha}" + (" + uncommitted changes in app/ or workers/" if dirty else "")


def section(
    *,
    scale: str,
    world: dict[str, Any],
    versions: dict[str, str],
    settings: dict[str, str],
    cells: dict[tuple[str, str], Cell],
    peers: dict[str, str],
    timings: list[Timing],
    inboxes: list[dict[str, Any]],
    warnings: list[str],
    ratios: str,
) -> str:
    now = datetime.now(UTC)
    lines = [
        f"## {now:%Y-%m-%d} — issue 8 §3: `make bench`, {scale} scale, the peers in one run",
        "",
        f"- Machine: {machine()}; {versions['python']}, {versions['postgres']}.",
        f"- Commit: {commit()}; {now:%Y-%m-%d %H:%M} UTC.",
        f"- World `{scale}`: {world['leads']:,} leads ({world['history']:,} history rows), "
        f"{world['partners']:,} partners, {world['profiles']:,} published profiles; inbox under "
        f"test `{world['target_slug']}` ({world['target_leads']:,} leads in its QUALIFIED tab); "
        f"M1 accepts leads of `{world['m1_slug']}` from a pool of {world['pool']:,} "
        f"(put back to RECEIVED before every M1 run)."
        + (
            f" Built by this run in {world['built_seconds']:.0f} s."
            if world.get("built_seconds")
            else ""
        ),
        "- Peers, one process each, same database: "
        + "; ".join(f"**{k}** {v}" for k, v in peers.items())
        + ".",
        f"- Load: wrk on loopback, {settings['rounds']} interleaved rounds (each round: for each "
        f"operation, A then B then C, 1 connection then 16), {settings['duration']} a run after "
        f"a {settings['warmup']} warm-up; medians of the rounds. req/s at 16 connections, "
        "p50/p99 at 1; CPU from /proc (server process; every Postgres process) over the "
        "16-connection run divided by its requests; statements from pg_stat_statements over the "
        "same run: data statements (SELECT/INSERT/UPDATE/DELETE/WITH) per request, and in "
        "brackets everything including BEGIN/COMMIT/SET/pings/pool resets. Other load: CPU "
        "cores busy with anything but the server, Postgres and wrk during the runs (median; "
        "0 on a quiet machine, and the figures are only comparable when it is near 0).",
        "",
        "| operation | peer | req/s @16 | A ÷ peer | p50 / p99 ms @1 | server CPU ms/req | "
        "Postgres CPU ms/req | data stmts/req (all) | errors | other load |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for op in OP_TITLES:
        a = cells.get((op, "A"))
        for peer in ("A", "B", "C"):
            c = cells.get((op, peer))
            if c is None:
                continue
            vs = _ratio(a.rps if a else None, c.rps)
            lines.append(
                f"| {op} | {peer} {peers[peer].split(' (')[0]} | {_f(c.rps, 0)} | "
                f"{_f(vs, 2) if peer != 'A' else '1'} | {_f(c.p50, 1)} / {_f(c.p99, 1)} | "
                f"{_f(c.cpu, 2)} | {_f(c.pg_cpu, 2)} | {_f(c.sql, 1)} ({_f(c.sql_all, 1)}) | "
                f"{c.errors} | {_f(c.other, 2)} |"
            )
    lines += ["", *(f"- {OP_TITLES[op]}" for op in OP_TITLES if (op, "A") in cells)]
    if inboxes:
        lines += [
            "",
            "Q1 at the smallest and the largest bulk inbox (one round):",
            "",
            "| peer | inbox | leads in tab | req/s @16 | p50 / p99 ms @1 | server CPU ms/req |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
        ]
        for row in inboxes:
            lines.append(
                f"| {row['peer']} | {row['inbox']} | {row['leads']:,} | {_f(row['rps'], 0)} | "
                f"{_f(row['p50'], 1)} / {_f(row['p99'], 1)} | {_f(row['cpu'], 2)} |"
            )
    if timings:
        lines += ["", "| timer | result | how |", "| --- | ---: | --- |"]
        lines += [f"| {t.name} | {t.value} | {t.detail} |" for t in timings]
    top = cells.get(("Q1", "A"))
    if top and top.top:
        lines += ["", "partner-leads' statements for Q1 (calls in the last 16-connection run):", ""]
        lines += [f"- {calls:,} × `{' '.join(q.split())[:140]}`" for q, calls in top.top]
    if warnings:
        lines += ["", *(f"- Warning: {w}" for w in warnings)]
    lines += ["", "```", ratios, "```", ""]
    return "\n".join(lines)


def append(text: str) -> None:
    current = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    RESULTS.write_text(current.rstrip("\n") + "\n\n" + text)
