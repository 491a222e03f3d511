"""Issue 9, section 1: an operation still running after REQUEST_TIMEOUT_SECONDS is cancelled,
answered with TIMEOUT, and its transaction rolled back, on both execution paths.

Something genuinely slow: the test holds a row lock on the lead (a transaction of its own,
committed data) and the mutation waits for it in Postgres."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import Lead
from app.domain.lifecycle import LeadStage
from app.main import create_app
from tests.factories import World, make_lead, make_partner
from tests.graphql_client import GraphQLClient, asgi_client

DEADLINE_SECONDS = 0.5

ACCEPT = """
mutation($id: ID!) {
  acceptLead(input: {id: $id, expectedVersion: 1, dealName: "Deadline",
                     estimatedPurchaseDate: "2027-01-31",
                     estimatedValue: {amount: "1000", currency: "USD"}}) {
    lead { id stage version } errors { code message }
  }
}"""


@pytest.fixture
async def impatient(
    settings: Settings, app_engine: AsyncEngine, world: World
) -> AsyncIterator[dict[str, GraphQLClient]]:
    """Clients of apps that commit for real, with a deadline of half a second: the compiled
    path on (it answers lead mutations), and off."""
    quick = settings.model_copy(update={"request_timeout_seconds": DEADLINE_SECONDS})
    general = quick.model_copy(update={"compiled_reads": False})
    maker = async_sessionmaker(app_engine, expire_on_commit=False)
    async with (
        asgi_client(create_app(quick, sessionmaker=maker)) as compiled,
        asgi_client(create_app(general, sessionmaker=maker)) as strawberry_only,
    ):
        yield {
            "compiled": GraphQLClient(compiled, quick),
            "strawberry": GraphQLClient(strawberry_only, general),
        }


@pytest.mark.parametrize("path", ["compiled", "strawberry"])
async def test_an_operation_past_the_deadline_is_cancelled_and_rolled_back(
    engine: AsyncEngine, impatient: dict[str, GraphQLClient], path: str
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        lead = await make_lead(session, organisation_id=partner.organisation_id)
        lead_id = lead.id
    admin = impatient[path].as_user(partner.referrals_admin)

    async with AsyncSession(engine) as locker, locker.begin():
        await locker.execute(select(Lead.id).where(Lead.id == lead_id).with_for_update())
        started = time.monotonic()
        response = await admin.raw(ACCEPT, {"id": str(lead_id)})
        elapsed = time.monotonic() - started
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": f"the operation took longer than {DEADLINE_SECONDS:g} seconds and "
                "was cancelled",
                "extensions": {"code": "TIMEOUT"},
            }
        ],
    }
    assert (response.headers.get("x-execution-path") == "compiled") == (path == "compiled")
    assert elapsed >= DEADLINE_SECONDS, elapsed  # it waited for the deadline, no less

    # Rolled back: the lead is as it was, and the same action succeeds once the lock is gone
    # (the cancelled request's connection went back to the pool in working order).
    async with AsyncSession(engine) as session:
        stored = await session.get(Lead, lead_id)
        assert stored is not None
        assert (stored.stage, stored.version) == (LeadStage.RECEIVED, 1)
    body = await admin(ACCEPT, {"id": str(lead_id)})
    assert body["data"]["acceptLead"] == {
        "lead": {"id": str(lead_id), "stage": "ACCEPTED", "version": 2},
        "errors": [],
    }
