"""Fixed-window rate limits in Redis, for the public fields (search, inquiries).

Fails open: if Redis is unreachable the request is allowed (and logged) — a customer's inquiry
matters more than a perfect limit, and Postgres constraints still guard the data."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Limit:
    name: str  # e.g. "search", "inquiry:client", "inquiry:email"
    per_window: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_seconds: int


class RateLimiter:
    def __init__(self, redis_url: str | None) -> None:
        self._client = (
            aioredis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
            if redis_url
            else None
        )

    async def hit(self, limit: Limit, subject: str) -> Decision:
        """Count one request by `subject` (a client address, an e-mail) against `limit`."""
        if self._client is None:
            return Decision(True, 0)
        now = int(time.time())
        window = now // limit.window_seconds
        key = f"ratelimit:{limit.name}:{subject}:{window}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.expire(key, limit.window_seconds + 1)
                count, _ = await pipe.execute()
        except Exception as exc:
            log.warning("rate limiter unavailable (%s); allowing %s", exc, limit.name)
            return Decision(True, 0)
        if int(count) > limit.per_window:
            return Decision(False, (window + 1) * limit.window_seconds - now)
        return Decision(True, 0)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
