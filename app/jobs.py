"""Jobs: their names, the ones a unit of work stages, and enqueueing them after commit.

Services stage the jobs their changes call for on the session (`stage(session, relay())`); the
owner of the transaction enqueues them only once it has committed (`JobQueue.flush`), so a
worker never sees work that was rolled back, and no resolver decides which jobs follow an
action. Redis only carries work: if it is down, enqueueing fails quietly and the workers'
sweeps pick the work up from Postgres later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from arq import ArqRedis, create_pool
from arq.connections import RedisSettings
from arq.constants import job_key_prefix, result_key_prefix
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)

JOB_RELAY = "outbox.relay"
JOB_EXPIRE = "lead.expire_overdue"
JOB_REMIND = "lead.send_reminders"
JOB_REROUTE = "lead.reroute"
JOB_SCORE_ALL = "score.recompute_all"
JOB_SCORE_PROFILE = "score.recompute_profile"
JOB_AFFINITY_REFRESH = "affinity.refresh_organisation"
JOB_AFFINITY_REBUILD = "affinity.rebuild"
JOB_REDACT_RETAINED = "privacy.redact_retained"
# One relay queued at a time: a burst of commits collapses into one job, and a running relay
# keeps going until the outbox is empty, so it also takes what was committed meanwhile.
RELAY_JOB_ID = "outbox.relay:next"
# A burst of answers recomputes a profile's score once, this long after the first.
SCORE_DEBOUNCE = timedelta(seconds=30)
# A burst of answers at one partner refreshes its similar-deal counts once, this long after the
# first: short, since suggestions read the counts.
AFFINITY_DEBOUNCE = timedelta(seconds=2)

_STAGED = "staged_jobs"


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    args: tuple[Any, ...] = ()
    job_id: str | None = None
    defer_by: timedelta | None = None


def relay() -> Job:
    """Fan out and deliver the outbox rows a transaction wrote."""
    return Job(JOB_RELAY, job_id=RELAY_JOB_ID)


def debounce_job_id(profile_id: uuid.UUID | str) -> str:
    """arq refuses an enqueue while a job with this id is queued or running, so every request of
    the next SCORE_DEBOUNCE collapses into the first one's job, which reads the database when it
    runs and so sees them all. The job keeps no result, or the kept result would refuse (drop,
    not defer) the next request too."""
    return f"score:{profile_id}"


def score_profile(profile_id: uuid.UUID) -> Job:
    """Recompute one profile's responsiveness score, debounced."""
    return Job(
        JOB_SCORE_PROFILE,
        (str(profile_id),),
        job_id=debounce_job_id(profile_id),
        defer_by=SCORE_DEBOUNCE,
    )


def refresh_affinity(organisation_id: uuid.UUID) -> Job:
    """Recompute one organisation's similar-deal counts, debounced like `score_profile` (the
    job keeps no result, for the same reason)."""
    return Job(
        JOB_AFFINITY_REFRESH,
        (str(organisation_id),),
        job_id=f"affinity:{organisation_id}",
        defer_by=AFFINITY_DEBOUNCE,
    )


def stage(session: AsyncSession, job: Job) -> None:
    """Enqueue `job` once the session's transaction commits; staging it twice enqueues it once."""
    staged: dict[Job, None] = session.info.setdefault(_STAGED, {})
    staged[job] = None


def take_staged(session: AsyncSession) -> list[Job]:
    """The jobs staged on `session` since the last call, in staging order."""
    staged: dict[Job, None] = session.info.pop(_STAGED, {})
    return list(staged)


def redis_settings(url: str) -> RedisSettings:
    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 1
    settings.conn_retries = 0
    return settings


class JobQueue:
    """Enqueues on Redis, never failing the caller: after a failure it backs off for `backoff`
    seconds so requests do not wait on a dead Redis."""

    def __init__(
        self, redis_url: str | None, *, timeout: float = 1.0, pool: ArqRedis | None = None
    ) -> None:
        self.redis_url = redis_url
        self.timeout = timeout
        self._pool = pool
        self._owns_pool = pool is None
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

    async def enqueue(self, job: Job) -> bool:
        """True if the job was queued (or collapsed into a queued one with its id); False
        (logged) if Redis could not take it now."""
        if time.monotonic() < self._down_until:
            return False
        try:
            async with asyncio.timeout(self.timeout):
                pool = await self._connect()
                if pool is None:
                    return False
                queued = await pool.enqueue_job(
                    job.name, *job.args, _job_id=job.job_id, _defer_by=job.defer_by
                )
                return queued is not None or job.job_id is not None
        except Exception as exc:
            await self._failed(job.name, exc)
            return False

    async def flush(self, session: AsyncSession) -> None:
        """Enqueue what the committed transaction staged."""
        jobs = take_staged(session)
        if any(job.job_id for job in jobs):
            jobs = await self._not_queued(jobs)
        for job in jobs:
            if not await self.enqueue(job):
                break  # Redis is down: the sweeps take the rest from Postgres

    async def _not_queued(self, jobs: list[Job]) -> list[Job]:
        """`jobs` less those whose id is queued or running now, which arq would refuse one by
        one (`enqueue_job` answers None) after a WATCH, an EXISTS and an UNWATCH each: here one
        round trip asks about them all. Under load that is most of a lead action's jobs (the
        relay already queued, the debounced score and similar-deal refreshes): an accept spent
        a fifth of its API time on them (bench/RESULTS.md, issue 12). Empty if Redis is down."""
        if time.monotonic() < self._down_until:
            return []
        keyed = [job for job in jobs if job.job_id]
        try:
            async with asyncio.timeout(self.timeout):
                pool = await self._connect()
                if pool is None:
                    return []
                async with pool.pipeline(transaction=False) as pipe:
                    for job in keyed:
                        # What enqueue_job looks for: the job queued or running, or its result.
                        pipe.exists(
                            job_key_prefix + str(job.job_id), result_key_prefix + str(job.job_id)
                        )
                    found = await pipe.execute()
        except Exception as exc:
            await self._failed(keyed[0].name, exc)
            return []
        queued = {job for job, exists in zip(keyed, found, strict=True) if exists}
        return [job for job in jobs if job not in queued]

    async def _failed(self, name: str, exc: Exception) -> None:
        log.warning("could not enqueue %s (%s); the sweep will pick it up", name, exc)
        self._down_until = time.monotonic() + self.backoff
        await self._reset()

    async def _reset(self) -> None:
        if not self._owns_pool:
            return
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.aclose()

    async def close(self) -> None:
        await self._reset()


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession], queue: JobQueue | None
) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, then its staged jobs enqueued; rolled back
    (and its staged jobs dropped) when the block raises."""
    async with sessionmaker() as session:
        async with session.begin():
            yield session
        if queue is not None:
            await queue.flush(session)
