"""Rate limits for the public fields (search, inquiries): moving windows in Redis.

Fails open: if Redis is unreachable the request is allowed (and logged) — a customer's inquiry
matters more than a perfect limit, and Postgres constraints still guard the data."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

log = logging.getLogger(__name__)

KEY_PREFIX = "ratelimit"


@dataclass(frozen=True, slots=True)
class Limit:
    name: str  # e.g. "search", "inquiry:client", "inquiry:email"
    per_window: int
    window_seconds: int

    def item(self) -> RateLimitItemPerSecond:
        return RateLimitItemPerSecond(self.per_window, self.window_seconds, namespace=self.name)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_seconds: int


class RateLimiter:
    # `limits` keeps a moving window per subject in one Lua call: no burst of twice the limit
    # across a window boundary, as our own fixed windows allowed, and no counting code of ours.
    def __init__(self, redis_url: str | None) -> None:
        self._pool: aioredis.ConnectionPool | None = None
        self._strategy: MovingWindowRateLimiter | None = None
        if redis_url:
            self._pool = aioredis.ConnectionPool.from_url(
                redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
            )
            # Our own pool: the storage has no close, and the app closes what it opened.
            options: dict[str, Any] = {"connection_pool": self._pool}
            storage = RedisStorage(
                f"async+{redis_url}",
                implementation="redispy",
                key_prefix=KEY_PREFIX,
                wrap_exceptions=True,
                **options,
            )
            self._strategy = MovingWindowRateLimiter(storage)

    async def hit(self, limit: Limit, subject: str, cost: int = 1) -> Decision:
        """Count one request by `subject` (a client address, an e-mail) against `limit`; `cost`:
        as many requests at once (one call that reads several things the limit counts)."""
        if self._strategy is None:
            return Decision(True, 0)
        item = limit.item()
        try:
            if await self._strategy.hit(item, subject, cost=cost):
                return Decision(True, 0)
            stats = await self._strategy.get_window_stats(item, subject)
        except StorageError as exc:
            log.warning("rate limiter unavailable (%s); allowing %s", exc, limit.name)
            return Decision(True, 0)
        # The oldest request in the window leaves it at reset_time; one slot is free then.
        return Decision(False, max(1, math.ceil(stats.reset_time - time.time())))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
