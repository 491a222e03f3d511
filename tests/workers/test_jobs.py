"""Enqueueing after commit never fails a request: Redis down means the sweep delivers later."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.jobs import JOB_RELAY, Job, JobQueue, relay, score_profile, stage


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


async def test_a_flush_asks_once_about_the_jobs_already_queued(
    settings: Settings, session: AsyncSession
) -> None:
    """A lead action stages the relay and the debounced refreshes; those already queued are
    found in one round trip and left alone (no WATCH of their own), the others are queued."""
    import redis.asyncio as aioredis

    queue = JobQueue(settings.redis_url)
    client = aioredis.from_url(settings.redis_url or "")
    profile = uuid.uuid4()
    score = score_profile(profile)
    keys = [f"arq:job:{relay().job_id}", f"arq:job:{score.job_id}"]
    await client.delete(*keys)
    plain = Job(JOB_RELAY, job_id=None)
    before_queue: set[bytes] = set()
    try:
        assert await queue.enqueue(relay()) is True
        queued_body = await client.get(keys[0])

        async def watches() -> int:
            stats = await client.info("commandstats")
            return int(stats.get("cmdstat_watch", {}).get("calls", 0))

        before = await watches()
        before_queue = set(await client.zrange("arq:queue", 0, -1))
        for job in (relay(), score, plain):
            stage(session, job)
        await queue.flush(session)
        assert await watches() - before == 2  # the score job and the one without an id
        assert await client.get(keys[0]) == queued_body  # the queued relay as it was
        assert await client.exists(keys[1]) == 1
        added = set(await client.zrange("arq:queue", 0, -1)) - before_queue
        assert len(added) == 2 and score.job_id.encode() in added
    finally:
        added = set(await client.zrange("arq:queue", 0, -1)) - before_queue
        if added:
            await client.zrem("arq:queue", *added)
        await client.delete(*keys, *(b"arq:job:" + job_id for job_id in added))
        await client.aclose()
        await queue.close()
