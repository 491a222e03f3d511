"""Waiting in tests: poll a condition until it holds or a deadline passes, never a fixed sleep."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], *, timeout: float, interval: float = 0.05
) -> None:
    """Return as soon as `condition()` is true; fail the test if it is not within `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        met = condition()
        if inspect.isawaitable(met):
            met = await met
        if met:
            return
        if asyncio.get_running_loop().time() >= deadline:
            raise AssertionError(f"not met within {timeout:g}s: {condition}")
        await asyncio.sleep(interval)
