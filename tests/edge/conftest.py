"""Apps with the edge's settings, over real HTTP (httpx against the ASGI app with its lifespan)
and, where a socket matters, under uvicorn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import AppEnv, Settings
from app.main import create_app
from tests.waiting import eventually

# What a production deployment must set (the validator refuses the dev placeholders).
PRODUCTION = {"app_env": AppEnv.PRODUCTION, "jwt_secret": "p" * 40}


@dataclass
class Pair:
    """The same settings twice: with the compiled read path, and strawberry alone. Every
    request goes to both, and both must answer alike."""

    compiled: httpx.AsyncClient
    strawberry: httpx.AsyncClient

    async def request(self, method: str, url: str = "/graphql", **kwargs: Any) -> httpx.Response:
        got = await self.compiled.request(method, url, **kwargs)
        want = await self.strawberry.request(method, url, **kwargs)
        assert (got.status_code, got.headers.get("content-type"), _body(got)) == (
            want.status_code,
            want.headers.get("content-type"),
            _body(want),
        ), (method, url, kwargs)
        return got

    async def post(self, json: Any = None, **kwargs: Any) -> httpx.Response:
        if json is not None:
            kwargs["json"] = json
        return await self.request("POST", **kwargs)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@asynccontextmanager
async def _client(
    settings: Settings, sessionmaker: Any, client: tuple[str, int]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


PairFactory = Callable[..., AbstractAsyncContextManager[Pair]]


@pytest.fixture
def edge(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> PairFactory:
    """`async with edge(client=("203.0.113.9", 1234), **settings) as pair:`"""

    @asynccontextmanager
    async def make(
        client: tuple[str, int] = ("127.0.0.1", 123), **overrides: Any
    ) -> AsyncIterator[Pair]:
        edged = settings.model_copy(update=overrides)
        general = edged.model_copy(update={"compiled_reads": False})
        async with (
            _client(edged, sessionmaker, client) as compiled,
            _client(general, sessionmaker, client) as strawberry,
        ):
            yield Pair(compiled, strawberry)

    return make


@pytest.fixture
def serve(settings: Settings, app_engine: AsyncEngine) -> Callable[..., Any]:
    """`async with serve(**settings) as "127.0.0.1:port":` the app under uvicorn."""

    @asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = create_app(
            settings.model_copy(update=overrides),
            sessionmaker=async_sessionmaker(app_engine, expire_on_commit=False),
        )
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            proxy_headers=False,
        )
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve())

        async def started() -> bool:
            return server.started

        await eventually(started, timeout=10, describe="the server started")
        try:
            yield f"127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await task

    return run
