"""Working a lead (issue 11): the append-only activity log (`addLeadNote`, `Lead.activities`)
and the response clock's `markCustomerContacted`, over GraphQL on both execution paths."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db.models import LeadActivity, Organisation, OutboxMessage
from app.domain.lifecycle import LeadStage
from tests.factories import World, WorldPartner, make_api_key, make_lead, make_partner
from tests.graphql import lead_documents as docs
from tests.graphql_client import GraphQLClient

ADD_NOTE = """
mutation($input: AddLeadNoteInput!) {
  addLeadNote(input: $input) {
    activity { id kind body occurredAt createdAt author { kind id name } }
    errors { code field message }
  }
}"""
CONTACTED = """
mutation($input: MarkCustomerContactedInput!) {
  markCustomerContacted(input: $input) {
    lead { id version stage contactAlert customerContactedAt allowedActions
           history { action fromStage toStage changes { field from to } } }
    errors { code field message }
  }
}"""
ACTIVITIES = """
query($id: ID!, $first: Int!, $after: ID) {
  lead(id: $id) {
    id version lastActivityAt
    activities(first: $first, after: $after) { id kind body occurredAt author { kind id name } }
  }
}"""
FLAME = "query($id: ID!) { lead(id: $id) { id contactAlert customerContactedAt version } }"


async def add_note(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await client.data(ADD_NOTE, {"input": input})
    payload: dict[str, Any] = data["addLeadNote"]
    return payload


async def mark_contacted(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    data = await client.data(CONTACTED, {"input": input})
    payload: dict[str, Any] = data["markCustomerContacted"]
    return payload


def codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["errors"]]


async def activity_rows(session: AsyncSession, lead_id: uuid.UUID) -> list[LeadActivity]:
    rows = await session.scalars(
        select(LeadActivity)
        .where(LeadActivity.lead_id == lead_id)
        .order_by(LeadActivity.occurred_at)
        .execution_options(populate_existing=True)
    )
    return list(rows.all())


# --- addLeadNote ------------------------------------------------------------------------------


async def test_a_partner_logs_a_call_before_accepting(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)

    payload = await add_note(
        gql.as_user(admin), id=str(lead.id), kind="CALL", body="  Called Ana, demo Tuesday  "
    )

    assert payload["errors"] == []
    activity = payload["activity"]
    assert (activity["kind"], activity["body"]) == ("CALL", "Called Ana, demo Tuesday")
    assert activity["author"] == {
        "kind": "USER",
        "id": str(admin),
        "name": await docs.user_name(session, admin),
    }
    [row] = await activity_rows(session, lead.id)
    assert (row.author_user_id, row.organisation_id, row.kind) == (
        admin,
        world.contoso.organisation_id,
        "CALL",
    )
    # A working step: in the history (for the change feed), an event, and no new version.
    history = await docs.history_rows(session, lead.id)
    assert [(h.action, h.from_stage, h.to_stage, h.version) for h in history] == [
        ("RECEIVE", None, "RECEIVED", 1),
        ("ADD_ACTIVITY", "RECEIVED", "RECEIVED", 1),
    ]
    assert history[-1].changes == {
        "activity": {
            "id": activity["id"],
            "kind": "CALL",
            "occurredAt": row.occurred_at.isoformat(),
        }
    }
    [event] = await docs.outbox_rows(session, lead.id)
    assert event.topic == "lead.activity_added"
    assert event.payload["activity"]["body"] == "Called Ana, demo Tuesday"
    assert event.payload["actor"] == {"kind": "USER", "userId": str(admin)}
    assert event.payload["lead"]["version"] == 1
    fresh = await docs.lead_row(session, lead.id)
    assert (fresh["version"], fresh["last_activity_at"]) == (1, row.occurred_at)


async def test_notes_are_logged_on_accepted_leads_and_refused_on_archived_ones(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.partner_admin)
    org = world.contoso.organisation_id
    accepted = await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED)
    payload = await add_note(client, id=str(accepted.id), kind="MEETING", body="Kick-off done")
    assert payload["errors"] == [] and payload["activity"]["kind"] == "MEETING"

    for outcome in ("WON", "DECLINED"):
        archived, _ = await docs.make_ready_lead(session, org, LeadStage.ARCHIVED, outcome=outcome)
        before = await docs.capture(session, archived.id)
        refused = await add_note(client, id=str(archived.id), body="Too late")
        assert codes(refused) == [("INVALID_TRANSITION", None)]
        assert refused["activity"] is None
        assert "archived" in refused["errors"][0]["message"]
        await docs.assert_nothing_written(session, before)
        assert await activity_rows(session, archived.id) == []


async def test_bad_notes_get_typed_errors_and_write_nothing(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    org = world.contoso.organisation_id
    lead = await make_lead(session, organisation_id=org)
    client = gql.as_user(world.contoso.referrals_admin)
    lead_id = str(lead.id)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (lead.received_at - timedelta(minutes=1)).isoformat()
    cases: list[tuple[dict[str, Any], list[tuple[str, list[str] | None]]]] = [
        ({"body": "   "}, [("VALIDATION", ["input", "body"])]),
        ({"body": "x" * 4001}, [("VALIDATION", ["input", "body"])]),
        ({"body": "bell \x07"}, [("VALIDATION", ["input", "body"])]),
        ({"body": "ok", "occurredAt": later}, [("VALIDATION", ["input", "occurredAt"])]),
        ({"body": "ok", "occurredAt": earlier}, [("VALIDATION", ["input", "occurredAt"])]),
    ]
    before = await docs.capture(session, lead.id)
    for input, expected in cases:
        payload = await add_note(client, id=lead_id, **input)
        assert codes(payload) == expected, input
        assert payload["activity"] is None and all(e["message"] for e in payload["errors"])
    assert codes(await add_note(client, id="not-an-id", body="x")) == [
        ("VALIDATION", ["input", "id"])
    ]
    await docs.assert_nothing_written(session, before)
    assert await activity_rows(session, lead.id) == []
    # At the limit it is fine, and an earlier time is kept as given.
    at = (lead.received_at + timedelta(minutes=5)).isoformat()
    payload = await add_note(client, id=lead_id, body="y" * 4000, occurredAt=at)
    assert payload["errors"] == []
    assert datetime.fromisoformat(payload["activity"]["occurredAt"]) == datetime.fromisoformat(at)


async def test_only_the_leads_partner_managers_log_notes(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    before = await docs.capture(session, lead.id)
    expectations = [
        (world.fabrikam.partner_admin, [("NOT_FOUND", ["input", "id"])]),
        (world.contoso.member, [("FORBIDDEN", None)]),
        (world.seller, [("NOT_FOUND", ["input", "id"])]),
        (None, [("UNAUTHENTICATED", None)]),
    ]
    for user, expected in expectations:
        payload = await add_note(gql.as_user(user), id=str(lead.id), body="Mine now")
        assert codes(payload) == expected, user
    await docs.assert_nothing_written(session, before)
    assert await activity_rows(session, lead.id) == []


async def test_an_integration_logs_activities_as_its_key(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    key, secret = await make_api_key(
        session, settings, organisation_id=world.contoso.organisation_id, name="CRM sync"
    )
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    client = GraphQLClient(gql.http, gql.settings, secret, differential=gql.differential)
    payload = await add_note(client, id=str(lead.id), kind="EMAIL", body="Sent the proposal")
    assert payload["errors"] == []
    assert payload["activity"]["author"] == {"kind": "API_KEY", "id": None, "name": "CRM sync"}
    [row] = await activity_rows(session, lead.id)
    assert (row.author_user_id, row.author_api_key_id) == (None, key.id)


# --- Lead.activities ----------------------------------------------------------------------------


async def test_the_log_reads_newest_first_in_pages(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    org = world.contoso.organisation_id
    lead = await make_lead(
        session, organisation_id=org, received_at=datetime.now(UTC) - timedelta(days=2)
    )
    admin = gql.as_user(world.contoso.referrals_admin)
    colleague = gql.as_user(world.contoso.partner_admin)
    start = lead.received_at
    for n in range(5):
        client = admin if n % 2 else colleague
        at = (start + timedelta(hours=n + 1)).isoformat()
        payload = await add_note(client, id=str(lead.id), body=f"note {n}", occurredAt=at)
        assert payload["errors"] == []
    # Logged later, happened earlier: the log is in the order things happened.
    payload = await add_note(
        admin, id=str(lead.id), body="early call", occurredAt=start.isoformat(), kind="CALL"
    )
    assert payload["errors"] == []

    data = await admin.data(ACTIVITIES, {"id": str(lead.id), "first": 4})
    page = data["lead"]["activities"]
    assert [a["body"] for a in page] == ["note 4", "note 3", "note 2", "note 1"]
    assert datetime.fromisoformat(data["lead"]["lastActivityAt"]) == start + timedelta(hours=5)
    assert data["lead"]["version"] == 1
    names = {a["author"]["name"] for a in page}
    assert names == {
        await docs.user_name(session, world.contoso.referrals_admin),
        await docs.user_name(session, world.contoso.partner_admin),
    }
    rest = await admin.data(ACTIVITIES, {"id": str(lead.id), "first": 4, "after": page[-1]["id"]})
    assert [a["body"] for a in rest["lead"]["activities"]] == ["note 0", "early call"]
    # A cursor of another lead's log finds nothing here.
    other = await make_lead(session, organisation_id=org)
    foreign = await admin.data(
        ACTIVITIES, {"id": str(other.id), "first": 4, "after": page[0]["id"]}
    )
    assert foreign["lead"]["activities"] == []


async def test_the_log_is_the_partners_own(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    """A lead's sender sees it in sentLeads but never the partner's log; bad paging arguments
    are typed errors."""
    referral = await make_lead(
        session,
        organisation_id=world.contoso.organisation_id,
        sender_user_id=world.fabrikam.partner_admin,
        sender_organisation_id=world.fabrikam.organisation_id,
    )
    admin = gql.as_user(world.contoso.referrals_admin)
    payload = await add_note(admin, id=str(referral.id), body="Internal: pricey")
    assert payload["errors"] == []
    await mark_contacted(admin, id=str(referral.id))
    sent = await gql.as_user(world.fabrikam.partner_admin).data(
        "{ sentLeads(first: 50) { nodes { id lastActivityAt customerContactedAt "
        "activities(first: 5) { body } } } }"
    )
    [seen] = [n for n in sent["sentLeads"]["nodes"] if n["id"] == str(referral.id)]
    assert seen == {
        "id": str(referral.id),
        "lastActivityAt": None,
        "customerContactedAt": None,
        "activities": [],
    }
    member = await gql.as_user(world.contoso.member).data(
        ACTIVITIES, {"id": str(referral.id), "first": 5}
    )
    assert member["lead"] is None
    platform_lead = referral
    for variables, field in (
        ({"first": 101}, ["first"]),
        ({"first": -1}, ["first"]),
        ({"first": 5, "after": "nope"}, ["after"]),
    ):
        body = await admin(ACTIVITIES, {"id": str(platform_lead.id), **variables})
        [error] = body["errors"]
        assert error["extensions"]["code"] == "VALIDATION", variables
        assert error["extensions"]["field"] == field


async def test_the_compiled_path_answers_the_rest_and_falls_back_for_the_log(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    admin = gql.as_user(world.contoso.referrals_admin)
    await add_note(admin, id=str(lead.id), body="A note")
    alone = admin.alone()
    with_log = await alone.raw(ACTIVITIES, {"id": str(lead.id), "first": 5})
    assert with_log.headers.get("x-execution-path") != "compiled"
    assert with_log.json()["data"]["lead"]["activities"][0]["body"] == "A note"
    without = await alone.raw(
        "query($id: ID!) { lead(id: $id) { id lastActivityAt customerContactedAt contactAlert } }",
        {"id": str(lead.id)},
    )
    assert without.headers.get("x-execution-path") == "compiled"
    assert without.json()["data"]["lead"]["lastActivityAt"] is not None


LOG_PAGE = """
query Page($first: Int!) {
  leads(tab: MARKETPLACE, first: $first) {
    edges { node { id lastActivityAt activities(first: 3) { kind body author { name } } } }
  }
}"""


async def test_a_page_of_leads_with_their_logs_costs_the_same_statements_for_2_and_20(
    session: AsyncSession,
    partner: WorldPartner,
    strawberry_gql: GraphQLClient,
    count_queries: Any,
) -> None:
    authors = (partner.referrals_admin, partner.partner_admin)
    for i in range(24):
        lead = await make_lead(
            session,
            organisation_id=partner.organisation_id,
            received_at=datetime.now(UTC) - timedelta(hours=i + 2),
        )
        for n in range(4):
            session.add(
                LeadActivity(
                    lead_id=lead.id,
                    organisation_id=partner.organisation_id,
                    author_user_id=authors[n % 2],
                    kind="NOTE",
                    body=f"{i}-{n}",
                    occurred_at=lead.received_at + timedelta(minutes=n),
                )
            )
    await session.flush()
    client = strawberry_gql.as_user(partner.referrals_admin)
    statements: dict[int, list[str]] = {}
    for first in (2, 20):
        with count_queries() as counter:
            data = await client.data(LOG_PAGE, {"first": first})
        statements[first] = counter.statements
        nodes = [e["node"] for e in data["leads"]["edges"]]
        assert len(nodes) == first
        assert [[a["body"] for a in n["activities"]] for n in nodes] == [
            [f"{i}-{n}" for n in (3, 2, 1)] for i in range(first)
        ]
        assert all(a["author"]["name"] for n in nodes for a in n["activities"])
    # Pinned: the actor lookup, the page of leads, the activities loader (every lead of the
    # page in one statement) and the user loader (their authors).
    assert len(statements[2]) == len(statements[20]) == 4, "\n\n".join(statements[20])
    assert sum("FROM lead_activities" in sql for sql in statements[20]) == 1


# --- markCustomerContacted ----------------------------------------------------------------------


async def test_marking_the_customer_contacted_puts_the_flame_out_once(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    admin = world.contoso.referrals_admin
    client = gql.as_user(admin)
    lead = await make_lead(
        session, organisation_id=world.contoso.organisation_id, contact_requested=True
    )
    flame = await client.data(FLAME, {"id": str(lead.id)})
    assert flame["lead"]["contactAlert"] == "URGENT"
    assert flame["lead"]["customerContactedAt"] is None

    result = await mark_contacted(client, id=str(lead.id), expectedVersion=1)
    assert result["errors"] == []
    marked = result["lead"]
    assert (marked["stage"], marked["version"], marked["contactAlert"]) == ("RECEIVED", 2, None)
    assert marked["customerContactedAt"] is not None
    assert marked["allowedActions"] == docs.RECEIVED_ACTIONS
    entry = marked["history"][-1]
    assert (entry["action"], entry["fromStage"], entry["toStage"]) == (
        "CONTACT_CUSTOMER",
        "RECEIVED",
        "RECEIVED",
    )
    assert entry["changes"] == [
        {"field": "customerContactedAt", "from": None, "to": marked["customerContactedAt"]}
    ]
    row = await docs.lead_row(session, lead.id)
    assert row["customer_contacted_by"] == admin
    [event] = await docs.outbox_rows(session, lead.id)
    assert (event.topic, event.payload["action"]) == ("lead.updated", "CONTACT_CUSTOMER")

    # Twice is once: the first time stays, nothing new is written.
    before = await docs.capture(session, lead.id)
    again = await mark_contacted(gql.as_user(world.contoso.partner_admin), id=str(lead.id))
    assert again["errors"] == []
    assert again["lead"]["customerContactedAt"] == marked["customerContactedAt"]
    assert again["lead"]["version"] == 2
    await docs.assert_nothing_written(session, before)
    flame = await client.data(FLAME, {"id": str(lead.id)})
    assert flame["lead"]["contactAlert"] is None


async def test_contacting_is_allowed_while_open_only_and_for_the_partner_only(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    org = world.contoso.organisation_id
    admin = gql.as_user(world.contoso.partner_admin)
    accepted = await make_lead(
        session, organisation_id=org, stage=LeadStage.ACCEPTED, contact_requested=True
    )
    done = await mark_contacted(admin, id=str(accepted.id))
    assert done["errors"] == [] and done["lead"]["contactAlert"] is None
    assert done["lead"]["stage"] == "ACCEPTED"

    archived, _ = await docs.make_ready_lead(session, org, LeadStage.ARCHIVED, outcome="LOST")
    stale = await make_lead(session, organisation_id=org)
    cases: list[tuple[GraphQLClient, dict[str, Any], tuple[str, list[str] | None]]] = [
        (admin, {"id": str(archived.id)}, ("INVALID_TRANSITION", None)),
        (
            admin,
            {"id": str(stale.id), "expectedVersion": 7},
            ("CONFLICT", ["input", "expectedVersion"]),
        ),
        (admin, {"id": "nope"}, ("VALIDATION", ["input", "id"])),
        (
            gql.as_user(world.fabrikam.partner_admin),
            {"id": str(stale.id)},
            ("NOT_FOUND", ["input", "id"]),
        ),
        (gql.as_user(world.contoso.member), {"id": str(stale.id)}, ("FORBIDDEN", None)),
        (gql.as_user(None), {"id": str(stale.id)}, ("UNAUTHENTICATED", None)),
    ]
    before = await docs.capture(session, archived.id, stale.id)
    for client, input, expected in cases:
        payload = await mark_contacted(client, **input)
        assert (payload["lead"], codes(payload)) == (None, [expected]), input
        assert payload["errors"][0]["message"]
    await docs.assert_nothing_written(session, before)


@pytest.fixture
async def committed(engine: AsyncEngine) -> AsyncIterator[list[uuid.UUID]]:
    """Organisations the test commits (the feed shows only ended transactions); removed with
    everything of theirs afterwards."""
    organisations: list[uuid.UUID] = []
    yield organisations
    async with AsyncSession(engine) as session, session.begin():
        for org in organisations:
            await session.execute(delete(OutboxMessage).where(OutboxMessage.organisation_id == org))
            await session.execute(delete(Organisation).where(Organisation.id == org))


async def test_the_change_feed_reports_contacts_and_activities(
    engine: AsyncEngine, committed_gql: GraphQLClient, committed: list[uuid.UUID]
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        committed.append(partner.organisation_id)
        lead = await make_lead(
            session, organisation_id=partner.organisation_id, contact_requested=True
        )
        lead_id = str(lead.id)
    admin = committed_gql.as_user(partner.referrals_admin)
    noted = await add_note(admin, id=lead_id, kind="CALL", body="Left a voicemail")
    assert noted["errors"] == []
    assert (await mark_contacted(admin, id=lead_id))["errors"] == []
    feed = await admin.data(
        "query { leadChanges(first: 100) { edges { node { action version "
        "changes { field to } lead { id customerContactedAt contactAlert } } } } }"
    )
    nodes = [e["node"] for e in feed["leadChanges"]["edges"]]
    assert [(n["action"], n["version"]) for n in nodes] == [
        ("RECEIVE", 1),
        ("ADD_ACTIVITY", 1),
        ("CONTACT_CUSTOMER", 2),
    ]
    [change] = nodes[1]["changes"]
    assert change["field"] == "activity"
    assert (change["to"]["id"], change["to"]["kind"]) == (noted["activity"]["id"], "CALL")
    assert [c["field"] for c in nodes[2]["changes"]] == ["customerContactedAt"]
    assert nodes[-1]["lead"]["contactAlert"] is None
    assert nodes[-1]["lead"]["customerContactedAt"] is not None


async def test_the_readme_example_works_as_written(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    """The three requests of the README's "Working a lead", sent as they are written there."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### Working a lead", 1)[1].split("\n### ", 1)[0]
    bodies = [json.loads(line) for line in re.findall(r"^gql '(.*)'$", section, re.MULTILINE)]
    assert len(bodies) == 3
    lead = await make_lead(
        session, organisation_id=world.contoso.organisation_id, contact_requested=True
    )
    client = gql.as_user(world.contoso.referrals_admin)
    answers = []
    for body in bodies:
        variables = {
            k: str(lead.id) if v == "<lead id>" else v for k, v in body["variables"].items()
        }
        answers.append(await client.data(body["query"], variables))
    noted, contacted, read = answers
    assert noted["addLeadNote"]["errors"] == []
    assert contacted["markCustomerContacted"]["lead"]["contactAlert"] is None
    [activity] = read["lead"]["activities"]
    assert (activity["kind"], activity["body"]) == ("CALL", "Called Ana: demo on Tuesday")
