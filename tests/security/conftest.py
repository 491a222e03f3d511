"""Apps in production posture over HTTP, both execution paths (`Pair` compares their answers),
with one frozen clock so that time-dependent fields (timeLeftToRespond) agree.

`committed=True` gives requests that commit for real, each on its own pooled connection, as in
production. (Otherwise requests share the test's one connection and are rolled back with it:
right for planted data, but there a statement cancelled in one request breaks the next, which
production never sees.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from tests.edge.conftest import PRODUCTION, Pair, edge, serve
from tests.factories import WorldPartner, make_partner
from tests.graphql_client import FrozenClock

__all__ = ["edge", "serve"]

ProductionFactory = Callable[..., AbstractAsyncContextManager[Pair]]


@asynccontextmanager
async def _client(
    settings: Settings, sessionmaker: Any, clock: FrozenClock, client: tuple[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, sessionmaker=sessionmaker, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


@pytest.fixture
def production(
    settings: Settings,
    app_engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> ProductionFactory:
    """`async with production(committed=..., client=(...)) as pair:`; `strawberry_client`
    gives the general path an address (so a rate-limit budget) of its own."""

    @asynccontextmanager
    async def make(
        committed: bool = False,
        client: tuple[str, int] = ("127.0.0.1", 123),
        strawberry_client: tuple[str, int] | None = None,
    ) -> AsyncIterator[Pair]:
        maker = (
            async_sessionmaker(app_engine, expire_on_commit=False) if committed else sessionmaker
        )
        clock = FrozenClock(datetime.now(UTC))
        compiled = settings.model_copy(update=PRODUCTION)
        general = compiled.model_copy(update={"compiled_reads": False})
        async with (
            _client(compiled, maker, clock, client) as compiled_http,
            _client(general, maker, clock, strawberry_client or client) as strawberry_http,
        ):
            yield Pair(compiled_http, strawberry_http)

    return make


@pytest.fixture
async def throwaway_partner(engine: AsyncEngine) -> WorldPartner:
    """A committed partner of its own, for tests whose writes commit: the demo world that the
    other tests share stays as it was."""
    async with AsyncSession(engine) as session, session.begin():
        return await make_partner(session, name="Throwaway Partner")
