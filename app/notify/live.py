"""Live lead events: the relay publishes each committed lead event on its organisation's Redis
channel; each subscriber listens to its own."""

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


async def publish(redis: Publisher, organisation_id: uuid.UUID | str, event: Any) -> None:
    await redis.publish(live_channel(organisation_id), json.dumps(event))


async def listen(
    redis_url: str, organisation_id: uuid.UUID
) -> AsyncGenerator[dict[str, Any], None]:
    """The organisation's lead events (their payloads), as they are published, until the
    caller stops iterating."""
    client = aioredis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(live_channel(organisation_id))
    try:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                yield json.loads(message["data"])
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
        await client.aclose()
