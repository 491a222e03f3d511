"""API keys on the websocket: accepted in connection_init like a bearer token, with the key's
roles; a revoked or expired key is refused at connection (4403), like a bad token."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.domain.roles import Role
from app.notify.live import live_channel
from tests.factories import make_api_key, make_partner
from tests.graphql.test_subscriptions import SUBSCRIBE, server
from tests.waiting import eventually

__all__ = ["server"]


async def connect(address: str, secret: str) -> Any:
    ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"])
    payload = {"Authorization": f"Bearer {secret}"}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def receive(ws: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message["type"] != "ping":
            return message


async def test_a_key_opens_a_websocket_with_its_roles_and_a_revoked_one_does_not(
    server: str, engine: AsyncEngine, settings: Settings
) -> None:
    now = datetime.now(UTC)
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        keys = {
            name: (
                await make_api_key(
                    session, settings, organisation_id=partner.organisation_id, **fields
                )
            )[1]
            for name, fields in {
                "referrals": {"roles": (Role.REFERRALS_ADMIN,)},
                "no_roles": {"roles": ()},
                "revoked": {"revoked_at": now},
                "expired": {"expires_at": now - timedelta(seconds=1)},
            }.items()
        }

    ws = await connect(server, keys["referrals"])
    assert (await receive(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    # The subscription started, for the key's organisation: it listens on its channel.
    probe = aioredis.from_url(settings.redis_url or "")
    channel = live_channel(partner.organisation_id)

    async def listening() -> bool:
        return bool(dict(await probe.pubsub_numsub(channel)).get(channel.encode(), 0))

    await eventually(listening, timeout=5, describe="the key's subscription listens")
    await probe.aclose()
    await ws.close()

    # Only the key's roles: without a referrals role it may not subscribe.
    ws = await connect(server, keys["no_roles"])
    assert (await receive(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    message = await receive(ws)
    assert {e["extensions"]["code"] for e in message["payload"]["errors"]} == {"FORBIDDEN"}
    await ws.close()

    for refused in ("revoked", "expired"):
        ws = await connect(server, keys[refused])
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await receive(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403, refused
