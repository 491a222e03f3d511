"""The database accepts exactly the domain's delivery vocabularies: every `Topic` on the outbox,
every `Channel` and `DeliveryStatus` on deliveries, and nothing else (the CHECK constraints the
models build from the enums, as the migrations created them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Delivery, OutboxMessage
from app.domain.events import Channel, DeliveryStatus, Topic


async def stored(session: AsyncSession, row: Any) -> bool:
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError as refused:
        assert "violates check constraint" in str(refused)
        return False
    return True


async def test_the_outbox_takes_every_topic_and_nothing_else(session: AsyncSession) -> None:
    for topic in Topic:
        assert await stored(session, OutboxMessage(topic=topic, payload={})), topic
    for other in ("lead.nope", "LEAD.RECEIVED", "notify.", ""):
        assert not await stored(session, OutboxMessage(topic=other, payload={})), other


async def test_deliveries_take_every_channel_and_status_and_nothing_else(
    session: AsyncSession,
) -> None:
    event = OutboxMessage(topic=Topic.LEAD_RECEIVED, payload={})
    session.add(event)
    await session.flush()

    def delivery(n: int, channel: str, status: str) -> Delivery:
        return Delivery(outbox_id=event.id, channel=channel, recipient=str(n), status=status)

    rows = [delivery(n, c, DeliveryStatus.PENDING) for n, c in enumerate(Channel)]
    rows += [delivery(10 + n, Channel.EMAIL, s) for n, s in enumerate(DeliveryStatus)]
    for row in rows:
        assert await stored(session, row), (row.channel, row.status)
    assert not await stored(session, delivery(20, "SMS", DeliveryStatus.PENDING))
    assert not await stored(session, delivery(21, Channel.EMAIL, "QUEUED"))
