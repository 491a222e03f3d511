"""Load benchmark of the lead inbox API: a big seeded world, one API process, wrk on loopback.

    make bench                     # 20 partners x 10,000 leads, 15 s per scenario
    BENCH_LEADS=1000000 BENCH_PARTNERS=100 make bench

Uses its own embedded Postgres in .data/bench (or BENCH_DATABASE_URL). Prints a markdown table
to paste into bench/RESULTS.md. Needs `wrk` (Debian: apt-get install wrk).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import PROJECT_ROOT, AppEnv, Settings
from app.db.migrate import upgrade
from app.db.models import Lead, Organisation, User
from app.db.session import create_engine
from app.dev.bulk import seed_bulk
from app.dev.demo_world import seed_demo
from app.dev.stack import DevStack
from app.services.auth import issue_token

PARTNERS = int(os.environ.get("BENCH_PARTNERS", "20"))
LEADS = int(os.environ.get("BENCH_LEADS", "200000"))
DURATION = os.environ.get("BENCH_DURATION", "10s")
# One connection shows a request's own latency; sixteen show throughput under load.
CONNECTIONS = [c for c in os.environ.get("BENCH_CONNECTIONS", "1,16").split(",") if c]

LIST = """query { leads(tab: QUALIFIED, first: 20) { totalCount pageInfo { hasNextPage endCursor }
  edges { node { id version type stage outcome receivedAt respondBy contactAlert timeLeftToRespond
  allowedActions isFavorite customer { companyName contactName }
  deal { name estimatedValue { amount currency } } team { name } } } } }"""
LIST_FILTERED = """query { leads(tab: MARKETPLACE, first: 20, filter: {stages: [RECEIVED, ACCEPTED],
  search: "cloud"}) { edges { node { id stage customer { companyName } } } } }"""
COUNTS = "query { leadCounts { tab stage count } }"
DETAIL = """query { lead(id: "$ID") { id version stage allowedActions customer { companyName need }
  deal { name notes } team { name email }
  history { action fromStage toStage at actor { name } } } }"""
UPDATE = """mutation { updateLead(input: {id: "$ID", notes: "bench note"}) { lead { version }
  errors { code } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _prepare(settings: Settings) -> tuple[str, list[str], list[str], int]:
    await seed_demo(settings)
    engine = create_engine(settings)
    async with AsyncSession(engine) as session:
        bulk = await session.scalar(
            select(func.count())
            .select_from(Lead)
            .join(Organisation, Organisation.id == Lead.organisation_id)
            .where(Organisation.slug.like("bulk-%"))
        )
    if (bulk or 0) < LEADS:
        started = time.monotonic()
        await seed_bulk(settings, partners=PARTNERS, leads=LEADS - (bulk or 0), progress=True)
        print(f"seeded {LEADS - (bulk or 0)} leads in {time.monotonic() - started:.1f}s")
    async with AsyncSession(engine) as session:
        # The bulk partner with the biggest inbox, and its referrals admin.
        org_id, size = (
            await session.execute(
                select(Lead.organisation_id, func.count())
                .join(Organisation, Organisation.id == Lead.organisation_id)
                .where(Organisation.slug.like("bulk-%"))
                .group_by(Lead.organisation_id)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).one()
        user_id = await session.scalar(
            select(User.id).where(
                User.organisation_id == org_id, User.roles.contains(["REFERRALS_ADMIN"])
            )
        )
        accepted = (
            await session.scalars(
                select(Lead.id)
                .where(Lead.organisation_id == org_id, Lead.stage == "ACCEPTED")
                .limit(2000)
            )
        ).all()
        any_ids = (
            await session.scalars(select(Lead.id).where(Lead.organisation_id == org_id).limit(2000))
        ).all()
    await engine.dispose()
    assert user_id is not None
    return (
        issue_token(settings, user_id),
        [str(i) for i in any_ids],
        [str(i) for i in accepted],
        int(size),
    )


def _wrk(
    port: int, token: str, body: str, ids: list[str] | None, connections: str
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        body_file = Path(tmp, "body.json")
        body_file.write_text(json.dumps({"query": body}))
        ids_file = Path(tmp, "ids.txt")
        ids_file.write_text("\n".join(ids or []))
        env = dict(
            os.environ, TOKEN=token, BODY_FILE=str(body_file), IDS_FILE=str(ids_file) if ids else ""
        )
        out = subprocess.run(
            [
                "wrk",
                f"-t{min(2, int(connections))}",
                f"-c{connections}",
                f"-d{DURATION}",
                "--timeout",
                "10s",
                "-s",
                str(Path(__file__).with_name("graphql.lua")),
                f"http://127.0.0.1:{port}/graphql",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    match = re.search(r"RESULT (.*)", out)
    assert match, out
    return {k: float(v) for k, v in (kv.split("=") for kv in match.group(1).split())}


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    url = os.environ.get("BENCH_DATABASE_URL")
    stack = DevStack(
        PROJECT_ROOT / ".data" / "bench",
        database_url=url,
        redis_url="unused",
        database_name="partner_leads_bench",
    ).start()
    server = None
    try:
        settings = Settings(
            app_env=AppEnv.TEST, database_url=stack.database_url, redis_url="redis://unused"
        )
        assert settings.database_url
        upgrade(settings.database_url)
        token, ids, accepted, inbox = asyncio.run(_prepare(settings))
        port = _free_port()
        env = dict(
            os.environ,
            DATABASE_URL=settings.database_url,
            REDIS_URL="redis://unused",
            APP_ENV="test",
            PORT=str(port),
            LOG_LEVEL="WARNING",
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.asgi:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=PROJECT_ROOT,
            env=env,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        scenarios = [
            ("leads: first page of 20, with team/favorite/deal", LIST, None),
            ("leads: search + stage filter", LIST_FILTERED, None),
            ("leadCounts (badges)", COUNTS, None),
            ("lead(id) with history and team", DETAIL, ids),
            ("updateLead (write: lock, history, outbox)", UPDATE, accepted),
        ]
        rows = []
        for name, body, scenario_ids in scenarios:
            for connections in CONNECTIONS:
                result = _wrk(port, token, body, scenario_ids, connections)
                rows.append((name, connections, result))
                print(f"{name} c={connections}: {result}", flush=True)
        total = LEADS
        print(
            f"\n{total:,} bulk leads over {PARTNERS} partners (inbox under test: {inbox:,} "
            f"leads); 1 uvicorn process; wrk -d{DURATION} per row; "
            f"{os.cpu_count()} cores, Python {platform.python_version()}\n"
        )
        print("| scenario | connections | req/s | p50 ms | p90 ms | p99 ms | errors |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, connections, r in rows:
            print(
                f"| {name} | {connections} | {r['rps']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p90_ms']:.1f} | {r['p99_ms']:.1f} | {int(r['non2xx_or_errors'])} |"
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        stack.stop()


if __name__ == "__main__":
    main()
