"""One event shape: a step applied in Python (`record_step`) and the same kind of step applied
by the set-based expiry sweep in SQL write outbox payloads with the same keys and the same
snapshot of the lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead, OutboxMessage
from app.domain.events import Topic
from app.domain.reference import DeclineReason
from app.services.auth import load_actor
from app.services.history import snapshot
from app.services.leads import decline_lead
from app.services.sweeps import expire_overdue
from tests.factories import World, make_lead


async def _events(session: AsyncSession, lead: Lead) -> dict[str, dict[str, object]]:
    rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.lead_id == lead.id))
    return {row.topic: row.payload for row in rows}


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [("1200", "JPY", "1200"), ("48000.5", "USD", "48000.50"), ("1.25", "KWD", "1.250")],
)
async def test_the_sweep_writes_the_payload_record_step_writes(
    session: AsyncSession, world: World, amount: str, currency: str, shown: str
) -> None:
    now = datetime.now(UTC)
    org = world.contoso.organisation_id
    value = {"estimated_value_amount": Decimal(amount), "estimated_value_currency": currency}
    declined = await make_lead(session, organisation_id=org, campaign_id="CAMP-1", **value)
    overdue = await make_lead(
        session,
        organisation_id=org,
        campaign_id="CAMP-1",
        received_at=now - timedelta(days=20),
        **value,
    )
    admin = await load_actor(session, world.contoso.referrals_admin)
    result = await decline_lead(
        session, admin, str(declined.id), DeclineReason.NO_CAPACITY, None, now=now
    )
    assert isinstance(result, Lead)
    assert await expire_overdue(session, now=now) >= 1
    await session.refresh(overdue)

    by_user = (await _events(session, declined))[Topic.LEAD_DECLINED]
    by_sweep = (await _events(session, overdue))[Topic.LEAD_EXPIRED]
    assert set(by_sweep) == set(by_user)
    assert by_sweep["current"] == snapshot(overdue)
    assert by_user["current"] == snapshot(result)
    current = by_sweep["current"]
    assert isinstance(current, dict)
    assert current["estimatedValue"] == {"amount": shown, "currency": currency}
    previous = by_sweep["previous"]
    assert isinstance(previous, dict)
    assert previous == {**snapshot(overdue), "stage": "RECEIVED", "outcome": None, "version": 1}
