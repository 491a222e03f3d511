"""When to try a failed delivery again: Svix's schedule, from seconds to hours, capped. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

# Delay before attempt n+1 after attempt n failed (attempt 1 is immediate).
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1


def next_attempt_at(attempts_made: int, now: datetime) -> datetime | None:
    """After `attempts_made` failed attempts, when to try again; None when it is time to give up."""
    if attempts_made < 1:
        return now
    if attempts_made >= MAX_ATTEMPTS:
        return None
    return now + RETRY_DELAYS[attempts_made - 1]
