"""The schema is the migrations', the models agree with it, and the database itself refuses
impossible lead states."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, create_async_engine

from app.config import Settings
from app.db.migrate import downgrade, upgrade
from app.db.models import Base, Lead
from app.db.urls import with_driver
from app.domain.lifecycle import LeadStage
from tests.factories import make_lead, make_partner


async def test_models_and_migrations_agree(connection: AsyncConnection) -> None:
    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    assert await connection.run_sync(diff) == []


def test_migrations_go_down_to_nothing_and_up_again(empty_database: str) -> None:
    upgrade(empty_database)
    downgrade(empty_database, "base")
    assert asyncio.run(_count_tables(empty_database)) == 0
    upgrade(empty_database)


async def _count_tables(url: str) -> int:
    engine = create_async_engine(with_driver(url))
    async with engine.connect() as conn:
        tables = await conn.scalar(
            text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' "
                "AND table_name <> 'alembic_version'"
            )
        )
    await engine.dispose()
    return int(tables or 0)


@pytest.mark.parametrize(
    "values",
    [
        {"stage": "ARCHIVED"},  # archived without an outcome
        {"outcome": "WON"},  # an outcome on an open lead
        {"stage": "ARCHIVED", "outcome": "DECLINED"},  # declined without a reason
        {"stage": "ACCEPTED", "deal_name": None},  # accepted without a deal name
        {"stage": "SOMEWHERE"},
        {"estimated_value_amount": -1, "estimated_value_currency": "USD"},
        {"estimated_value_amount": 10},  # an amount without a currency
        {"version": 0},
        {"decline_reason": "SPAM"},  # a decline reason on a lead nobody declined
        {"stage": "ARCHIVED", "outcome": "LOST", "deal_name": "x"},  # lost without a reason
    ],
)
async def test_database_refuses_impossible_states(
    session: AsyncSession, settings: Settings, values: dict[str, Any]
) -> None:
    partner = await make_partner(session)
    lead = await make_lead(
        session, organisation_id=partner.organisation_id, stage=LeadStage.RECEIVED
    )
    with pytest.raises(IntegrityError, match="violates check constraint"):
        async with session.begin_nested():
            await session.execute(update(Lead).where(Lead.id == lead.id).values(**values))
