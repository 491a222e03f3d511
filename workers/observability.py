"""What the worker tells operators: each job's run counted, timed and traced, and a small HTTP
server (WORKER_HEALTH_PORT) with /healthz, /readyz and /metrics.

The worker's /metrics also holds the database-wide figures (outbox lag, deliveries by channel
and status, leads by stage): it connects as partner_leads_worker, whose policies see every
tenant, where the API's role sees one. They are read when scraped, at most once every
METRICS_DB_CACHE_SECONDS, in one short transaction (see `DatabaseFigures`)."""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
import uvicorn
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.config import Settings
from app.observability import metrics, tracing
from app.observability.health import database_check, healthz, readyz_route, redis_check

log = logging.getLogger(__name__)

Job = Callable[..., Coroutine[Any, Any, Any]]

# Each read is one statement; one that takes longer is cancelled (the last figures are kept).
FIGURES_TIMEOUT_MS = 2_000
# The lag reads indexes of unhandled rows only: cheap, so kept fresher than the counts.
LAG_CACHE_SECONDS = 5.0
LAG_SQL = text(
    """
    SELECT
      (SELECT count(*) FROM outbox WHERE processed_at IS NULL) AS pending_events,
      coalesce(extract(epoch FROM now() - least(
        (SELECT min(created_at) FROM outbox WHERE processed_at IS NULL),
        (SELECT min(created_at) FROM deliveries WHERE status = 'PENDING')
      )), 0) AS lag_seconds
    """
)
COUNTS_SQL = text(
    """
    SELECT
      (SELECT coalesce(json_agg(d), '[]') FROM (
        SELECT channel, status, count(*) AS n FROM deliveries GROUP BY channel, status) d
      ) AS deliveries,
      (SELECT coalesce(json_agg(l), '[]') FROM (
        SELECT stage, count(*) AS n FROM leads GROUP BY stage) l
      ) AS leads
    """
)


def observed(name: str, job: Job) -> Job:
    """`job` counted (partner_leads_job_runs by outcome), timed, traced when tracing is on,
    and its log lines carrying the job's name and id."""

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        structlog.contextvars.bind_contextvars(job=name, job_id=ctx.get("job_id"))
        outcome = "failure"
        started = time.perf_counter()
        span = tracing.job_span(name)
        try:
            if span is None:
                result = await job(ctx, *args, **kwargs)
            else:
                with span:
                    result = await job(ctx, *args, **kwargs)
            outcome = "success"
            return result
        except asyncio.CancelledError:  # arq's job timeout, or the worker stopping
            outcome = "cancelled"
            raise
        finally:
            metrics.JOB_RUNS.labels(name, outcome).inc()
            metrics.JOB_SECONDS.labels(name).observe(time.perf_counter() - started)
            structlog.contextvars.unbind_contextvars("job", "job_id")

    return run


class DatabaseFigures(Collector):
    """Outbox lag, deliveries by channel and status, leads by stage, across tenants.

    Cost: the lag and pending figures read the partial indexes of unhandled outbox rows and
    pending deliveries, at most every LAG_CACHE_SECONDS; the two grouped counts scan
    `deliveries` and `leads` (about 0.3 s per million rows on the 2-core development machine),
    at most once per METRICS_DB_CACHE_SECONDS however often anything scrapes."""

    def __init__(
        self, sessionmaker: Callable[[], async_sessionmaker[AsyncSession] | None], ttl: float
    ) -> None:
        self.sessionmaker = sessionmaker
        self.lag = _Cached(LAG_SQL, min(ttl, LAG_CACHE_SECONDS))
        self.counts = _Cached(COUNTS_SQL, ttl)

    async def refresh(self) -> None:
        maker = self.sessionmaker()
        if maker is not None:
            await self.lag.refresh(maker)
            await self.counts.refresh(maker)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if (row := self.lag.row) is not None:
            yield from self._lag(row)
        if (row := self.counts.row) is not None:
            yield from self._counts(row)

    def _lag(self, row: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "partner_leads_outbox_lag_seconds",
            "Age of the oldest event not yet delivered (not fanned out, or a delivery pending)",
            value=float(row["lag_seconds"]),
        )
        yield GaugeMetricFamily(
            "partner_leads_outbox_pending_events",
            "Outbox events not yet fanned out into deliveries",
            value=int(row["pending_events"]),
        )

    def _counts(self, row: dict[str, Any]) -> Iterator[GaugeMetricFamily]:
        deliveries = GaugeMetricFamily(
            "partner_leads_deliveries",
            "Deliveries by channel and status (PENDING, SENT, DEAD, SKIPPED)",
            labels=["channel", "status"],
        )
        for item in row["deliveries"]:
            deliveries.add_metric([item["channel"], item["status"]], item["n"])
        yield deliveries
        leads = GaugeMetricFamily("partner_leads_leads", "Leads by stage", labels=["stage"])
        for item in row["leads"]:
            leads.add_metric([item["stage"]], item["n"])
        yield leads


class _Cached:
    """One statement's row, read again once it is `ttl` seconds old."""

    def __init__(self, statement: Any, ttl: float) -> None:
        self.statement, self.ttl = statement, ttl
        self.row: dict[str, Any] | None = None
        self.read_at: float | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, maker: async_sessionmaker[AsyncSession]) -> None:
        async with self._lock:
            if self.read_at is not None and time.monotonic() - self.read_at < self.ttl:
                return
            try:
                async with maker() as session, session.begin():
                    await session.execute(
                        text(f"SET LOCAL statement_timeout = {FIGURES_TIMEOUT_MS}")
                    )
                    row = (await session.execute(self.statement)).mappings().one()
            except Exception as exc:
                log.warning("database figures not read (%s)", type(exc).__name__)
                return
            self.row, self.read_at = dict(row), time.monotonic()


def health_app(
    settings: Settings, sessionmaker: Callable[[], async_sessionmaker[AsyncSession] | None]
) -> Starlette:
    figures = DatabaseFigures(sessionmaker, settings.metrics_db_cache_seconds)

    async def metrics_route(request: Request) -> Response:
        client = request.client.host if request.client else None
        if not metrics.may_scrape(
            client, request.headers.get("authorization"), settings.metrics_token
        ):
            return JSONResponse(
                {"errors": [{"message": "metrics are for operators", "code": "FORBIDDEN"}]},
                status_code=403,
            )
        await figures.refresh()
        return Response(metrics.render([figures]), media_type=metrics.CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route(
                "/readyz",
                readyz_route([database_check(sessionmaker), redis_check(settings.redis_url)]),
            ),
            Route("/metrics", metrics_route),
        ]
    )


class HealthServer:
    """uvicorn on the worker's own loop, leaving signals to arq."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        self.app, self.host, self.port = app, host, port
        self._task: asyncio.Task[None] | None = None
        self._server: uvicorn.Server | None = None

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            # Another worker on this host has the port: jobs matter more than its metrics.
            log.warning("no health server: %s:%s (%s)", self.host, self.port, exc.strerror)
            return

        class Server(uvicorn.Server):
            @contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        config = uvicorn.Config(
            self.app, log_config=None, access_log=False, lifespan="off", log_level="warning"
        )
        self._server = Server(config)
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        log.info("health and metrics on http://%s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
