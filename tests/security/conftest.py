"""Apps in production posture whose requests commit for real, as in production: each request on
its own pooled connection. (The edge's `edge` fixture shares the test's one connection between
requests: right for rolled-back tests, but a statement cancelled in one request there breaks the
next, which production never sees.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from tests.edge.conftest import PRODUCTION, Pair, edge, serve
from tests.factories import WorldPartner, make_partner

__all__ = ["edge", "serve"]

CommittedFactory = Callable[..., AbstractAsyncContextManager[Pair]]


@asynccontextmanager
async def _client(
    settings: Settings, engine: AsyncEngine, client: tuple[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, sessionmaker=async_sessionmaker(engine, expire_on_commit=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture
def committed_edge(settings: Settings, engine: AsyncEngine) -> CommittedFactory:
    """`async with committed_edge(client=(...)) as pair:` production settings, both paths."""

    @asynccontextmanager
    async def make(client: tuple[str, int] = ("127.0.0.1", 123)) -> AsyncIterator[Pair]:
        production = settings.model_copy(update=PRODUCTION)
        general = production.model_copy(update={"compiled_reads": False})
        async with (
            _client(production, engine, client) as compiled,
            _client(general, engine, client) as strawberry,
        ):
            yield Pair(compiled, strawberry)

    return make


@pytest.fixture
async def throwaway_partner(engine: AsyncEngine) -> WorldPartner:
    """A committed partner of its own, for tests whose writes commit: the demo world that the
    other tests share stays as it was."""
    async with AsyncSession(engine) as session, session.begin():
        return await make_partner(session, name="Throwaway Partner")
