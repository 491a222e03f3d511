"""Issue 12, section 1: the worker's health server and metrics, in process: job runs by outcome,
and the database-wide figures (outbox lag, deliveries, leads by stage) as its role sees them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import OutboxMessage
from app.domain.events import Topic
from tests.factories import World
from tests.observability.conftest import delta, scrape, value
from workers.observability import DatabaseFigures, health_app, observed

RUNS = "partner_leads_job_runs_total"
LAG = "partner_leads_outbox_lag_seconds"


@pytest.fixture
async def worker_http(
    settings: Settings, worker_sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> AsyncIterator[httpx.AsyncClient]:
    app = health_app(
        settings.model_copy(update={"metrics_db_cache_seconds": 0}), lambda: worker_sessionmaker
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://worker") as http:
        yield http


async def test_worker_health(worker_http: httpx.AsyncClient) -> None:
    assert (await worker_http.get("/healthz")).json() == {"status": "ok"}
    ready = await worker_http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert set(ready.json()["checks"].values()) == {"ok"}


async def test_jobs_are_counted_by_outcome(worker_http: httpx.AsyncClient) -> None:
    async def works(ctx: dict[str, Any], n: int) -> int:
        return n + 1

    async def fails(ctx: dict[str, Any]) -> None:
        raise ValueError("no")

    async def hangs(ctx: dict[str, Any]) -> None:
        await asyncio.Event().wait()

    before = await scrape(worker_http)
    assert await observed("test.works", works)({"job_id": "1"}, 41) == 42
    with pytest.raises(ValueError):
        await observed("test.fails", fails)({})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):  # as arq's job timeout cancels a job
            await observed("test.hangs", hangs)({})
    after = await scrape(worker_http)

    assert delta(before, after, RUNS, job="test.works", outcome="success") == 1
    assert delta(before, after, RUNS, job="test.fails", outcome="failure") == 1
    assert delta(before, after, RUNS, job="test.hangs", outcome="cancelled") == 1
    assert delta(before, after, "partner_leads_job_duration_seconds_count", job="test.works") == 1


async def test_outbox_lag_follows_the_oldest_pending_event(
    worker_http: httpx.AsyncClient, session: AsyncSession
) -> None:
    before = await scrape(worker_http)
    assert value(before, LAG) < 10 * 86400
    # Undelivered for eleven days (inside the test's transaction, which the worker's role shares).
    session.add(
        OutboxMessage(
            topic=Topic.LEAD_RECEIVED,
            payload={},
            created_at=datetime.now(UTC) - timedelta(days=11),
        )
    )
    await session.flush()
    after = await scrape(worker_http)
    assert value(after, LAG) >= 10 * 86400
    assert value(after, "partner_leads_outbox_pending_events") == (
        value(before, "partner_leads_outbox_pending_events") + 1
    )
    # Leads by stage: every tenant's, as the worker's role sees them.
    leads = [v for (name, _), v in after.items() if name == "partner_leads_leads"]
    assert leads and sum(leads) > 0


async def test_database_figures_are_cached(
    worker_sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession, world: World
) -> None:
    figures = DatabaseFigures(lambda: worker_sessionmaker, ttl=3600)
    figures.lag.ttl = 3600  # (5 s in a worker) longer than the test
    await figures.refresh()
    assert figures.lag.row is not None and figures.counts.row is not None
    first = dict(figures.lag.row)
    session.add(OutboxMessage(topic=Topic.LEAD_RECEIVED, payload={}))
    await session.flush()
    await figures.refresh()
    assert figures.lag.row == first
    figures.lag.ttl = 0
    await figures.refresh()
    assert figures.lag.row["pending_events"] == first["pending_events"] + 1
