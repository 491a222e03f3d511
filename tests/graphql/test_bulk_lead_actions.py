"""bulkLeadActions: many actions in one call, all or nothing, with a dry run that writes nothing;
each action leaves exactly what its single mutation leaves."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Lead, LeadHistory, OutboxMessage
from app.domain.lifecycle import LeadStage
from app.jobs import RELAY_JOB_ID
from tests.factories import World, WorldPartner, make_lead
from tests.graphql import lead_documents as docs
from tests.graphql_client import GraphQLClient

BULK = """
mutation Bulk($input: BulkLeadActionsInput!) {
  bulkLeadActions(input: $input) {
    applied
    results { index leadId ok stage outcome version changes { field from to }
              errors { code field message } }
    errors { code field message }
  }
}
"""

# The single mutation of each bulk action, and its bulk name.
SINGLE = {
    "accept": "acceptLead",
    "decline": "declineLead",
    "update": "updateLead",
    "markWon": "markLeadWon",
    "markLost": "markLeadLost",
}


async def bulk(client: GraphQLClient, actions: list[dict[str, Any]], *, dry_run: bool) -> Any:
    data = await client.data(BULK, {"input": {"dryRun": dry_run, "actions": actions}})
    return data["bulkLeadActions"]


def action(kind: str, lead: Lead, **fields: Any) -> dict[str, Any]:
    return {kind: {**docs.valid_input(SINGLE[kind], lead.id), **fields}}


async def counts(session: AsyncSession, lead_ids: list[uuid.UUID]) -> tuple[int, int]:
    history = await session.scalar(
        select(func.count()).select_from(LeadHistory).where(LeadHistory.lead_id.in_(lead_ids))
    )
    outbox = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.lead_id.in_(lead_ids))
    )
    return int(history or 0), int(outbox or 0)


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(settings.redis_url or "")
    yield client
    await client.aclose()


async def queued(redis: aioredis.Redis, job_id: str) -> bool:
    return bool(await redis.exists(f"arq:job:{job_id}"))


async def forget(redis: aioredis.Redis, *job_ids: str) -> None:
    for job_id in job_ids:
        await redis.delete(f"arq:job:{job_id}")
        await redis.zrem("arq:queue", job_id)


async def test_dry_run_reports_what_would_change_and_writes_nothing(
    admin: GraphQLClient,
    session: AsyncSession,
    partner: WorldPartner,
    redis: aioredis.Redis,
) -> None:
    org = partner.organisation_id
    received = [await make_lead(session, organisation_id=org) for _ in range(2)]
    accepted = await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED)
    ids = [lead.id for lead in (*received, accepted)]
    before = await counts(session, ids)
    affinity_job = f"affinity:{org}"
    await forget(redis, RELAY_JOB_ID, affinity_job)

    payload = await bulk(
        admin,
        [
            action("accept", received[0], dealName="Dry deal", expectedVersion=1),
            action("decline", received[1]),
            action("markWon", accepted),
        ],
        dry_run=True,
    )

    assert payload["errors"] == []
    assert payload["applied"] is False, "a dry run applies nothing"
    rows = payload["results"]
    assert [(r["index"], r["ok"], r["stage"], r["outcome"], r["version"]) for r in rows] == [
        (0, True, "ACCEPTED", None, 2),
        (1, True, "ARCHIVED", "DECLINED", 2),
        (2, True, "ARCHIVED", "WON", 2),
    ]
    assert [r["leadId"] for r in rows] == [str(i) for i in ids]
    assert {"field": "dealName", "from": None, "to": "Dry deal"} in rows[0]["changes"]
    assert all(r["errors"] == [] for r in rows)
    # Nothing written, nothing published, nothing queued.
    assert await counts(session, ids) == before
    for lead in (*received, accepted):
        row = await docs.lead_row(session, lead.id)
        assert (row["stage"], row["version"], row["deal_name"]) == (
            lead.stage,
            1,
            lead.deal_name,
        )
    assert not await queued(redis, RELAY_JOB_ID)
    assert not await queued(redis, affinity_job)


async def test_real_run_updates_500_leads_each_with_its_history_and_event(
    admin: GraphQLClient, session: AsyncSession, partner: WorldPartner, redis: aioredis.Redis
) -> None:
    org = partner.organisation_id
    leads = [
        await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED) for _ in range(500)
    ]
    ids = [lead.id for lead in leads]
    await forget(redis, RELAY_JOB_ID)
    actions = [
        {"update": {"id": str(lead.id), "expectedVersion": 1, "crmId": f"CRM-{n}"}}
        for n, lead in enumerate(leads)
    ]

    dry_started = time.perf_counter()
    dry = await bulk(admin, actions, dry_run=True)
    dry_seconds = time.perf_counter() - dry_started
    assert dry["applied"] is False and all(r["ok"] for r in dry["results"])
    assert await counts(session, ids) == (500, 0)

    started = time.perf_counter()
    payload = await bulk(admin, actions, dry_run=False)
    seconds = time.perf_counter() - started
    print(f"\nbulkLeadActions, 500 updates: dry run {dry_seconds:.2f} s, real run {seconds:.2f} s")

    assert payload["applied"] is True
    assert all(r["ok"] and r["version"] == 2 for r in payload["results"])
    # Each lead: its RECEIVE row and one UPDATE, and one lead.updated event.
    assert await counts(session, ids) == (1000, 500)
    crm_ids = dict(
        (await session.execute(select(Lead.id, Lead.crm_id).where(Lead.id.in_(ids)))).all()
    )
    assert crm_ids == {lead.id: f"CRM-{n}" for n, lead in enumerate(leads)}
    topics = (
        await session.scalars(select(OutboxMessage.topic).where(OutboxMessage.lead_id.in_(ids)))
    ).all()
    assert set(topics) == {"lead.updated"}
    assert await queued(redis, RELAY_JOB_ID), "the relay is queued after the commit"
    await forget(redis, RELAY_JOB_ID)


def _comparable(payload: dict[str, Any], lead_id: uuid.UUID) -> dict[str, Any]:
    """An event's payload without what differs between two leads and two moments."""
    varying = {"eventId", "leadId", "occurredAt"}
    comparable = {k: v for k, v in payload.items() if k not in varying}
    if "lead" in comparable:  # the lead's state after the change (every event carries it)
        own = {
            "id",
            "updatedAt",
            "respondedAt",
            "archivedAt",
            "engagementId",
            "possibleDuplicateOf",
        }
        comparable["lead"] = {k: v for k, v in comparable["lead"].items() if k not in own}
    return comparable


@pytest.mark.parametrize("kind", list(SINGLE))
async def test_each_action_leaves_what_its_single_mutation_leaves(
    admin: GraphQLClient, session: AsyncSession, partner: WorldPartner, kind: str
) -> None:
    stage = docs.READY_STAGE[SINGLE[kind]]
    received_at = datetime.now(UTC) - timedelta(hours=3)
    one, twin = [
        await make_lead(
            session,
            organisation_id=partner.organisation_id,
            stage=stage,
            received_at=received_at,
        )
        for _ in range(2)
    ]
    await docs.succeed(admin, SINGLE[kind], docs.valid_input(SINGLE[kind], one.id))
    payload = await bulk(admin, [action(kind, twin)], dry_run=False)
    assert payload["applied"] is True, payload

    single_rows, bulk_rows = [await docs.lead_row(session, x.id) for x in (one, twin)]
    varying = {"id", "updated_at", "archived_at", "responded_at", "closing_date"}
    assert {k: v for k, v in bulk_rows.items() if k not in varying} == {
        k: v for k, v in single_rows.items() if k not in varying
    }
    single_history, bulk_history = [await docs.history_rows(session, x.id) for x in (one, twin)]
    assert [
        (h.action, h.from_stage, h.to_stage, h.outcome, h.actor_user_id, h.changes)
        for h in bulk_history
    ] == [
        (h.action, h.from_stage, h.to_stage, h.outcome, h.actor_user_id, h.changes)
        for h in single_history
    ]
    single_outbox, bulk_outbox = [await docs.outbox_rows(session, x.id) for x in (one, twin)]
    assert [o.topic for o in single_outbox], "the action publishes something"
    assert [(o.topic, _comparable(o.payload, twin.id)) for o in bulk_outbox] == [
        (o.topic, _comparable(o.payload, one.id)) for o in single_outbox
    ]


async def test_one_refusal_rolls_everything_back_and_says_where(
    admin: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    org = partner.organisation_id
    leads = [await make_lead(session, organisation_id=org) for _ in range(3)]
    ids = [lead.id for lead in leads]
    before = await counts(session, ids)

    payload = await bulk(
        admin,
        [
            action("accept", leads[0]),
            action("accept", leads[1], dealName="  "),
            action("decline", leads[2]),
        ],
        dry_run=False,
    )

    assert payload["applied"] is False
    ok, refused, later = payload["results"]
    assert ok["ok"] is True and later["ok"] is True
    assert refused["ok"] is False and refused["stage"] is None
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("VALIDATION", ["input", "actions", "1", "accept", "dealName"])
    ]
    assert await counts(session, ids) == before
    stages = (await session.scalars(select(Lead.stage).where(Lead.id.in_(ids)))).all()
    assert set(stages) == {"RECEIVED"}


async def test_actions_on_one_lead_follow_each_other_and_versions_guard_them(
    admin: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    lead = await make_lead(session, organisation_id=partner.organisation_id)
    payload = await bulk(
        admin,
        [
            action("accept", lead, expectedVersion=1),
            action("update", lead, expectedVersion=2, notes="after accepting"),
            action("markLost", lead, expectedVersion=3),
        ],
        dry_run=False,
    )
    assert payload["applied"] is True, payload
    assert [r["version"] for r in payload["results"]] == [2, 3, 4]
    assert [h.action for h in await docs.history_rows(session, lead.id)] == [
        "RECEIVE",
        "ACCEPT",
        "UPDATE",
        "MARK_LOST",
    ]

    stale = await bulk(admin, [action("update", lead, expectedVersion=1)], dry_run=True)
    [row] = stale["results"]
    assert [(e["code"], e["field"]) for e in row["errors"]] == [
        ("CONFLICT", ["input", "actions", "0", "update", "expectedVersion"])
    ]


async def test_another_organisations_lead_does_not_exist(
    admin: GraphQLClient, session: AsyncSession, partner: WorldPartner, world: World
) -> None:
    own = await make_lead(session, organisation_id=partner.organisation_id)
    foreign = await make_lead(session, organisation_id=world.fabrikam.organisation_id)
    payload = await bulk(
        admin,
        [
            action("decline", own),
            action("decline", foreign),
            {"decline": {"id": "not-an-id", "reason": "SPAM"}},
        ],
        dry_run=False,
    )
    assert payload["applied"] is False
    assert [[(e["code"], e["field"]) for e in r["errors"]] for r in payload["results"]] == [
        [],
        [("NOT_FOUND", ["input", "actions", "1", "decline", "id"])],
        [("VALIDATION", ["input", "actions", "2", "decline", "id"])],
    ]
    assert (await docs.lead_row(session, foreign.id))["stage"] == "RECEIVED"
    assert (await docs.lead_row(session, own.id))["stage"] == "RECEIVED"


async def test_more_than_1000_actions_are_refused(admin: GraphQLClient) -> None:
    actions = [{"decline": {"id": str(uuid.uuid4()), "reason": "SPAM"}}] * 1001
    payload = await bulk(admin, actions, dry_run=True)
    assert payload["applied"] is False and payload["results"] == []
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("VALIDATION", ["input", "actions"])
    ]


@pytest.mark.parametrize("who", ["member", "anonymous", "seller"])
async def test_only_lead_managers_act(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner, world: World, who: str
) -> None:
    lead = await make_lead(session, organisation_id=partner.organisation_id)
    user = {"member": partner.member, "anonymous": None, "seller": world.seller}[who]
    payload = await bulk(gql.as_user(user), [action("decline", lead)], dry_run=False)
    code = "UNAUTHENTICATED" if who == "anonymous" else "FORBIDDEN"
    assert [e["code"] for e in payload["errors"]] == [code]
    assert payload["applied"] is False
    assert (await docs.lead_row(session, lead.id))["stage"] == "RECEIVED"


async def test_an_action_names_exactly_one_kind(
    admin: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    lead = await make_lead(session, organisation_id=partner.organisation_id)
    both = {**action("decline", lead), **action("accept", lead)}
    body = await admin(BULK, {"input": {"dryRun": True, "actions": [both]}})
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
