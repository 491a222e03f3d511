"""What the webhook tests share: the partner admin who manages endpoints, endpoints made through
the service, refusals read as (code, path), and one signed POST."""

from __future__ import annotations

import re
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import WebhookEndpoint
from app.notify.safe_address import Resolver, system_resolver
from app.notify.webhook_sender import PostResult, post_event
from app.services import webhooks
from app.services.auth import Actor, load_actor
from app.services.errors import Refused

SECRET_SHAPE = re.compile(r"^whsec_[A-Za-z0-9+/]{32}$")


async def actor_for(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    actor = await load_actor(session, user_id)
    assert actor is not None
    return actor


async def create(
    session: AsyncSession,
    settings: Settings,
    actor: Actor | None,
    url: str = "https://hooks.example.com/leads",
    events: list[str] | None = None,
) -> tuple[WebhookEndpoint, str]:
    result = await webhooks.create_endpoint(
        session, actor, url=url, events=events or ["lead.received"], settings=settings
    )
    assert not isinstance(result, Refused), result
    return result


def codes(result: object) -> list[tuple[str, list[str] | None]]:
    assert isinstance(result, Refused), result
    return [(e.code.value, list(e.field) if e.field else None) for e in result.errors]


async def endpoint_row(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    return (
        await session.execute(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def send(
    http: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    *,
    message_id: str = "msg_1",
    payload: dict[str, Any] | None = None,
    timeout: float = 5.0,
    allow_private: bool = True,
    resolver: Resolver = system_resolver,
) -> PostResult:
    """One signed POST; private addresses allowed unless said (the receiver is on 127.0.0.1)."""
    return await post_event(
        http,
        endpoint,
        message_id=message_id,
        event_type="lead.accepted",
        payload=payload or {"leadId": "L-1"},
        now=datetime.now(UTC),
        timeout=timeout,
        allow_private=allow_private,
        resolver=resolver,
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port
