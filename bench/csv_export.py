"""The CSV export's memory and time for N leads of one partner.

    .venv/bin/python -m bench.csv_export 10000 100000

Builds a database of its own (migrations, one partner, N leads by COPY for each size), serves
`GET /export/leads.csv` from the ASGI app as the API's role, and consumes the body chunk by chunk
(each dropped as it arrives) twice per size: once plain (wall time, growth of the process's
resident high-water mark) and once under tracemalloc (peak of Python allocations while the
export runs). Constant memory shows as the same peak whatever N is."""

from __future__ import annotations

import asyncio
import resource
import sys
import time
import tracemalloc
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import PROJECT_ROOT, AppEnv, Settings
from app.db import models
from app.db.migrate import upgrade
from app.db.session import create_engine
from app.db.urls import database_url_for
from app.dev.copy_writer import LEAD_COLUMNS, copy_records, inquiry_record
from app.dev.stack import DevStack, drop_database, ensure_database
from app.domain.roles import Role
from app.main import create_app
from app.services.auth import issue_token

DATABASE = "partner_leads_bench_csv"
URL = "/export/leads.csv"


async def partner_with_leads(settings: Settings, count: int) -> uuid.UUID:
    """A partner with `count` leads; its referrals admin's id."""
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    now = datetime.now(UTC)
    try:
        async with AsyncSession(engine) as session, session.begin():
            org = models.Organisation(
                id=uuid.uuid4(), slug=f"csv-{uuid.uuid4().hex[:8]}", name="CSV", kind="PARTNER"
            )
            session.add(org)
            await session.flush()
            user = models.User(
                id=uuid.uuid4(),
                organisation_id=org.id,
                roles=[Role.REFERRALS_ADMIN.value],
                email=f"referrals@{org.slug}.example",
                name="Referrals",
            )
            session.add(user)
            org_id, user_id = org.id, user.id
        for start in range(0, count, 20_000):
            records = [
                inquiry_record(
                    org_id,
                    n,
                    now=now,
                    contact_phone="+1 555 0100",
                    need="Move the shop to the cloud, with a pilot first, then the warehouse",
                )
                for n in range(start, min(count, start + 20_000))
            ]
            async with engine.begin() as conn:
                await copy_records(conn, "leads", LEAD_COLUMNS, records)
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE leads")
        return user_id
    finally:
        await engine.dispose()


async def consume(app: Any, token: str, traced: bool) -> dict[str, float]:
    figures = {"bytes": 0.0, "chunks": 0.0, "lines": 0.0}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "root_path": "",
        "query_string": b"tab=MARKETPLACE",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            figures["bytes"] += len(chunk)
            figures["chunks"] += 1
            figures["lines"] += chunk.count(b"\r\n")
            if not message.get("more_body"):
                done.set()

    if traced:
        tracemalloc.start()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    await app(scope, receive, send)
    figures["seconds"] = time.perf_counter() - started
    figures["max_rss_growth_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    if traced:
        figures["peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return figures


async def measure(settings: Settings, sizes: list[int]) -> None:
    app = create_app(settings)
    tokens = {
        size: issue_token(settings, await partner_with_leads(settings, size)) for size in sizes
    }
    async with app.router.lifespan_context(app):
        await consume(app, tokens[sizes[0]], traced=False)  # warm
        for size in sizes:
            plain = await consume(app, tokens[size], traced=False)
            traced = await consume(app, tokens[size], traced=True)
            assert plain["lines"] == size + 1, plain
            print(
                f"{size:>8,} rows: {plain['bytes'] / 1e6:6.1f} MB in {plain['chunks']:.0f} chunks, "
                f"{plain['seconds']:5.2f} s ({size / plain['seconds']:,.0f} rows/s); "
                f"tracemalloc peak {traced['peak'] / 1e6:.2f} MB; "
                f"max RSS grew {plain['max_rss_growth_kb'] / 1024:.1f} MB",
                flush=True,
            )


def main() -> None:
    sizes = [int(arg) for arg in sys.argv[1:]] or [10_000, 100_000]
    stack = DevStack(
        PROJECT_ROOT / ".data",
        database_name="postgres",
        valkey_dir=PROJECT_ROOT / ".data" / "valkey-bench-csv",
    ).start()
    assert stack.database_url
    ensure_database(stack.database_url, DATABASE, recreate=True)
    url = database_url_for(stack.database_url, DATABASE)
    try:
        upgrade(url)
        settings = Settings(
            app_env=AppEnv.TEST,
            gc_freeze=False,
            database_url=url,
            redis_url=stack.redis_url,
            data_dir=PROJECT_ROOT / ".data",
        )
        asyncio.run(measure(settings, sizes))
    finally:
        drop_database(stack.database_url, DATABASE)
        stack.stop()


if __name__ == "__main__":
    main()
