"""lead.expire_overdue, lead.send_reminders and lead.reroute: cron sweeps, safe on any number
of workers (each batch takes its rows with FOR UPDATE SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.jobs import JobQueue, unit_of_work
from app.services.reroute import BATCH as REROUTE_BATCH
from app.services.reroute import reroute_due
from app.services.sweeps import BATCH, expire_batch, send_reminders

# Expiry batches run on this many connections at once: one Postgres backend per batch keeps
# one core busy, and a backlog is written faster when both of a small server's cores work.
EXPIRE_LANES = 2


async def _drain(
    ctx: dict[str, Any],
    step: Callable[[AsyncSession, datetime], Awaitable[int]],
    batch: int | None,
) -> int:
    """Run `step` one transaction per batch until a batch comes back short (or once, when
    `batch` is None); each batch's staged jobs (the relay of its outbox rows) go out after its
    commit."""
    total = 0
    while True:
        async with unit_of_work(ctx["sessionmaker"], ctx["jobs"]) as session:
            count = await step(session, datetime.now(UTC))
        total += count
        if batch is None or count < batch:
            break
    return total


async def expire(ctx: dict[str, Any]) -> int:
    """lead.expire_overdue: every overdue lead (see `expire_backlog`)."""
    return await expire_backlog(ctx["sessionmaker"], ctx["jobs"])


async def expire_backlog(
    sessionmaker: async_sessionmaker[AsyncSession],
    jobs: JobQueue | None,
    *,
    lanes: int = EXPIRE_LANES,
    stop_after: float | None = None,
) -> int:
    """Expire overdue leads in batches of one transaction each, on `lanes` connections, until
    none is left (or, with `stop_after`, once that many seconds have passed: the bench times a
    backlog this way); each lane goes on from its last batch's deadline. How many it expired."""
    stop_at = None if stop_after is None else time.monotonic() + stop_after

    async def lane() -> int:
        total, after = 0, None
        while True:
            async with unit_of_work(sessionmaker, jobs) as session:
                done = await expire_batch(session, now=datetime.now(UTC), after=after)
            total += done.count
            if done.count < BATCH or (stop_at is not None and time.monotonic() > stop_at):
                return total
            after = done.last_deadline

    return sum(await asyncio.gather(*(lane() for _ in range(lanes))))


async def remind(ctx: dict[str, Any]) -> int:
    hours = ctx["settings"].reminder_hours
    # One pass: each threshold's batch is bounded, and the next minute's run takes the rest.
    return await _drain(ctx, lambda s, now: send_reminders(s, now=now, hours=hours), None)


async def reroute(ctx: dict[str, Any]) -> int:
    """lead.reroute: offer declined or expired autoReroute leads to the next partner."""
    settings = ctx["settings"]
    return await _drain(
        ctx, lambda s, now: reroute_due(s, now=now, settings=settings), REROUTE_BATCH
    )
