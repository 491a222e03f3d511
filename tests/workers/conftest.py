"""Fixtures of the in-process worker tests: a real SMTP sink, the delivery dependencies over
real Valkey and HTTP, and a view of the outbox that holds only the running test's events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Delivery, OutboxMessage
from app.dev.smtp_sink import MailSink
from app.domain.events import DeliveryStatus
from app.notify.deliver import Deps


@pytest.fixture
async def only_this_tests_events(session: AsyncSession) -> None:
    """Other tests commit events (races, concurrent sweeps): inside this test's rolled-back
    transaction, treat them as already handled so fan-out and delivery see only ours."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.processed_at.is_(None))
        .values(processed_at=func.now())
    )
    await session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.SKIPPED)
    )


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    with MailSink(tmp_path / "mail") as mail:
        yield mail


@pytest.fixture
async def deps(settings: Settings, sink: MailSink) -> AsyncIterator[Deps]:
    redis = aioredis.from_url(settings.redis_url or "")
    async with httpx.AsyncClient() as http:
        yield Deps(
            settings=settings.model_copy(update={"smtp_url": sink.url}), http=http, redis=redis
        )
    await redis.aclose()
