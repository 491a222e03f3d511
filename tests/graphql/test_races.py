"""R10: of two users acting on one lead at once, exactly one succeeds. Real concurrent
transactions on real Postgres, so these tests commit (on a partner of their own)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.models import Lead, LeadHistory, OutboxMessage
from app.domain.lifecycle import LeadStage
from tests.factories import make_lead, make_partner
from tests.graphql_client import GraphQLClient

ACCEPT = """
mutation($id: ID!, $v: Int) {
  acceptLead(input: {id: $id, expectedVersion: $v, dealName: "Race",
                     estimatedPurchaseDate: "2027-01-31",
                     estimatedValue: {amount: "1000", currency: "USD"}}) {
    lead { stage version } errors { code message }
  }
}"""
DECLINE = """
mutation($id: ID!, $v: Int) {
  declineLead(input: {id: $id, expectedVersion: $v, reason: NO_CAPACITY}) {
    lead { stage version } errors { code message }
  }
}"""
WON = """
mutation($id: ID!, $v: Int) {
  markLeadWon(input: {id: $id, expectedVersion: $v, closingDate: "2026-12-01",
                      finalValue: {amount: "900", currency: "USD"}}) {
    lead { stage outcome version } errors { code message }
  }
}"""
LOST = """
mutation($id: ID!, $v: Int) {
  markLeadLost(input: {id: $id, expectedVersion: $v, reason: PRICE}) {
    lead { stage outcome version } errors { code message }
  }
}"""


def _payload(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    (payload,) = body["data"].values()
    return payload  # type: ignore[no-any-return]


async def _race(
    engine: AsyncEngine,
    client: GraphQLClient,
    stage: LeadStage,
    first: str,
    second: str,
    with_version: bool,
    repeats: int,
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        leads = [
            await make_lead(session, organisation_id=partner.organisation_id, stage=stage)
            for _ in range(repeats)
        ]
        lead_ids = [lead.id for lead in leads]
    ids = [str(lead_id) for lead_id in lead_ids]
    admin = client.as_user(partner.referrals_admin)
    other = client.as_user(partner.partner_admin)
    version = 1 if with_version else None

    for lead_id in ids:
        bodies = await asyncio.gather(
            admin(first, {"id": lead_id, "v": version}),
            other(second, {"id": lead_id, "v": version}),
        )
        payloads = [_payload(b) for b in bodies]
        winners = [p for p in payloads if not p["errors"]]
        losers = [p for p in payloads if p["errors"]]
        assert len(winners) == 1, payloads
        assert len(losers) == 1, payloads
        expected_codes = {"CONFLICT"} if with_version else {"INVALID_TRANSITION"}
        assert losers[0]["errors"][0]["code"] in expected_codes, payloads
        assert losers[0]["lead"] is None
        assert winners[0]["lead"]["version"] == 2

    async with AsyncSession(engine) as session:
        # Exactly one applied action per lead: one history row besides RECEIVE, version 2.
        history = dict(
            (
                await session.execute(
                    select(LeadHistory.lead_id, func.count())
                    .where(LeadHistory.lead_id.in_(lead_ids), LeadHistory.action != "RECEIVE")
                    .group_by(LeadHistory.lead_id)
                )
            ).all()
        )
        assert sorted(history.values()) == [1] * repeats
        versions = (await session.scalars(select(Lead.version).where(Lead.id.in_(lead_ids)))).all()
        assert set(versions) == {2}
        # The loser wrote no side effects: one lead event per lead.
        events = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.lead_id.in_(lead_ids),
                OutboxMessage.topic.like("lead.%"),
            )
        )
        assert events == repeats


async def test_accept_against_decline_exactly_one_wins_50_times(
    engine: AsyncEngine, committed_gql: GraphQLClient
) -> None:
    await _race(
        engine, committed_gql, LeadStage.RECEIVED, ACCEPT, DECLINE, with_version=False, repeats=50
    )


async def test_won_against_lost_with_expected_version_loser_gets_conflict_50_times(
    engine: AsyncEngine, committed_gql: GraphQLClient
) -> None:
    await _race(engine, committed_gql, LeadStage.ACCEPTED, WON, LOST, with_version=True, repeats=50)


async def test_two_accepts_at_once_one_accepted_lead(
    engine: AsyncEngine, committed_gql: GraphQLClient
) -> None:
    await _race(
        engine, committed_gql, LeadStage.RECEIVED, ACCEPT, ACCEPT, with_version=False, repeats=20
    )
