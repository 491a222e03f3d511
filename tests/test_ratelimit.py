"""The rate limiter on real Valkey: a moving window per subject, a retry time, failing open."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from app.config import Settings
from app.ratelimit import Decision, Limit, RateLimiter
from tests.waiting import eventually


@pytest.fixture
async def limiter(settings: Settings) -> AsyncIterator[RateLimiter]:
    limiter = RateLimiter(settings.redis_url)
    yield limiter
    await limiter.close()


def fresh(per_window: int, window_seconds: int) -> Limit:
    """A limit no other test (or earlier run) has counted against."""
    return Limit(f"test:{uuid.uuid4().hex[:12]}", per_window, window_seconds)


async def test_counts_each_subject_up_to_the_limit(limiter: RateLimiter) -> None:
    limit = fresh(3, 60)
    decisions = [await limiter.hit(limit, "client-a") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[:3] == [Decision(True, 0)] * 3
    assert 1 <= decisions[3].retry_after_seconds <= 60
    # A refused request does not count: the next one is refused for the same time, no longer.
    again = await limiter.hit(limit, "client-a")
    assert not again.allowed and again.retry_after_seconds <= decisions[3].retry_after_seconds
    # Another subject, and the same subject under another limit, are not affected.
    assert (await limiter.hit(limit, "client-b")).allowed
    assert (await limiter.hit(fresh(3, 60), "client-a")).allowed


async def test_the_window_moves_with_the_oldest_request(limiter: RateLimiter) -> None:
    limit = fresh(1, 2)
    assert (await limiter.hit(limit, "client")).allowed
    refused = await limiter.hit(limit, "client")
    assert not refused.allowed and 1 <= refused.retry_after_seconds <= 2

    async def allowed() -> bool:
        return (await limiter.hit(limit, "client")).allowed

    await eventually(allowed, timeout=10, describe="the window never moved on")


async def test_fails_open_when_redis_is_unreachable() -> None:
    unreachable = RateLimiter("redis://127.0.0.1:1/0")
    try:
        assert await unreachable.hit(fresh(1, 60), "client") == Decision(True, 0)
        assert await unreachable.hit(fresh(1, 60), "client") == Decision(True, 0)
    finally:
        await unreachable.close()


async def test_without_redis_everything_is_allowed() -> None:
    limiter = RateLimiter(None)
    limit = fresh(1, 60)
    assert [await limiter.hit(limit, "client") for _ in range(3)] == [Decision(True, 0)] * 3
    await limiter.close()
