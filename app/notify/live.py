"""Live events: the relay publishes each committed lead event on its organisation's Redis
channel, and each new in-app notification on its user's; each subscriber listens to its own."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncGenerator
from typing import Any, Protocol

import redis.asyncio as aioredis


class Publisher(Protocol):
    async def publish(self, channel: str, message: str) -> Any: ...


def live_channel(organisation_id: uuid.UUID | str) -> str:
    return f"lead-events:{organisation_id}"


def notification_channel(user_id: uuid.UUID | str) -> str:
    return f"notifications:{user_id}"


async def publish(redis: Publisher, organisation_id: uuid.UUID | str, event: Any) -> None:
    await redis.publish(live_channel(organisation_id), json.dumps(event))


async def publish_notification(redis: Publisher, user_id: uuid.UUID | str, note: Any) -> None:
    await redis.publish(notification_channel(user_id), json.dumps(note, default=str))


async def listen(
    redis_url: str, organisation_id: uuid.UUID
) -> AsyncGenerator[dict[str, Any], None]:
    """The organisation's lead events (their payloads), as they are published, until the
    caller stops iterating."""
    async for payload in listen_to(redis_url, live_channel(organisation_id)):
        yield payload


async def listen_to(redis_url: str, channel: str) -> AsyncGenerator[dict[str, Any], None]:
    """What is published on `channel`, decoded, until the caller stops iterating."""
    client = aioredis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(channel)
    try:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                yield json.loads(message["data"])
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
        await client.aclose()
