"""Enqueueing jobs after commit. Redis only carries work: if it is down, enqueueing fails
quietly and the workers' sweeps pick the work up from Postgres later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings

log = logging.getLogger(__name__)

JOB_RELAY = "outbox.relay"
JOB_EXPIRE = "lead.expire_overdue"
JOB_REMIND = "lead.send_reminders"
JOB_REROUTE = "lead.reroute"
JOB_SCORE_PROFILE = "score.recompute_profile"
# One relay queued at a time: a burst of commits collapses into one job, and a running relay
# keeps going until the outbox is empty, so it also takes what was committed meanwhile.
RELAY_JOB_ID = "outbox.relay:next"


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 1
    settings.conn_retries = 0
    return settings


class JobQueue:
    def __init__(self, redis_url: str | None, *, timeout: float = 1.0) -> None:
        self.redis_url = redis_url
        self.timeout = timeout
        self._pool: ArqRedis | None = None
        self._lock = asyncio.Lock()
        self._down_until = 0.0
        self.backoff = 5.0

    async def _connect(self) -> ArqRedis | None:
        if self._pool is not None or not self.redis_url:
            return self._pool
        async with self._lock:
            if self._pool is None:
                self._pool = await create_pool(redis_settings(self.redis_url))
        return self._pool

    async def enqueue(
        self,
        name: str,
        *args: Any,
        job_id: str | None = None,
        defer_by: timedelta | None = None,
    ) -> bool:
        """True if the job was queued; False (logged) if Redis could not take it now."""
        if time.monotonic() < self._down_until:
            return False  # Redis failed moments ago: do not make every request wait on it
        try:
            async with asyncio.timeout(self.timeout):
                pool = await self._connect()
                if pool is None:
                    return False
                job = await pool.enqueue_job(name, *args, _job_id=job_id, _defer_by=defer_by)
                return job is not None or job_id is not None
        except Exception as exc:
            log.warning("could not enqueue %s (%s); the sweep will pick it up", name, exc)
            self._down_until = time.monotonic() + self.backoff
            await self._reset()
            return False

    async def _reset(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.aclose()

    async def relay(self) -> bool:
        return await self.enqueue(JOB_RELAY, job_id=RELAY_JOB_ID)

    async def close(self) -> None:
        await self._reset()
