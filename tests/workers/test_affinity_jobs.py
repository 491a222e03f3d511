"""Answering leads queues the partner's similar-deal refresh once, deferred, however many
answers come in a burst; the job brings the partner's counts in line with its leads."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio as aioredis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.services import matching
from app.services.matching import LeadNeed
from tests.affinity_reference import reference_affinity_sql
from tests.factories import World, make_lead
from tests.graphql_client import GraphQLClient
from workers import affinity

ZYX = LeadNeed(industry="Zyxcounting")
DECLINE = (
    """mutation($id: ID!) { declineLead(input: {id: $id, reason: SPAM}) { errors { code } } }"""
)


async def zyxcounting_answers(session: AsyncSession, org: str) -> int:
    sql, params = matching.affinity_sql(ZYX, "SELECT CAST(:org AS uuid)")
    return int((await session.execute(text(sql), {**params, "org": org})).one().n_industry)


async def test_answers_queue_one_deferred_refresh_that_counts_them(
    gql: GraphQLClient,
    session: AsyncSession,
    worker_sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    settings: Settings,
) -> None:
    org = str(world.northwind.organisation_id)
    job = f"affinity:{org}"
    redis = aioredis.from_url(settings.redis_url or "")
    await redis.delete(f"arq:job:{job}")
    client = gql.as_user(world.northwind.referrals_admin)
    for _ in range(3):
        lead = await make_lead(
            session, organisation_id=world.northwind.organisation_id, industry="Zyxcounting"
        )
        body = await client(DECLINE, {"id": str(lead.id)})
        assert body["data"]["declineLead"]["errors"] == []
    # Three answers, one queued job for the partner, deferred so the burst collapses.
    assert await redis.exists(f"arq:job:{job}") == 1
    queued = await redis.zscore("arq:queue", job)
    assert queued is not None and queued > datetime.now(UTC).timestamp() * 1000
    await redis.delete(f"arq:job:{job}")
    await redis.zrem("arq:queue", job)
    await redis.aclose()

    # Until the job runs, the counts do not know the answers; then they are the leads' own.
    assert await zyxcounting_answers(session, org) == 0
    assert await affinity.refresh_organisation({"sessionmaker": worker_sessionmaker}, org) > 0
    assert await zyxcounting_answers(session, org) == 3
    for since in (None, datetime.now(UTC) - matching.AFFINITY_WINDOW):
        expected_sql, expected_params = reference_affinity_sql(
            ZYX, "SELECT CAST(:org AS uuid)", since=since
        )
        got_sql, got_params = matching.affinity_sql(ZYX, "SELECT CAST(:org AS uuid)", since=since)
        expected = (
            await session.execute(text(expected_sql), {**expected_params, "org": org})
        ).one()
        got = (await session.execute(text(got_sql), {**got_params, "org": org})).one()
        assert tuple(got) == tuple(expected)
        assert got.n_industry == 3 and got.acc_industry == 0
    # Run again, or rebuilt with everyone else's by the cron, it has nothing more to write.
    assert await affinity.refresh_organisation({"sessionmaker": worker_sessionmaker}, org) == 0
    await affinity.rebuild({"sessionmaker": worker_sessionmaker})
    assert await zyxcounting_answers(session, org) == 3
