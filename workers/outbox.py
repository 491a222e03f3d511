"""outbox.relay: fan committed outbox rows out into deliveries, then send what is due.

Enqueued right after each commit (fast path) and run by cron every few seconds (safety net:
Redis was down, a worker was killed, a retry came due). Any number may run at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from app.notify.deliver import Deps, deliver, published_after_commit
from app.notify.relay import due_deliveries, fan_out

CONCURRENCY = 8
MAX_ROUNDS = 50


def _now() -> datetime:
    return datetime.now(UTC)


async def relay(ctx: dict[str, Any]) -> dict[str, int]:
    sessionmaker = ctx["sessionmaker"]
    deps: Deps = ctx["deps"]
    counts: dict[str, int] = {"deliveries_created": 0}
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery_id: int) -> None:
        async with semaphore, sessionmaker() as session:
            async with session.begin():
                outcome = await deliver(session, delivery_id, deps, now=_now())
            await published_after_commit(session, deps)
        counts[outcome] = counts.get(outcome, 0) + 1

    for _ in range(MAX_ROUNDS):
        async with sessionmaker() as session, session.begin():
            created = await fan_out(session, now=_now())
        counts["deliveries_created"] += len(created)
        async with sessionmaker() as session:
            due = await due_deliveries(session, now=_now())
        if not due and not created:
            break
        await asyncio.gather(*(one(d) for d in due))
    return counts
