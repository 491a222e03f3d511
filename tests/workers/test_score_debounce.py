"""Answering leads queues the profile's score recompute once, deferred, however many answers
come in a burst."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Lead
from tests.factories import World, make_lead
from tests.graphql_client import GraphQLClient


async def test_answering_a_lead_queues_one_debounced_score_recompute(
    gql: GraphQLClient, session: AsyncSession, world: World, settings: Settings
) -> None:
    profile_id = await session.scalar(
        select(Lead.profile_id).where(
            Lead.organisation_id == world.northwind.organisation_id, Lead.profile_id.is_not(None)
        )
    )
    redis = aioredis.from_url(settings.redis_url or "")
    await redis.delete(f"arq:job:score:{profile_id}")
    client = gql.as_user(world.northwind.referrals_admin)
    for _ in range(3):
        lead = await make_lead(
            session, organisation_id=world.northwind.organisation_id, profile_id=profile_id
        )
        body = await client(
            "mutation($id: ID!) { declineLead(input: {id: $id, reason: SPAM}) "
            "{ errors { code } } }",
            {"id": str(lead.id)},
        )
        assert body["data"]["declineLead"]["errors"] == []
    # Three answers, one queued job for the profile, deferred so the burst collapses.
    assert await redis.exists(f"arq:job:score:{profile_id}") == 1
    queued = await redis.zscore("arq:queue", f"score:{profile_id}")
    assert queued is not None and queued > datetime.now(UTC).timestamp() * 1000
    await redis.delete(f"arq:job:score:{profile_id}")
    await redis.zrem("arq:queue", f"score:{profile_id}")
    await redis.aclose()
