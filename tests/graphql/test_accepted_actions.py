"""Working an accepted lead over GraphQL (R8): edits, team, won and lost, versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead
from app.domain.lifecycle import LeadStage
from tests.factories import World, make_lead
from tests.graphql import lead_documents as docs
from tests.graphql_client import GraphQLClient


@pytest.fixture
async def lead(session: AsyncSession, world: World) -> Lead:
    """A fresh ACCEPTED lead of contoso's, at version 1."""
    return await make_lead(
        session, organisation_id=world.contoso.organisation_id, stage=LeadStage.ACCEPTED
    )


# --- updateLead ---------------------------------------------------------------------------


async def test_update_lead(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(
        session,
        organisation_id=world.contoso.organisation_id,
        stage=LeadStage.ACCEPTED,
        notes="old notes",
    )
    purchase_date = lead.estimated_purchase_date

    result = await docs.succeed(
        gql.as_user(admin),
        "updateLead",
        docs.first_version_input(
            lead,
            dealName="Adatum migration, phase 2",
            estimatedValue={"amount": "75000", "currency": "GBP"},
            notes=None,
            crmId="CRM-9",
        ),
    )

    assert docs.lifecycle_of(result) == ("ACCEPTED", None, 2, docs.ACCEPTED_ACTIONS)
    assert result["deal"]["name"] == "Adatum migration, phase 2"
    assert result["deal"]["estimatedValue"] == {"amount": "75000.00", "currency": "GBP"}
    assert result["deal"]["notes"] is None, "null clears an optional field"
    assert result["deal"]["crmId"] == "CRM-9"
    assert result["deal"]["estimatedPurchaseDate"] == purchase_date.isoformat(), (
        "an omitted field stays as it is"
    )
    assert result["history"][-1]["action"] == "UPDATE"

    entry, outbox = await docs.assert_recorded(
        session, lead, admin, "UPDATE", ("ACCEPTED", "ACCEPTED"), ["lead.updated"]
    )
    changes = entry.changes
    assert set(changes) == {"dealName", "estimatedValue", "notes", "crmId"}
    assert changes["dealName"] == {"from": "Adatum migration", "to": "Adatum migration, phase 2"}
    assert changes["notes"] == {"from": "old notes", "to": None}
    assert changes["crmId"] == {"from": None, "to": "CRM-9"}
    assert changes["estimatedValue"]["to"] == {"amount": "75000.00", "currency": "GBP"}
    assert Decimal(changes["estimatedValue"]["from"]["amount"]) == Decimal("50000")
    assert outbox[0].payload["current"]["dealName"] == "Adatum migration, phase 2"


async def test_update_records_only_fields_that_really_changed(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    """Sending the stored value again is not a change: 50000 USD is 50000 USD, whatever scale
    the database keeps it at."""
    lead = await make_lead(
        session, organisation_id=world.contoso.organisation_id, stage=LeadStage.ACCEPTED
    )
    await docs.succeed(
        gql.as_user(world.contoso.referrals_admin),
        "updateLead",
        {
            "id": str(lead.id),
            "dealName": "Renamed",
            "estimatedValue": {"amount": "50000", "currency": "USD"},
            "estimatedPurchaseDate": lead.estimated_purchase_date.isoformat(),
        },
    )
    changes = (await docs.history_rows(session, lead.id))[-1].changes
    assert set(changes) == {"dealName"}, changes


# --- addLeadTeamMember / removeLeadTeamMember ---------------------------------------------


async def test_add_team_member(
    gql: GraphQLClient, session: AsyncSession, world: World, lead: Lead
) -> None:
    admin = world.contoso.referrals_admin
    await docs.add_member(session, lead.id, name="Sam Doe")

    result = await docs.succeed(
        gql.as_user(admin),
        "addLeadTeamMember",
        docs.first_version_input(
            lead, name=" Kim Lee ", email="kim@contoso.example", phone="+44 20 7946 0000"
        ),
    )

    assert docs.lifecycle_of(result) == ("ACCEPTED", None, 2, docs.ACCEPTED_ACTIONS)
    assert [(m["name"], m["email"], m["phone"]) for m in result["team"]] == [
        ("Sam Doe", "sam@contoso.example", None),
        ("Kim Lee", "kim@contoso.example", "+44 20 7946 0000"),
    ]
    assert [name for _, name, _, _ in await docs.team_rows(session, lead.id)] == [
        "Sam Doe",
        "Kim Lee",
    ]

    entry, _ = await docs.assert_recorded(
        session, lead, admin, "ADD_TEAM_MEMBER", ("ACCEPTED", "ACCEPTED"), ["lead.updated"]
    )
    assert entry.changes == {
        "teamMembersAdded": [{"name": "Kim Lee", "email": "kim@contoso.example"}]
    }


async def test_remove_team_member(
    gql: GraphQLClient, session: AsyncSession, world: World, lead: Lead
) -> None:
    admin = world.contoso.referrals_admin
    keep = await docs.add_member(session, lead.id, name="Sam Doe")
    gone = await docs.add_member(session, lead.id, name="Kim Lee", email="kim@contoso.example")

    result = await docs.succeed(
        gql.as_user(admin),
        "removeLeadTeamMember",
        docs.first_version_input(lead, memberId=str(gone.id)),
    )

    assert docs.lifecycle_of(result) == ("ACCEPTED", None, 2, docs.ACCEPTED_ACTIONS)
    assert [m["id"] for m in result["team"]] == [str(keep.id)]
    assert [member_id for member_id, *_ in await docs.team_rows(session, lead.id)] == [keep.id]

    entry, _ = await docs.assert_recorded(
        session, lead, admin, "REMOVE_TEAM_MEMBER", ("ACCEPTED", "ACCEPTED"), ["lead.updated"]
    )
    assert entry.changes == {
        "teamMembersRemoved": [{"name": "Kim Lee", "email": "kim@contoso.example"}]
    }


# --- markLeadWon / markLeadLost -----------------------------------------------------------


async def test_mark_lead_won(
    gql: GraphQLClient, session: AsyncSession, world: World, lead: Lead
) -> None:
    admin = world.contoso.referrals_admin

    result = await docs.succeed(
        gql.as_user(admin),
        "markLeadWon",
        docs.first_version_input(
            lead, finalValue={"amount": "48000.5", "currency": "USD"}, closingDate="2026-11-30"
        ),
    )

    assert docs.lifecycle_of(result) == ("ARCHIVED", "WON", 2, [])
    assert result["archivedAt"] is not None
    assert result["deal"]["finalValue"] == {"amount": "48000.50", "currency": "USD"}
    assert result["deal"]["closingDate"] == "2026-11-30"
    assert result["deal"]["name"] == "Adatum migration", "the deal data stays"

    row = await docs.lead_row(session, lead.id)
    assert (row["stage"], row["outcome"], row["version"]) == ("ARCHIVED", "WON", 2)
    assert (row["final_value_amount"], row["final_value_currency"]) == (Decimal("48000.5"), "USD")
    assert row["archived_at"] is not None

    entry, _ = await docs.assert_recorded(
        session, lead, admin, "MARK_WON", ("ACCEPTED", "ARCHIVED", "WON"), ["lead.won"]
    )
    assert entry.changes == {
        "closingDate": {"from": None, "to": "2026-11-30"},
        "finalValue": {"from": None, "to": {"amount": "48000.50", "currency": "USD"}},
    }


async def test_mark_lead_lost(
    gql: GraphQLClient, session: AsyncSession, world: World, lead: Lead
) -> None:
    admin = world.contoso.referrals_admin
    gql_client = gql.as_user(admin)

    result = await docs.succeed(
        gql_client,
        "markLeadLost",
        docs.first_version_input(lead, reason="OTHER", notes="Built it in-house"),
    )

    assert docs.lifecycle_of(result) == ("ARCHIVED", "LOST", 2, [])
    assert result["archivedAt"] is not None
    assert result["deal"]["lostReason"] == "OTHER"
    assert result["deal"]["lostNotes"] == "Built it in-house"
    assert result["deal"]["finalValue"] is None
    today = datetime.now(UTC).date()
    assert result["deal"]["closingDate"] in {
        today.isoformat(),
        (today - timedelta(days=1)).isoformat(),
    }, "closingDate defaults to today"

    entry, _ = await docs.assert_recorded(
        session, lead, admin, "MARK_LOST", ("ACCEPTED", "ARCHIVED", "LOST"), ["lead.lost"]
    )
    changes = entry.changes
    assert changes["lostReason"] == {"from": None, "to": "OTHER"}
    assert changes["lostNotes"] == {"from": None, "to": "Built it in-house"}
    assert changes["closingDate"]["to"] == result["deal"]["closingDate"]


async def test_mark_lead_lost_with_final_value_and_date(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await docs.prepare(session, world.contoso.organisation_id, "markLeadLost")
    input.update(
        reason="COMPETITOR",
        finalValue={"amount": "9000", "currency": "CHF"},
        closingDate="2026-10-01",
    )
    result = await docs.succeed(gql.as_user(world.contoso.referrals_admin), "markLeadLost", input)
    assert result["deal"]["lostReason"] == "COMPETITOR"
    assert result["deal"]["lostNotes"] is None
    assert result["deal"]["finalValue"] == {"amount": "9000.00", "currency": "CHF"}
    assert result["deal"]["closingDate"] == "2026-10-01"
    changes = (await docs.history_rows(session, lead.id))[-1].changes
    assert changes["finalValue"] == {"from": None, "to": {"amount": "9000.00", "currency": "CHF"}}


@pytest.mark.parametrize("name", docs.LIFECYCLE)
async def test_matching_expected_version_is_accepted(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await docs.prepare(session, world.contoso.organisation_id, name)
    lead.version = 5
    await session.flush()
    result = await docs.succeed(
        gql.as_user(world.contoso.referrals_admin), name, {**input, "expectedVersion": 5}
    )
    assert result["version"] == 6
    assert (await docs.lead_row(session, lead.id))["version"] == 6


@pytest.mark.parametrize("name", docs.LIFECYCLE)
async def test_each_lifecycle_mutation_writes_one_history_row_and_bumps_version_once(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await docs.prepare(session, world.contoso.organisation_id, name)
    before_history = len(await docs.history_rows(session, lead.id))
    await docs.succeed(gql.as_user(world.contoso.referrals_admin), name, input)
    assert len(await docs.history_rows(session, lead.id)) == before_history + 1
    assert (await docs.lead_row(session, lead.id))["version"] == 2
    assert await docs.outbox_rows(session, lead.id), "every lifecycle step publishes an event"


async def test_two_mutations_in_one_request_each_see_the_other(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    """Mutation fields run in order, each in its own transaction, and each payload is read
    after its own change (no stale per-request caches)."""
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    document = """
    mutation Both($accept: AcceptLeadInput!, $update: UpdateLeadInput!) {
      first: acceptLead(input: $accept) {
        lead { version stage history { action } } errors { code }
      }
      second: updateLead(input: $update) {
        lead { version stage deal { notes } history { action } } errors { code }
      }
    }"""
    data = await gql.as_user(world.contoso.referrals_admin).data(
        document,
        {
            "accept": {**docs.valid_input("acceptLead", lead.id), "expectedVersion": 1},
            "update": {"id": str(lead.id), "expectedVersion": 2, "notes": "second step"},
        },
    )
    assert data["first"]["errors"] == [] and data["second"]["errors"] == []
    assert data["first"]["lead"]["version"] == 2
    assert [h["action"] for h in data["first"]["lead"]["history"]] == ["RECEIVE", "ACCEPT"]
    assert data["second"]["lead"]["version"] == 3
    assert data["second"]["lead"]["deal"]["notes"] == "second step"
    assert [h["action"] for h in data["second"]["lead"]["history"]] == [
        "RECEIVE",
        "ACCEPT",
        "UPDATE",
    ]
    assert [m.topic for m in await docs.outbox_rows(session, lead.id)] == [
        "lead.accepted",
        "lead.updated",
    ]
