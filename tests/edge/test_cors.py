"""CORS_ORIGINS: the browser origins that may call the API over HTTP (preflight included) and
open its websocket; every other origin is refused, on both."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets
from websockets.typing import Origin

from tests.edge.conftest import PRODUCTION, PairFactory
from tests.factories import World

SPA = "https://app.partners.example"
OTHER = "https://evil.example"


def preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }


async def test_a_listed_origin_passes_the_preflight_and_reads_the_answer(
    edge: PairFactory, world: World
) -> None:
    async with edge(**PRODUCTION, cors_origins=f"{SPA}, https://admin.partners.example") as pair:
        allowed = await pair.request("OPTIONS", headers=preflight(SPA))
        answer = await pair.post({"query": "{ __typename }"}, headers={"origin": SPA})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SPA
    assert "POST" in allowed.headers["access-control-allow-methods"]
    granted = allowed.headers["access-control-allow-headers"].lower()
    assert "authorization" in granted and "content-type" in granted
    assert answer.json() == {"data": {"__typename": "Query"}}
    assert answer.headers["access-control-allow-origin"] == SPA


@pytest.mark.parametrize(
    "overrides",
    [{**PRODUCTION, "cors_origins": SPA}, PRODUCTION, {}],
    ids=["another-origin-listed", "production-default", "dev-default"],
)
async def test_an_unlisted_origin_is_refused(
    edge: PairFactory, world: World, overrides: dict[str, Any]
) -> None:
    async with edge(**overrides) as pair:
        refused = await pair.request("OPTIONS", headers=preflight(OTHER))
        answer = await pair.post({"query": "{ __typename }"}, headers={"origin": OTHER})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    # The browser withholds the answer from the page: no allow-origin header.
    assert "access-control-allow-origin" not in answer.headers


async def test_dev_allows_its_own_server_origin(edge: PairFactory, world: World) -> None:
    async with edge() as pair:
        allowed = await pair.request("OPTIONS", headers=preflight("http://127.0.0.1:8000"))
    assert allowed.status_code == 200


async def _handshake(address: str, origin: str | None) -> str:
    try:
        ws = await websockets.connect(
            f"ws://{address}/graphql",
            subprotocols=["graphql-transport-ws"],
            origin=Origin(origin) if origin is not None else None,
        )
    except websockets.InvalidStatus as refused:
        return f"refused {refused.response.status_code}"
    try:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        return str(json.loads(await asyncio.wait_for(ws.recv(), 10))["type"])
    finally:
        await ws.close()


async def test_the_same_list_governs_websocket_origins(serve: Any) -> None:
    async with serve(cors_origins=SPA) as address:
        assert await _handshake(address, SPA) == "connection_ack"
        assert await _handshake(address, OTHER) == "refused 403"
        # Not a browser: no Origin, no one else's credentials to ride on.
        assert await _handshake(address, None) == "connection_ack"
    async with serve() as address:
        assert await _handshake(address, "http://127.0.0.1:8000") == "connection_ack"
        assert await _handshake(address, SPA) == "refused 403"
