"""What the in-process worker tests share: the deliveries fanned out for a lead, and delivering
everything due, one delivery per savepoint as a worker would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Delivery, OutboxMessage
from app.domain.events import DeliveryStatus
from app.notify.deliver import Deps, deliver

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def deliveries_of(session: AsyncSession, lead_id: uuid.UUID) -> set[tuple[str, str, str]]:
    """(topic, channel, recipient) of every delivery owed for the lead's events."""
    rows = await session.execute(
        select(OutboxMessage.topic, Delivery.channel, Delivery.recipient)
        .join(Delivery, Delivery.outbox_id == OutboxMessage.id)
        .where(OutboxMessage.lead_id == lead_id)
    )
    return {(topic, channel, recipient) for topic, channel, recipient in rows}


async def deliver_all(session: AsyncSession, deps: Deps, now: datetime) -> dict[str, int]:
    """Deliver every pending delivery; how many ended each way ('sent', 'retry', ...)."""
    ids = (
        await session.scalars(
            select(Delivery.id)
            .where(Delivery.status == DeliveryStatus.PENDING)
            .order_by(Delivery.id)
        )
    ).all()
    outcomes: dict[str, int] = {}
    for delivery_id in ids:
        async with session.begin_nested():
            outcome = await deliver(session, delivery_id, deps, now=now)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
