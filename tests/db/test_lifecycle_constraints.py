"""The database accepts exactly the lead states the lifecycle table can produce: every other
(stage, outcome) pair is refused by a CHECK constraint, whatever the application does."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import REACHABLE_STATES, LeadOutcome, LeadStage, LeadState
from tests.factories import World, make_lead

PAIRS = list(itertools.product(LeadStage, [None, *LeadOutcome]))


async def _accepts(session: AsyncSession, lead_id: object, stage: str, outcome: str | None) -> bool:
    """Whether Postgres lets the lead take this state, with every other column made consistent
    (a deal name, and the reason its outcome requires), so only the state itself is judged."""
    savepoint = await session.begin_nested()
    try:
        await session.execute(
            text(
                """
                UPDATE leads SET stage = :stage, outcome = CAST(:outcome AS varchar),
                    deal_name = 'Deal',
                    decline_reason = CASE WHEN :outcome = 'DECLINED' THEN 'OTHER' END,
                    decline_notes = CASE WHEN :outcome = 'DECLINED' THEN 'n' END,
                    lost_reason = CASE WHEN :outcome = 'LOST' THEN 'OTHER' END
                WHERE id = :id
                """
            ),
            {"stage": stage, "outcome": outcome, "id": lead_id},
        )
    except IntegrityError:
        await savepoint.rollback()
        return False
    await savepoint.rollback()
    return True


async def test_the_table_reaches_every_stage_and_outcome() -> None:
    assert {state.stage for state in REACHABLE_STATES} == set(LeadStage)
    assert {state.outcome for state in REACHABLE_STATES} == {None, *LeadOutcome}


@pytest.mark.parametrize(("stage", "outcome"), PAIRS, ids=lambda v: str(v))
async def test_the_database_accepts_exactly_the_reachable_states(
    session: AsyncSession, world: World, stage: LeadStage, outcome: LeadOutcome | None
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    accepted = await _accepts(session, lead.id, stage.value, outcome.value if outcome else None)
    assert accepted == (LeadState(stage, outcome) in REACHABLE_STATES)


@pytest.mark.parametrize(("column", "value"), [("stage", "PENDING"), ("outcome", "ABANDONED")])
async def test_values_outside_the_vocabulary_are_refused(
    session: AsyncSession, world: World, column: str, value: str
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    savepoint = await session.begin_nested()
    with pytest.raises(IntegrityError):
        await session.execute(
            text(f"UPDATE leads SET {column} = :value WHERE id = :id"),
            {"value": value, "id": lead.id},
        )
    await savepoint.rollback()
