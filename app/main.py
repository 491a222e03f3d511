"""The ASGI app: GraphQL (HTTP, GraphiQL in dev), CSV routes, health, metrics and the SPA."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings, get_settings
from app.db.replica import ReplicaReads
from app.db.session import create_engine, create_sessionmaker, refuse_to_bypass_the_wall
from app.graphql.graphiql import ASSETS, ASSETS_PATH
from app.graphql.view import GraphQLView
from app.http.csv_import import import_route
from app.http.export import export_route
from app.http.web_ui import web_routes
from app.jobs import JobQueue
from app.observability import metrics, tracing
from app.observability.health import database_check, healthz, readyz_route, redis_check
from app.observability.requests import RequestObserver
from app.persisted_queries import PersistedQueries
from app.ratelimit import RateLimiter
from app.services.compiled_reads import (
    ReadPools,
    create_read_pools,
    pool_fetch,
    session_fetch,
)

ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# How often a process samples its pools in multi-process mode (else they are read when scraped).
POOL_SAMPLE_SECONDS = 1.0


def freeze_start_up_objects(gen0_threshold: int) -> None:
    """Move what start-up allocated (modules, the schema, plans' machinery) out of the garbage
    collector's sight, and collect the young generation less often: full collections of ~140k
    long-lived objects cost ~75 ms and were most of a loaded process's p99."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)


def primary_value(engine: AsyncEngine, pools: ReadPools | None) -> Callable[[str], Awaitable[Any]]:
    """One value from the primary, on the compiled path's pool when there is one (a single
    round trip: no BEGIN or ROLLBACK around it)."""

    async def value(sql: str) -> Any:
        if pools is not None:
            return await pools.planned_once.fetchval(sql)
        async with engine.connect() as conn:
            return (await conn.exec_driver_sql(sql)).scalar()

    return value


def edge_middleware(settings: Settings) -> list[Middleware]:
    """Outermost first. The client's address comes from X-Forwarded-For only when the peer is
    one of TRUSTED_PROXIES (rate limits count it); CORS answers preflights for the listed
    origins, which also bound who may open the websocket (the view checks its Origin)."""
    return [
        Middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_hosts),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.allowed_origins),
            allow_methods=["GET", "POST"] if settings.get_enabled else ["POST"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
            # Bearer tokens, not cookies: a listed SPA never needs `credentials: "include"`.
            allow_credentials=False,
            max_age=600,
        ),
    ]


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """`sessionmaker` lets tests bind the app to their own connection, `clock` fix the time."""
    settings = settings or get_settings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = None
        if sessionmaker is None:
            engine = create_engine(settings, settings.api_database_url)
            await refuse_to_bypass_the_wall(engine, "the API")
            tracing.instrument_engine(engine)
            view.sessionmaker = create_sessionmaker(engine)
        state["sessionmaker"] = view.sessionmaker
        read_pool = None
        if settings.compiled_reads:
            if sessionmaker is not None:
                view.fetch = session_fetch(sessionmaker)
            elif settings.api_database_url:
                read_pool = await create_read_pools(
                    settings.api_database_url,
                    settings.read_pool_size,
                    settings.db_statement_timeout_ms,
                )
                view.fetch = pool_fetch(read_pool)
        replica = None
        if engine is not None and settings.api_replica_url:
            replica = ReplicaReads(settings, primary_value(engine, read_pool))
            try:
                await replica.start()
            except BaseException:
                if read_pool is not None:
                    await read_pool.close()
                await engine.dispose()
                raise
            view.replica = replica
        metrics.POOLS.add(app, _pool_readers(engine, read_pool))
        sampler = asyncio.ensure_future(_sample_pools()) if metrics.multiprocess() else None
        if settings.gc_freeze:
            freeze_start_up_objects(settings.gc_gen0_threshold)
        try:
            yield
        finally:
            metrics.POOLS.remove(app)
            if sampler is not None:
                sampler.cancel()
            metrics.process_stopped()
            if traced:
                tracing.stop()
            view.fetch = None
            view.replica = None
            if replica is not None:
                await replica.close()
            if read_pool is not None:
                await read_pool.close()
            await queue.close()
            await limiter.close()
            if persisted is not None:
                await persisted.close()
            if engine is not None:
                await engine.dispose()

    queue = JobQueue(settings.redis_url)
    limiter = RateLimiter(settings.redis_url)
    persisted = (
        PersistedQueries(settings.redis_url, ttl_seconds=settings.persisted_query_ttl_seconds)
        if settings.persisted_queries
        else None
    )
    view = GraphQLView(settings, sessionmaker, queue, limiter, clock=clock, persisted=persisted)

    async def metrics_route(request: Request) -> Response:
        client = request.client.host if request.client else None
        if not metrics.may_scrape(
            client, request.headers.get("authorization"), settings.metrics_token
        ):
            return JSONResponse(
                {"errors": [{"message": "metrics are for operators", "code": "FORBIDDEN"}]},
                status_code=403,
            )
        return Response(metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)

    async def health(request: Request) -> JSONResponse:
        try:
            async with state["sessionmaker"]() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "error", "database": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok"})

    traced = tracing.start(settings, "api")
    routes = [
        # Route, not Mount: Mount("/graphql") answers /graphql with a 307 redirect.
        Route("/graphql", view),
        WebSocketRoute("/graphql", view),
        Route("/health", health),
        Route("/healthz", healthz),
        Route(
            "/readyz",
            readyz_route(
                [database_check(lambda: state.get("sessionmaker")), redis_check(settings.redis_url)]
            ),
        ),
        Route("/metrics", metrics_route),
        # Every method reaches them: they answer a typed 405 themselves.
        Route("/export/leads.csv", export_route(view), methods=ANY_METHOD),
        Route("/import/leads.csv", import_route(view), methods=ANY_METHOD),
        # GraphiQL's own files, where the IDE is on (dev): no CDN needed.
        *([Mount(ASSETS_PATH, StaticFiles(directory=ASSETS))] if settings.is_dev else []),
        # The reference SPA (web/), in every environment unless SERVE_WEB_UI=false.
        *(web_routes() if settings.serve_web_ui else []),
    ]
    proxy, *edge = edge_middleware(settings)
    observer = Middleware(
        RequestObserver,
        routes=frozenset(getattr(route, "path", "") for route in routes),
        on_named=tracing.name_request_span(),
    )
    return Starlette(
        # The client's address first (the access line logs it), then the request's id.
        middleware=[*tracing.asgi_middleware(settings), proxy, observer, *edge],
        routes=routes,
        lifespan=lifespan,
    )


def _pool_readers(engine: Any, read_pool: Any) -> dict[str, metrics.PoolReader]:
    readers: dict[str, metrics.PoolReader] = {}
    if engine is not None:
        readers["engine"] = engine.sync_engine.pool.checkedout
    if read_pool is not None:
        readers["reads"] = _asyncpg_in_use(read_pool.planned_once)
        readers["searches"] = _asyncpg_in_use(read_pool.planned_each_time)
    return readers


def _asyncpg_in_use(pool: Any) -> metrics.PoolReader:
    def in_use() -> int:
        return int(pool.get_size() - pool.get_idle_size())

    return in_use


async def _sample_pools() -> None:
    while True:
        metrics.POOLS.sample()
        await asyncio.sleep(POOL_SAMPLE_SECONDS)
