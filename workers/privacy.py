"""privacy.redact_retained: the retention sweep (app/services/privacy.py), one transaction per
batch until a batch comes back short; safe on any number of workers (SKIP LOCKED) and twice
(a redacted lead is never taken again)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.jobs import unit_of_work
from app.services.privacy import BATCH, redact_due


async def redact_retained(ctx: dict[str, Any]) -> int:
    settings = ctx["settings"]
    total = 0
    while True:
        async with unit_of_work(ctx["sessionmaker"], ctx["jobs"]) as session:
            count = await redact_due(session, now=datetime.now(UTC), settings=settings)
        total += count
        if count < BATCH:
            return total
