"""The activity log behind the wall (issue 11, migration 0014): append-only for the API, the
lead's partner's own, and open to the workers (a retention job may redact bodies)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import CursorResult, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db.models import LeadActivity
from tests.factories import World, make_lead

INSERT = text(
    "INSERT INTO lead_activities (id, lead_id, organisation_id, author_user_id, kind, body, "
    "occurred_at) VALUES (:id, :lead, :org, :author, 'NOTE', :body, now())"
)


async def _as_user(app: AsyncSession, user_id: uuid.UUID) -> None:
    found = await app.execute(text("SELECT id FROM partner_leads_actor(:u)"), {"u": user_id})
    assert found.one_or_none() is not None


async def _scalar(app: AsyncSession, sql: str, **params: Any) -> Any:
    return (await app.execute(text(sql), params)).scalar()


@pytest.fixture
async def logged(session: AsyncSession, world: World) -> LeadActivity:
    """One activity on a contoso lead, by its referrals admin (written as the owner)."""
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    activity = LeadActivity(
        id=uuid.uuid4(),
        lead_id=lead.id,
        organisation_id=lead.organisation_id,
        author_user_id=world.contoso.referrals_admin,
        kind="CALL",
        body="Called the customer",
        occurred_at=datetime.now(UTC),
    )
    session.add(activity)
    await session.flush()
    return activity


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE lead_activities SET body = 'rewritten' WHERE id = :id",
        "DELETE FROM lead_activities WHERE id = :id",
    ],
    ids=["update", "delete"],
)
async def test_the_api_can_neither_change_nor_delete_an_activity(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    world: World,
    logged: LeadActivity,
    statement: str,
) -> None:
    async with sessionmaker() as app:
        await _as_user(app, world.contoso.referrals_admin)
        assert (
            await _scalar(app, "SELECT count(*) FROM lead_activities WHERE id = :id", id=logged.id)
            == 1
        )
        with pytest.raises(DBAPIError, match="permission denied"):
            await app.execute(text(statement), {"id": logged.id})
    body = await _scalar(session, "SELECT body FROM lead_activities WHERE id = :id", id=logged.id)
    assert body == "Called the customer"


async def test_the_partner_appends_as_itself_to_its_own_leads_only(
    sessionmaker: async_sessionmaker[AsyncSession], world: World, logged: LeadActivity
) -> None:
    contoso, fabrikam = world.contoso, world.fabrikam
    async with sessionmaker() as app:
        await _as_user(app, contoso.partner_admin)
        await app.execute(
            INSERT,
            {
                "id": uuid.uuid4(),
                "lead": logged.lead_id,
                "org": contoso.organisation_id,
                "author": contoso.partner_admin,
                "body": "Sent the proposal",
            },
        )
        assert await _scalar(app, "SELECT count(*) FROM lead_activities") >= 2
    refused = [
        # Another partner, naming the lead's organisation or its own.
        (fabrikam.partner_admin, contoso.organisation_id, fabrikam.partner_admin),
        (fabrikam.partner_admin, fabrikam.organisation_id, fabrikam.partner_admin),
        # The lead's own partner, writing as a colleague.
        (contoso.partner_admin, contoso.organisation_id, contoso.referrals_admin),
    ]
    for user, org, author in refused:
        async with sessionmaker() as app:
            await _as_user(app, user)
            with pytest.raises(DBAPIError, match="row-level security"):
                await app.execute(
                    INSERT,
                    {
                        "id": uuid.uuid4(),
                        "lead": logged.lead_id,
                        "org": org,
                        "author": author,
                        "body": "Mine now",
                    },
                )
    async with sessionmaker() as app:
        await _as_user(app, fabrikam.partner_admin)
        assert (
            await _scalar(
                app, "SELECT count(*) FROM lead_activities WHERE lead_id = :l", l=logged.lead_id
            )
            == 0
        )
    async with sessionmaker() as app:  # nobody named: nothing
        assert await _scalar(app, "SELECT count(*) FROM lead_activities") == 0


async def test_the_workers_may_redact_an_activity(
    worker_sessionmaker: async_sessionmaker[AsyncSession], logged: LeadActivity
) -> None:
    async with worker_sessionmaker() as worker:
        redacted = await worker.execute(
            text("UPDATE lead_activities SET body = '[redacted]' WHERE id = :id"),
            {"id": logged.id},
        )
        assert isinstance(redacted, CursorResult) and redacted.rowcount == 1
