"""Bounded requests and rate limits that cannot be sidestepped: body size, JSON depth, the
client's address (X-Forwarded-For only from trusted proxies; websockets by their own address)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from app.config import Settings
from app.graphql.search import SEARCH_LIMIT
from app.ratelimit import RateLimiter
from tests.edge.conftest import PairFactory
from tests.factories import World

SEARCH = {"query": "{ searchPartners(first: 1) { nodes { rank } } }"}


def nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = [value]
    return value


async def test_a_body_over_the_cap_gets_413(edge: PairFactory, world: World) -> None:
    padding = "x" * 1_100_000
    async with edge() as pair:
        response = await pair.post({"query": "{ __typename }", "extensions": {"pad": padding}})
        fits = await pair.post({"query": "{ __typename }", "extensions": {"pad": "x" * 900_000}})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert fits.status_code == 200


async def test_a_streamed_body_is_refused_without_reading_past_the_cap(
    edge: PairFactory, world: World
) -> None:
    sent = []

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ __typename }", "extensions": {"pad": "'
        for _ in range(1000):
            sent.append(1024)
            yield b"x" * 1024
        yield b'"}}'

    async with edge(max_body_bytes=16_384) as pair:
        # No Content-Length: the body arrives in chunks, and the cap applies as it does.
        response = await pair.compiled.post(
            "/graphql", content=chunks(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert sum(sent) <= 16_384 + 2 * 1024


@pytest.mark.parametrize("depth", [40, 1000, 5000])
async def test_deeply_nested_json_gets_400(edge: PairFactory, world: World, depth: int) -> None:
    # Built by hand: orjson itself refuses to write more than 254 levels.
    variables = "[" * depth + "1" + "]" * depth
    body = '{"query": "query($v: [Int]) { __typename }", "variables": {"v": ' + variables + "}}"
    async with edge() as pair:
        response = await pair.post(content=body, headers={"content-type": "application/json"})
        by_get = await pair.request(
            "GET", params={"query": "{ __typename }", "variables": '{"v": ' + variables + "}"}
        )
    for answered in (response, by_get):
        assert answered.status_code == 400
        [error] = answered.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST"
        assert "deeper than 32" in error["message"]


async def test_json_within_the_depth_limit_is_executed(edge: PairFactory, world: World) -> None:
    async with edge() as pair:
        response = await pair.post(
            {"query": "{ __typename }", "extensions": {"nested": nested(20)}}
        )
    assert response.json() == {"data": {"__typename": "Query"}}


def address() -> str:
    """An address no other test (or earlier run within the window) has used."""
    return "10." + ".".join(str(random.randint(1, 254)) for _ in range(3))


async def exhaust(settings: Settings, client: str) -> None:
    limiter = RateLimiter(settings.redis_url)
    try:
        for _ in range(SEARCH_LIMIT.per_window):
            await limiter.hit(SEARCH_LIMIT, client)
    finally:
        await limiter.close()


def code(response: Any) -> str:
    errors = response.json().get("errors")
    return str(errors[0]["extensions"]["code"]) if errors else "OK"


async def test_x_forwarded_for_counts_only_from_trusted_proxies(
    edge: PairFactory, world: World, settings: Settings
) -> None:
    proxy, limited, fresh = address(), address(), address()
    await exhaust(settings, limited)
    forwarded = {"x-forwarded-for": limited}
    # An untrusted peer cannot pose as another client, nor escape its own limit by naming one.
    async with edge(client=(proxy, 5000)) as pair:
        assert code(await pair.post(SEARCH, headers=forwarded)) == "OK"
    async with edge(client=(limited, 5000)) as pair:
        assert code(await pair.post(SEARCH, headers={"x-forwarded-for": fresh})) == "RATE_LIMITED"
    # A trusted proxy's word is taken.
    async with edge(client=(proxy, 5000), trusted_proxies=f"{proxy}, 192.0.2.0/24") as pair:
        assert code(await pair.post(SEARCH, headers=forwarded)) == "RATE_LIMITED"
        assert code(await pair.post(SEARCH, headers={"x-forwarded-for": fresh})) == "OK"


async def _search_over_websocket(address_: str, forwarded_for: str) -> str:
    ws = await websockets.connect(
        f"ws://{address_}/graphql",
        subprotocols=["graphql-transport-ws"],
        additional_headers={"X-Forwarded-For": forwarded_for},
    )
    try:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": SEARCH}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if message["type"] in ("next", "error"):
                break
        payload = message["payload"]
        errors = payload.get("errors") if isinstance(payload, dict) else payload
        return str(errors[0]["extensions"]["code"]) if errors else "OK"
    finally:
        await ws.close()


async def test_websocket_clients_are_counted_by_their_own_address(
    serve: Any, world: World, settings: Settings
) -> None:
    limited, fresh = address(), address()
    await exhaust(settings, limited)
    # uvicorn's peer is 127.0.0.1 here: the trusted proxy that names each client.
    async with serve(trusted_proxies="127.0.0.1") as served:
        assert await _search_over_websocket(served, limited) == "RATE_LIMITED"
        assert await _search_over_websocket(served, fresh) == "OK"


async def test_websocket_messages_nested_too_deep_close_the_socket(
    serve: Any, world: World
) -> None:
    """As an HTTP body nested too deep gets 400: the message is refused (4400) before anything
    recurses into it, and the server goes on answering."""
    deep = "[" * 5000 + "]" * 5000
    async with serve() as served:
        ws = await websockets.connect(
            f"ws://{served}/graphql", subprotocols=["graphql-transport-ws"]
        )
        try:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "connection_ack"
            await ws.send(
                '{"id": "1", "type": "subscribe", "payload": {"query": "{ __typename }", '
                f'"variables": {{"x": {deep}}}}}}}'
            )
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
        finally:
            await ws.close()
        assert await _search_over_websocket(served, address()) == "OK"
