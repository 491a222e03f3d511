"""Waiting in tests: poll a real condition until a deadline, never sleep a fixed time.

    await eventually(lambda: stack.pending_is(0), timeout=180, describe="outbox drained")
    wait_until(lambda: log.read_text().count("ready"), timeout=90, describe="server up")

Both return the condition's first truthy value, and fail with `describe` (a string, or a
callable for details only known at the end) when the deadline passes. Exceptions listed in
`ignoring` count as "not yet" (a server that is restarting refuses connections).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL_SECONDS = 0.05


def _failure(describe: str | Callable[[], str], timeout: float) -> AssertionError:
    text = describe() if callable(describe) else describe
    return AssertionError(f"not within {timeout:g}s: {text}")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout: float,
    describe: str | Callable[[], str],
    poll: float = POLL_SECONDS,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Call `condition` until it returns something truthy; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := condition():
                return result
        except ignoring:
            pass
        if time.monotonic() >= deadline:
            raise _failure(describe, timeout)
        time.sleep(poll)


async def eventually(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float,
    describe: str | Callable[[], str],
    poll: float = POLL_SECONDS,
    ignoring: tuple[type[Exception], ...] = (),
) -> T:
    """Await `condition()` until it returns something truthy; return that value. The loop
    stays free for other tasks (servers in this process) between polls."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if result := await condition():
                return result
        except ignoring:
            pass
        if time.monotonic() >= deadline:
            raise _failure(describe, timeout)
        await asyncio.sleep(poll)
