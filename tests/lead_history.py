"""A partner's answered leads, for the tests of what partners accept and decline (similar
deals, R12): matching and customer search. Holds no tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadOutcome, LeadStage
from app.services import affinity_counts
from tests.factories import make_lead


async def answered(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    outcome: str,
    n: int = 1,
    *,
    received_at: datetime | None = None,
    **fields: Any,
) -> None:
    """n leads the partner answered: ACCEPTED, WON, LOST or DECLINED (or let EXPIRE), received
    a month ago unless `received_at` says otherwise; counted in the partner's similar-deal
    counts, as the worker's refresh after an answer does."""
    received_at = received_at or datetime.now(UTC) - timedelta(days=30)
    for _ in range(n):
        if outcome == "ACCEPTED":
            await make_lead(
                session,
                organisation_id=organisation_id,
                stage=LeadStage.ACCEPTED,
                received_at=received_at,
                **fields,
            )
            continue
        extra: dict[str, Any] = {"responded_at": received_at + timedelta(hours=3)}
        if outcome == LeadOutcome.DECLINED.value:
            extra["decline_reason"] = "NOT_A_FIT_FOR_EXPERTISE"
        elif outcome in (LeadOutcome.WON.value, LeadOutcome.LOST.value):
            extra.update(
                deal_name="Deal",
                estimated_value_amount=Decimal("1000"),
                estimated_value_currency="USD",
                final_value_amount=Decimal("1000"),
                final_value_currency="USD",
            )
            if outcome == LeadOutcome.LOST.value:
                extra["lost_reason"] = "PRICE"
        elif outcome == LeadOutcome.EXPIRED.value:
            extra = {}
        await make_lead(
            session,
            organisation_id=organisation_id,
            stage=LeadStage.ARCHIVED,
            outcome=outcome,
            received_at=received_at,
            **extra,
            **fields,
        )
    await affinity_counts.refresh(session, [organisation_id])
