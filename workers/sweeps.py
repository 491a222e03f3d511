"""lead.expire_overdue and lead.send_reminders: cron sweeps, safe on any number of workers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.queue import JOB_RELAY, RELAY_JOB_ID
from app.services.reroute import BATCH as REROUTE_BATCH
from app.services.reroute import reroute_due
from app.services.sweeps import BATCH, expire_overdue, send_reminders


async def expire(ctx: dict[str, Any]) -> int:
    total = 0
    while True:
        async with ctx["sessionmaker"]() as session, session.begin():
            count = await expire_overdue(session, now=datetime.now(UTC))
        total += count
        if count < BATCH:
            break
    if total:
        await ctx["redis"].enqueue_job(JOB_RELAY, _job_id=RELAY_JOB_ID)
    return total


async def remind(ctx: dict[str, Any]) -> int:
    async with ctx["sessionmaker"]() as session, session.begin():
        count = await send_reminders(
            session, now=datetime.now(UTC), hours=ctx["settings"].reminder_hours
        )
    if count:
        await ctx["redis"].enqueue_job(JOB_RELAY, _job_id=RELAY_JOB_ID)
    return count


async def reroute(ctx: dict[str, Any]) -> int:
    """lead.reroute: offer declined or expired autoReroute leads to the next partner."""
    total = 0
    while True:
        async with ctx["sessionmaker"]() as session, session.begin():
            count = await reroute_due(session, now=datetime.now(UTC), settings=ctx["settings"])
        total += count
        if count < REROUTE_BATCH:
            break
    if total:
        await ctx["redis"].enqueue_job(JOB_RELAY, _job_id=RELAY_JOB_ID)
    return total
