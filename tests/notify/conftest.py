"""Fixtures of the notification tests: a real webhook receiver, an HTTP client to reach it, and
the partner admin who manages Contoso's endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.auth import Actor
from tests.factories import World
from tests.notify.webhook_support import actor_for
from tests.receivers import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # No proxies from the environment: the receiver is on this machine.
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture
async def admin(session: AsyncSession, world: World) -> Actor:
    return await actor_for(session, world.contoso.partner_admin)


# The worker tests' real SMTP sink, delivery dependencies and view of only this test's events:
# the webhook operation tests drive the same fan-out and delivery.
from tests.workers.conftest import deps, only_this_tests_events, sink  # noqa: E402, F401
