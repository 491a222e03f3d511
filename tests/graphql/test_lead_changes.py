"""The change feed (issue 10, section 2): every change to a partner's leads, resumable from an
opaque cursor, never skipping one even when transactions commit out of the order of their ids.

The feed only shows changes of transactions that have ended, so its tests commit for real, on
partners of their own, and remove them afterwards. The filters a connector syncs by (updatedAfter,
crmIds, leadByCrmId) are tested at the end, on both execution paths."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import models
from app.domain.lifecycle import LeadStage
from app.main import create_app
from app.services.sweeps import expire_batch
from tests.factories import World, WorldPartner, make_lead, make_partner
from tests.graphql.inbox_support import only_error
from tests.graphql_client import GraphQLClient

CHANGES = """
query Changes($after: String, $first: Int) {
  leadChanges(after: $after, first: $first) {
    edges {
      cursor
      node {
        id action fromStage toStage outcome at version
        actor { kind name }
        changes { field from to }
        lead { id version stage deal { name crmId notes } }
      }
    }
    pageInfo { endCursor hasNextPage }
  }
}"""

UPDATE = """
mutation($id: ID!, $notes: String, $crmId: String) {
  updateLead(input: {id: $id, notes: $notes, crmId: $crmId}) {
    lead { version } errors { code message }
  }
}"""
ACCEPT = """
mutation($id: ID!) {
  acceptLead(input: {id: $id, dealName: "Feed deal", estimatedPurchaseDate: "2027-01-31",
                     estimatedValue: {amount: "1000", currency: "USD"}, crmId: "CRM-1"}) {
    lead { version } errors { code message }
  }
}"""
DECLINE = """
mutation($id: ID!) {
  declineLead(input: {id: $id, reason: NO_CAPACITY}) { lead { version } errors { code } }
}"""


@asynccontextmanager
async def _connector(settings: Settings, app_engine: AsyncEngine) -> AsyncIterator[GraphQLClient]:
    """A fresh API process as a connector reaches it: nothing shared with earlier clients but
    the database (a restart)."""
    app = create_app(settings, sessionmaker=async_sessionmaker(app_engine, expire_on_commit=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield GraphQLClient(http, settings)


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[list[uuid.UUID]]:
    """Organisations the test commits; removed with everything of theirs afterwards."""
    organisations: list[uuid.UUID] = []
    yield organisations
    async with AsyncSession(engine) as session, session.begin():
        for org in organisations:
            await session.execute(delete(models.OutboxMessage).where(
                models.OutboxMessage.organisation_id == org
            ))  # fmt: skip
            await session.execute(delete(models.Organisation).where(models.Organisation.id == org))


async def _partner_with_leads(
    engine: AsyncEngine, committed: list[uuid.UUID], count: int, stage: LeadStage
) -> tuple[WorldPartner, list[str]]:
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        committed.append(partner.organisation_id)
        leads = [
            await make_lead(session, organisation_id=partner.organisation_id, stage=stage)
            for _ in range(count)
        ]
        return partner, [str(lead.id) for lead in leads]


async def _page(
    client: GraphQLClient, after: str | None, first: int | None = None
) -> dict[str, Any]:
    data = await client.data(CHANGES, {"after": after, "first": first})
    page: dict[str, Any] = data["leadChanges"]
    return page


async def _drain(
    client: GraphQLClient, after: str | None, first: int
) -> tuple[list[dict[str, Any]], str | None, int]:
    """Every change after `after`, page by page: (nodes, the last cursor, pages read)."""
    nodes: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = await _page(client, after, first)
        pages += 1
        assert [e["cursor"] for e in page["edges"]][-1:] == (
            [page["pageInfo"]["endCursor"]] if page["edges"] else []
        )
        nodes += [e["node"] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes, after, pages


async def _history(engine: AsyncEngine, organisation_id: uuid.UUID) -> list[models.LeadHistory]:
    async with AsyncSession(engine) as session:
        return list(
            (
                await session.scalars(
                    select(models.LeadHistory)
                    .where(models.LeadHistory.organisation_id == organisation_id)
                    .order_by(models.LeadHistory.txid, models.LeadHistory.id)
                )
            ).all()
        )


async def test_a_connector_pages_to_the_end_and_resumes_from_its_cursor_after_a_restart(
    settings: Settings,
    engine: AsyncEngine,
    app_engine: AsyncEngine,
    committed_gql: GraphQLClient,
    committed: list[uuid.UUID],
) -> None:
    partner, ids = await _partner_with_leads(engine, committed, 3, LeadStage.RECEIVED)
    admin = committed_gql.as_user(partner.referrals_admin)
    assert (await admin.data(ACCEPT, {"id": ids[0]}))["acceptLead"]["errors"] == []
    assert (await admin.data(DECLINE, {"id": ids[1]}))["declineLead"]["errors"] == []
    updated = await admin.data(UPDATE, {"id": ids[0], "notes": "called back", "crmId": "CRM-2"})
    assert updated["updateLead"]["lead"]["version"] == 3

    nodes, cursor, pages = await _drain(admin, None, first=2)
    assert pages == 3  # 6 changes: 3 received, accepted, declined, updated

    # The feed is the history, in (transaction, id) order, each with the lead as it is now.
    history = await _history(engine, partner.organisation_id)
    assert [n["id"] for n in nodes] == [str(h.id) for h in history]
    assert [(n["action"], n["version"]) for n in nodes] == [
        ("RECEIVE", 1),
        ("RECEIVE", 1),
        ("RECEIVE", 1),
        ("ACCEPT", 2),
        ("DECLINE", 2),
        ("UPDATE", 3),
    ]
    assert [n["toStage"] for n in nodes] == [h.to_stage for h in history]
    assert nodes[3]["actor"] == {"kind": "USER", "name": "Test Partner referrals_admin"}
    assert nodes[0]["actor"] == {"kind": "SYSTEM", "name": None}
    assert {c["field"]: (c["from"], c["to"]) for c in nodes[5]["changes"]} == {
        "notes": (None, "called back"),
        "crmId": ("CRM-1", "CRM-2"),
    }
    # Every change carries the lead's current state, not its state at the time.
    accepted = [n["lead"] for n in nodes if n["lead"]["id"] == ids[0]]
    assert {(x["version"], x["stage"], x["deal"]["crmId"]) for x in accepted} == {
        (3, "ACCEPTED", "CRM-2")
    }

    # Nothing new: an empty page that keeps the connector's position.
    page = await _page(admin, cursor)
    assert page == {"edges": [], "pageInfo": {"endCursor": cursor, "hasNextPage": False}}

    # Another change; a new process resumes from the stored cursor and sees exactly it.
    later = await admin.data(UPDATE, {"id": ids[0], "notes": "after the restart"})
    assert later["updateLead"]["errors"] == []
    async with _connector(settings, app_engine) as restarted:
        resumed, end, _ = await _drain(restarted.as_user(partner.referrals_admin), cursor, 10)
    assert [(n["action"], n["lead"]["id"], n["version"]) for n in resumed] == [
        ("UPDATE", ids[0], 4)
    ]
    assert end not in (None, cursor)


async def test_a_change_committed_out_of_id_order_is_never_skipped(
    settings: Settings,
    engine: AsyncEngine,
    app_engine: AsyncEngine,
    committed_gql: GraphQLClient,
    committed: list[uuid.UUID],
) -> None:
    partner, (first_id, second_id) = await _partner_with_leads(
        engine, committed, 2, LeadStage.ACCEPTED
    )
    connector = committed_gql.as_user(partner.referrals_admin)
    _, start, _ = await _drain(connector, None, first=100)

    change = text(
        "WITH lead AS (UPDATE leads SET notes = :notes, version = version + 1 "
        "WHERE id = :lead RETURNING id, stage) "
        "INSERT INTO lead_history (lead_id, action, from_stage, to_stage, actor_kind, changes) "
        "SELECT id, 'UPDATE', stage, stage, 'SYSTEM', CAST(:changes AS jsonb) FROM lead "
        "RETURNING id"
    )
    async with engine.connect() as t1, engine.connect() as t2:
        await t1.begin()
        first_row = (
            await t1.execute(
                change, {"lead": first_id, "notes": "T1", "changes": '{"notes": "T1"}'}
            )
        ).scalar_one()
        await t2.begin()
        second_row = (
            await t2.execute(
                change, {"lead": second_id, "notes": "T2", "changes": '{"notes": "T2"}'}
            )
        ).scalar_one()
        assert first_row < second_row
        await t2.commit()

        # T2's row is visible and has the higher id: a feed ordered by id alone would hand out
        # a cursor past T1's row here, and the next poll (id > cursor) would never return it.
        async with AsyncSession(engine) as session:
            visible = set(
                (
                    await session.scalars(
                        select(models.LeadHistory.id).where(
                            models.LeadHistory.id.in_([first_row, second_row])
                        )
                    )
                ).all()
            )
        assert visible == {second_row}
        page = await _page(connector, start)
        assert page["edges"] == []
        assert page["pageInfo"] == {"endCursor": start, "hasNextPage": False}

        await t1.commit()

    # Both, in the feed's order: T1 wrote (and took its transaction id) first.
    page = await _page(connector, start, first=1)
    [edge] = page["edges"]
    assert (edge["node"]["id"], edge["node"]["lead"]["deal"]["notes"]) == (str(first_row), "T1")
    assert page["pageInfo"]["hasNextPage"] is True
    saved = page["pageInfo"]["endCursor"]

    # The connector restarts with its saved cursor and resumes exactly after T1's change.
    async with _connector(settings, app_engine) as restarted:
        nodes, _, _ = await _drain(restarted.as_user(partner.referrals_admin), saved, 10)
    assert [(n["id"], n["changes"]) for n in nodes] == [
        (str(second_row), [{"field": "notes", "from": None, "to": "T2"}])
    ]
    assert nodes[0]["version"] == 2


async def test_each_organisation_sees_only_its_own_changes_and_only_lead_managers_see_any(
    engine: AsyncEngine, committed_gql: GraphQLClient, committed: list[uuid.UUID], world: World
) -> None:
    partner, ids = await _partner_with_leads(engine, committed, 2, LeadStage.RECEIVED)
    other, _ = await _partner_with_leads(engine, committed, 0, LeadStage.RECEIVED)

    own, _, _ = await _drain(committed_gql.as_user(partner.partner_admin), None, 100)
    assert sorted(n["lead"]["id"] for n in own) == sorted(ids)
    for user in (other.referrals_admin, partner.member, world.seller, None):
        nodes, _, _ = await _drain(committed_gql.as_user(user), None, 100)
        assert nodes == []


async def test_a_bad_cursor_or_page_size_is_a_typed_error(
    engine: AsyncEngine, committed_gql: GraphQLClient, committed: list[uuid.UUID]
) -> None:
    partner, _ = await _partner_with_leads(engine, committed, 1, LeadStage.RECEIVED)
    admin = committed_gql.as_user(partner.referrals_admin)
    leads_cursor = "WyJSRUNFSVZFRF9BVF9ERVNDIiwiMjAyNi0wMS0wMVQwMDowMDowMCswMDowMCIsIngiXQ"
    for variables, field in (
        ({"after": "not-a-cursor"}, ["after"]),
        ({"after": leads_cursor}, ["after"]),
        ({"after": "WyJjaGFuZ2VzIiwiLTEiLDFd"}, ["after"]),  # ["changes","-1",1]
        ({"first": 101}, ["first"]),
        ({"first": -1}, ["first"]),
    ):
        error = only_error(await admin(CHANGES, variables))
        assert error["extensions"] == {"code": "VALIDATION", "field": field}, variables
        assert "Traceback" not in error["message"]
    assert admin.last_status == 200


async def test_every_writer_stamps_its_rows_for_the_feed(
    session: AsyncSession, world: World
) -> None:
    """History written in set-based SQL (the expiry sweep) and through the ORM (factories,
    reroute) gets its transaction, partner and version from the trigger, whatever it passed."""
    partner = await make_partner(session)
    lead = await make_lead(session, organisation_id=partner.organisation_id, response_days=-1)
    expired = await expire_batch(session, now=datetime.now(UTC), after=lead.respond_by)
    assert expired.count >= 1
    rows = (
        await session.execute(
            text(
                "SELECT action, organisation_id, version, txid = pg_current_xact_id() "
                "FROM lead_history WHERE lead_id = :lead ORDER BY id"
            ),
            {"lead": lead.id},
        )
    ).all()
    assert rows == [
        ("RECEIVE", partner.organisation_id, 1, True),
        ("EXPIRE", partner.organisation_id, 2, True),
    ]
    # A writer cannot claim another transaction or another partner.
    forged = (
        await session.execute(
            text(
                "INSERT INTO lead_history (lead_id, action, to_stage, actor_kind, txid, "
                "organisation_id) VALUES (:lead, 'UPDATE', 'ARCHIVED', 'SYSTEM', '1'::xid8, :o) "
                "RETURNING txid = pg_current_xact_id(), organisation_id"
            ),
            {"lead": lead.id, "o": world.contoso.organisation_id},
        )
    ).one()
    assert tuple(forged) == (True, partner.organisation_id)
    # Rows from before the feed (txid 0) sort first and are below every snapshot's xmin.
    assert await session.scalar(text("SELECT '0'::xid8 < pg_snapshot_xmin(pg_current_snapshot())"))


# --- what a connector filters by: updatedAfter, crmIds, leadByCrmId ------------------------
# (in the test's rolled-back transaction; `gql` asks both execution paths and compares)

FILTERED = """
query Filtered($filter: LeadFilter) {
  leads(tab: MARKETPLACE, filter: $filter, first: 100) {
    nodes { id updatedAt deal { crmId } }
    totalCount
  }
}"""
BY_CRM_ID = "query($crmId: String!) { leadByCrmId(crmId: $crmId) { id deal { crmId } } }"


async def _filtered_ids(client: GraphQLClient, **filter: Any) -> list[str]:
    data = await client.data(FILTERED, {"filter": filter})
    assert data["leads"]["totalCount"] == len(data["leads"]["nodes"])
    return [n["id"] for n in data["leads"]["nodes"]]


async def test_updated_after_returns_leads_changed_strictly_after_on_both_paths(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    base = datetime(2026, 11, 1, 12, tzinfo=UTC)
    leads = [
        await make_lead(
            session, organisation_id=partner.organisation_id, received_at=base + timedelta(days=d)
        )
        for d in range(3)
    ]
    leads[0].updated_at = base + timedelta(days=5)
    await session.flush()
    compiled = admin.differential.compiled if admin.differential else 0

    after_first = await _filtered_ids(admin, updatedAfter=(base + timedelta(days=1)).isoformat())
    assert after_first == [str(leads[2].id), str(leads[0].id)]
    # Exclusive: a lead updated exactly at the bound is not "after" it.
    assert await _filtered_ids(admin, updatedAfter=(base + timedelta(days=5)).isoformat()) == []
    assert admin.differential is not None and admin.differential.compiled == compiled + 2
    error = only_error(await admin(FILTERED, {"filter": {"updatedAfter": "0001-01-01T00:00:00Z"}}))
    assert error["extensions"] == {"code": "VALIDATION", "field": ["filter", "updatedAfter"]}


async def test_crm_ids_match_exactly_and_only_the_callers_leads(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient, world: World
) -> None:
    org = partner.organisation_id
    one = await make_lead(session, organisation_id=org, crm_id="ACME-1")
    two = await make_lead(session, organisation_id=org, crm_id="ACME-2")
    await make_lead(session, organisation_id=org)
    await make_lead(session, organisation_id=world.contoso.organisation_id, crm_id="ACME-3")
    compiled = admin.differential.compiled if admin.differential else 0

    assert await _filtered_ids(admin, crmIds=["ACME-1", "ACME-3"]) == [str(one.id)]
    assert sorted(await _filtered_ids(admin, crmIds=["ACME-2", "ACME-1"])) == sorted(
        [str(one.id), str(two.id)]
    )
    assert await _filtered_ids(admin, crmIds=["ACME"]) == []  # no prefix match
    assert await _filtered_ids(admin, crmIds=[]) == []
    assert admin.differential is not None and admin.differential.compiled == compiled + 4


@pytest.mark.parametrize(
    ("crm_ids", "message"),
    [
        ([f"ID-{i}" for i in range(101)], "must list at most 100 ids"),
        (["x" * 101], "each id must be 1 to 100 characters"),
        ([""], "each id must be 1 to 100 characters"),
    ],
)
async def test_a_bad_crm_id_list_is_a_typed_error(
    admin: GraphQLClient, crm_ids: list[str], message: str
) -> None:
    error = only_error(await admin(FILTERED, {"filter": {"crmIds": crm_ids}}))
    assert error["extensions"] == {"code": "VALIDATION", "field": ["filter", "crmIds"]}
    assert error["message"].endswith(message)


async def test_lead_by_crm_id_finds_the_callers_lead_and_null_otherwise(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient, world: World
) -> None:
    own = await make_lead(session, organisation_id=partner.organisation_id, crm_id="SF-0042")
    await make_lead(session, organisation_id=world.contoso.organisation_id, crm_id="SF-9999")

    found = await admin.data(BY_CRM_ID, {"crmId": "SF-0042"})
    assert found == {"leadByCrmId": {"id": str(own.id), "deal": {"crmId": "SF-0042"}}}
    for crm_id in ("SF-9999", "SF-004", "x" * 500):
        assert await admin.data(BY_CRM_ID, {"crmId": crm_id}) == {"leadByCrmId": None}
    member = admin.as_user(partner.member)
    assert await member.data(BY_CRM_ID, {"crmId": "SF-0042"}) == {"leadByCrmId": None}
