"""Enqueueing after commit never fails a request: Redis down means the sweep delivers later."""

from __future__ import annotations

import asyncio

from app.config import Settings
from app.jobs import JOB_RELAY, Job, JobQueue, relay


async def test_enqueue_reaches_redis_and_collapses_relays(settings: Settings) -> None:
    import redis.asyncio as aioredis

    queue = JobQueue(settings.redis_url)
    client = aioredis.from_url(settings.redis_url or "")
    await client.delete("arq:job:outbox.relay:next")
    try:
        assert await queue.enqueue(relay()) is True
        assert await queue.enqueue(relay()) is True  # a second relay while one is queued: collapsed
        assert await client.exists("arq:job:outbox.relay:next") == 1
        assert await queue.enqueue(Job(JOB_RELAY)) is True
    finally:
        await client.delete("arq:job:outbox.relay:next")
        await client.aclose()
        await queue.close()


async def test_redis_down_fails_then_backs_off() -> None:
    """A listener that is not Redis: every connection attempt is counted and dropped."""
    attempts = 0

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    queue = JobQueue(f"redis://127.0.0.1:{port}/0", timeout=1.0)
    try:
        assert await queue.enqueue(relay()) is False
        tried = attempts
        assert tried >= 1
        for _ in range(20):
            assert await queue.enqueue(relay()) is False
        assert attempts == tried  # within the back-off nobody waits on a dead Redis again
        queue._down_until = 0.0  # the back-off is over: the next request tries again
        assert await queue.enqueue(relay()) is False
        assert attempts > tried
    finally:
        await queue.close()
        server.close()
        await server.wait_closed()
