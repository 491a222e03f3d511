"""leadEvents and notificationAdded over a real websocket (graphql-transport-ws), fed by the
relay through Redis."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import Notification
from app.main import create_app
from app.notify.deliver import Deps
from app.notify.live import live_channel, notification_channel
from app.services.auth import issue_token
from app.services.receive import receive_lead
from tests.factories import WorldPartner, incoming_lead, make_lead, make_partner
from tests.stack import utcnow
from tests.waiting import eventually
from workers.outbox import relay

SUBSCRIBE = """subscription { leadEvents { eventId type leadId occurredAt
  previous { stage outcome version } current { stage outcome version } } }"""


@pytest.fixture
async def server(settings: Settings, app_engine: AsyncEngine) -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings, sessionmaker=async_sessionmaker(app_engine, expire_on_commit=False))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    task = asyncio.ensure_future(uv.serve())

    async def started() -> bool:
        return uv.started

    await eventually(started, timeout=10, describe="the server started")
    yield f"127.0.0.1:{port}"
    uv.should_exit = True
    await task


@pytest.fixture
async def partner(engine: AsyncEngine) -> WorldPartner:
    async with AsyncSession(engine) as session, session.begin():
        return await make_partner(session)


async def _connect(address: str, token: str | None) -> Any:
    ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-transport-ws"])
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
    return ws


async def _next(ws: Any, timeout: float = 10) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message["type"] != "ping":
            return message  # type: ignore[no-any-return]


async def test_subscriber_receives_committed_lead_events(
    server: str,
    settings: Settings,
    engine: AsyncEngine,
    worker_engine: AsyncEngine,
    partner: WorldPartner,
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        lead = await make_lead(session, organisation_id=partner.organisation_id)
        lead_id = str(lead.id)
    token = issue_token(settings, partner.referrals_admin)
    ws = await _connect(server, token)
    assert (await _next(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
    # Wait until the subscription listens on Redis, so the event cannot be published before.
    probe = aioredis.from_url(settings.redis_url or "")
    channel = live_channel(partner.organisation_id)

    async def listening() -> bool:
        return bool(dict(await probe.pubsub_numsub(channel)).get(channel.encode(), 0))

    await eventually(listening, timeout=5, describe="the subscription listens")
    await probe.aclose()

    async with httpx.AsyncClient(base_url=f"http://{server}") as http:
        response = await http.post(
            "/graphql",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "query": "mutation($id: ID!) { declineLead(input: {id: $id, reason: SPAM}) "
                "{ errors { code } } }",
                "variables": {"id": lead_id},
            },
        )
    assert response.json()["data"]["declineLead"]["errors"] == []

    redis = aioredis.from_url(settings.redis_url or "")
    async with httpx.AsyncClient() as client:
        ctx = {
            "sessionmaker": async_sessionmaker(worker_engine, expire_on_commit=False),
            "deps": Deps(settings=settings, http=client, redis=redis),
        }
        await relay(ctx)
    await redis.aclose()

    message = await _next(ws)
    assert message["type"] == "next" and message["id"] == "1"
    event = message["payload"]["data"]["leadEvents"]
    assert event["type"] == "lead.declined" and event["leadId"] == lead_id
    assert event["previous"] == {"stage": "RECEIVED", "outcome": None, "version": 1}
    assert event["current"] == {"stage": "ARCHIVED", "outcome": "DECLINED", "version": 2}
    await ws.close()


async def test_a_bad_token_is_refused_at_connection(server: str) -> None:
    ws = await _connect(server, "not-a-token")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await _next(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_users_without_a_referrals_role_cannot_subscribe(
    server: str, settings: Settings, partner: WorldPartner
) -> None:
    for token in (issue_token(settings, partner.member), None):
        ws = await _connect(server, token)
        assert (await _next(ws))["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}}))
        message = await _next(ws)
        # Refused when the subscription starts: a result carrying the error, then complete.
        assert message["type"] == "next"
        assert message["payload"]["data"] is None
        codes = {e["extensions"]["code"] for e in message["payload"]["errors"]}
        assert codes == ({"FORBIDDEN"} if token else {"UNAUTHENTICATED"})
        assert (await _next(ws))["type"] == "complete"
        await ws.close()


NOTIFICATIONS = (
    """subscription { notificationAdded { id kind title body leadId createdAt readAt } }"""
)


async def _subscribed_to_notifications(address: str, settings: Settings, user: Any) -> Any:
    ws = await _connect(address, issue_token(settings, user))
    assert (await _next(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "n", "type": "subscribe", "payload": {"query": NOTIFICATIONS}}))
    probe = aioredis.from_url(settings.redis_url or "")
    channel = notification_channel(user)

    async def listening() -> bool:
        return bool(dict(await probe.pubsub_numsub(channel)).get(channel.encode(), 0))

    await eventually(listening, timeout=5, describe="the subscription listens")
    await probe.aclose()
    return ws


async def _new_lead_relayed(
    settings: Settings, engine: AsyncEngine, worker_engine: AsyncEngine, partner: WorldPartner
) -> str:
    """A lead arrives for `partner` (NEW_LEAD for its lead managers) and the relay delivers."""
    async with AsyncSession(engine) as session, session.begin():
        lead = await receive_lead(
            session,
            partner.organisation_id,
            incoming_lead(contact_requested=False),
            now=utcnow(),
            settings=settings,
        )
        lead_id = str(lead.id)
    redis = aioredis.from_url(settings.redis_url or "")
    async with httpx.AsyncClient() as client:
        ctx = {
            "sessionmaker": async_sessionmaker(worker_engine, expire_on_commit=False),
            "deps": Deps(settings=settings, http=client, redis=redis),
        }
        await relay(ctx)
    await redis.aclose()
    return lead_id


async def test_notifications_arrive_live_for_their_own_user_only(
    server: str,
    settings: Settings,
    engine: AsyncEngine,
    worker_engine: AsyncEngine,
    partner: WorldPartner,
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        other = await make_partner(session)
    mine = await _subscribed_to_notifications(server, settings, partner.referrals_admin)
    theirs = await _subscribed_to_notifications(server, settings, other.referrals_admin)

    lead_id = await _new_lead_relayed(settings, engine, worker_engine, partner)
    message = await _next(mine)
    assert message["type"] == "next" and message["id"] == "n"
    note = message["payload"]["data"]["notificationAdded"]
    assert (note["kind"], note["leadId"], note["readAt"]) == ("NEW_LEAD", lead_id, None)
    async with AsyncSession(engine) as session:
        stored = await session.get(Notification, uuid.UUID(note["id"]))
    assert stored is not None and stored.user_id == partner.referrals_admin
    assert (stored.title, stored.body) == (note["title"], note["body"])

    # The other partner's manager heard nothing of it: the first thing they hear is their own.
    their_lead = await _new_lead_relayed(settings, engine, worker_engine, other)
    heard = (await _next(theirs))["payload"]["data"]["notificationAdded"]
    assert heard["leadId"] == their_lead
    for ws in (mine, theirs):
        await ws.close()


async def test_notifications_need_a_signed_in_user(server: str) -> None:
    ws = await _connect(server, None)
    assert (await _next(ws))["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "n", "type": "subscribe", "payload": {"query": NOTIFICATIONS}}))
    message = await _next(ws)
    assert message["type"] == "next" and message["payload"]["data"] is None
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["UNAUTHENTICATED"]
    await ws.close()
