"""The ASGI app: GraphQL (HTTP, GraphiQL in dev) and a health check."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from app.config import Settings, get_settings
from app.db.session import create_engine, create_sessionmaker
from app.graphql.view import GraphQLView
from app.jobs import JobQueue
from app.ratelimit import RateLimiter


def create_app(
    settings: Settings | None = None,
    *,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> Starlette:
    """`sessionmaker` lets tests bind the app to their own connection."""
    settings = settings or get_settings()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = None
        if sessionmaker is None:
            engine = create_engine(settings)
            view.sessionmaker = create_sessionmaker(engine)
        state["sessionmaker"] = view.sessionmaker
        try:
            yield
        finally:
            await queue.close()
            await limiter.close()
            if engine is not None:
                await engine.dispose()

    queue = JobQueue(settings.redis_url)
    limiter = RateLimiter(settings.redis_url)
    view = GraphQLView(settings, sessionmaker, queue, limiter)

    async def health(request: Request) -> JSONResponse:
        try:
            async with state["sessionmaker"]() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse(
                {"status": "error", "database": type(exc).__name__}, status_code=503
            )
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            # Route, not Mount: Mount("/graphql") answers /graphql with a 307 redirect.
            Route("/graphql", view),
            WebSocketRoute("/graphql", view),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
