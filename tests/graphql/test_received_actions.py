"""Accepting and declining leads over GraphQL (R6): what each returns and writes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World, make_lead
from tests.graphql import lead_documents as docs
from tests.graphql_client import GraphQLClient

# --- acceptLead ---------------------------------------------------------------------------


async def test_accept_lead(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)

    result = await docs.succeed(
        gql.as_user(admin),
        "acceptLead",
        docs.first_version_input(
            lead,
            dealName="  Adatum rollout  ",
            estimatedValue={"amount": "125000.5", "currency": "eur"},
            estimatedPurchaseDate="2027-03-31",
            notes="Wants a pilot first",
            crmId="CRM-42",
            campaignId="CAMP-7",
            teamMembers=[
                {"name": "Jo Park", "email": "jo@contoso.example", "phone": "+1 555 0100"}
            ],
        ),
    )

    assert result["id"] == str(lead.id)
    assert docs.lifecycle_of(result) == ("ACCEPTED", None, 2, docs.ACCEPTED_ACTIONS)
    assert result["respondedAt"] is not None
    assert result["archivedAt"] is None
    assert result["deal"] == {
        "name": "Adatum rollout",
        "estimatedValue": {"amount": "125000.50", "currency": "EUR"},
        "estimatedPurchaseDate": "2027-03-31",
        "notes": "Wants a pilot first",
        "crmId": "CRM-42",
        "campaignId": "CAMP-7",
        "declineReason": None,
        "declineNotes": None,
        "finalValue": None,
        "closingDate": None,
        "lostReason": None,
        "lostNotes": None,
    }
    assert [(m["name"], m["email"], m["phone"]) for m in result["team"]] == [
        ("Jo Park", "jo@contoso.example", "+1 555 0100")
    ]
    assert [h["action"] for h in result["history"]] == ["RECEIVE", "ACCEPT"]
    entry = result["history"][-1]
    assert entry["fromStage"] == "RECEIVED" and entry["toStage"] == "ACCEPTED"
    assert entry["actor"] == {"kind": "USER", "name": await docs.user_name(session, admin)}

    row = await docs.lead_row(session, lead.id)
    assert (row["stage"], row["outcome"], row["version"]) == ("ACCEPTED", None, 2)
    assert row["deal_name"] == "Adatum rollout"
    assert (row["estimated_value_amount"], row["estimated_value_currency"]) == (
        Decimal("125000.5"),
        "EUR",
    )
    assert row["responded_at"] is not None

    entry, outbox = await docs.assert_recorded(
        session, lead, admin, "ACCEPT", ("RECEIVED", "ACCEPTED"), ["lead.accepted"]
    )
    changes = entry.changes
    assert changes["dealName"] == {"from": None, "to": "Adatum rollout"}
    assert changes["estimatedValue"] == {
        "from": None,
        "to": {"amount": "125000.50", "currency": "EUR"},
    }
    assert changes["estimatedPurchaseDate"] == {"from": None, "to": "2027-03-31"}
    assert changes["notes"] == {"from": None, "to": "Wants a pilot first"}
    assert changes["crmId"] == {"from": None, "to": "CRM-42"}
    assert changes["campaignId"] == {"from": None, "to": "CAMP-7"}
    assert changes["teamMembersAdded"] == [{"name": "Jo Park", "email": "jo@contoso.example"}]
    assert outbox[0].payload["current"]["dealName"] == "Adatum rollout"
    assert outbox[0].payload["previous"]["dealName"] is None

    assert [(name, email) for _, name, email, _ in await docs.team_rows(session, lead.id)] == [
        ("Jo Park", "jo@contoso.example")
    ]


async def test_partner_admin_may_accept_too(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await docs.prepare(session, world.contoso.organisation_id, "acceptLead")
    result = await docs.succeed(gql.as_user(world.contoso.partner_admin), "acceptLead", input)
    assert result["stage"] == "ACCEPTED"
    history = await docs.history_rows(session, lead.id)
    assert history[-1].actor_user_id == world.contoso.partner_admin


async def test_accept_keeps_the_campaign_id_the_lead_came_with(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await docs.prepare(session, world.contoso.organisation_id, "acceptLead")
    lead.campaign_id = "SPRING-PROMO"
    await session.flush()
    result = await docs.succeed(gql.as_user(world.contoso.referrals_admin), "acceptLead", input)
    assert result["deal"]["campaignId"] == "SPRING-PROMO"
    assert "campaignId" not in (await docs.history_rows(session, lead.id))[-1].changes


async def test_accept_takes_values_at_the_limits(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    result = await docs.succeed(
        gql.as_user(world.contoso.referrals_admin),
        "acceptLead",
        {
            "id": str(lead.id),
            "dealName": "d" * 200,
            "estimatedValue": {"amount": "999999999999.125", "currency": "KWD"},
            "estimatedPurchaseDate": "2100-12-31",
            "notes": "n" * 4000,
            "crmId": "c" * 100,
        },
    )
    assert result["deal"]["name"] == "d" * 200
    assert result["deal"]["notes"] == "n" * 4000
    assert result["deal"]["estimatedValue"] == {"amount": "999999999999.125", "currency": "KWD"}


async def test_accept_in_a_zero_decimal_currency(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    _, input = await docs.prepare(session, world.contoso.organisation_id, "acceptLead")
    input["estimatedValue"] = {"amount": "1200", "currency": "JPY"}
    result = await docs.succeed(gql.as_user(world.contoso.referrals_admin), "acceptLead", input)
    assert result["deal"]["estimatedValue"] == {"amount": "1200", "currency": "JPY"}


# --- declineLead --------------------------------------------------------------------------


async def test_decline_lead(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(
        session,
        organisation_id=world.contoso.organisation_id,
        contact_name="Bo Buyer",
        contact_email="bo.buyer@adatum.example",
    )

    result = await docs.succeed(
        gql.as_user(admin),
        "declineLead",
        docs.first_version_input(lead, reason="OTHER", notes="  Outside our region  "),
    )

    assert docs.lifecycle_of(result) == ("ARCHIVED", "DECLINED", 2, [])
    assert result["respondedAt"] is not None
    assert result["archivedAt"] is not None
    assert result["deal"]["declineReason"] == "OTHER"
    assert result["deal"]["declineNotes"] == "Outside our region"
    assert result["deal"]["name"] is None
    entry = result["history"][-1]
    assert (entry["action"], entry["fromStage"], entry["toStage"], entry["outcome"]) == (
        "DECLINE",
        "RECEIVED",
        "ARCHIVED",
        "DECLINED",
    )

    row = await docs.lead_row(session, lead.id)
    assert (row["stage"], row["outcome"], row["version"]) == ("ARCHIVED", "DECLINED", 2)
    assert (row["decline_reason"], row["decline_notes"]) == ("OTHER", "Outside our region")
    assert row["archived_at"] is not None

    entry, outbox = await docs.assert_recorded(
        session,
        lead,
        admin,
        "DECLINE",
        ("RECEIVED", "ARCHIVED", "DECLINED"),
        ["lead.declined", "notify.lead_declined"],
    )
    assert entry.changes == {
        "declineReason": {"from": None, "to": "OTHER"},
        "declineNotes": {"from": None, "to": "Outside our region"},
    }
    assert len({m.payload["eventId"] for m in outbox}) == 2, "each message has its own id"
    notify = next(m for m in outbox if m.topic == "notify.lead_declined")
    assert notify.payload["recipient"] == {"name": "Bo Buyer", "email": "bo.buyer@adatum.example"}


async def test_decline_without_notes_for_a_reason_that_needs_none(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    _, input = await docs.prepare(session, world.contoso.organisation_id, "declineLead")
    result = await docs.succeed(gql.as_user(world.contoso.referrals_admin), "declineLead", input)
    assert result["deal"]["declineReason"] == "NO_CAPACITY"
    assert result["deal"]["declineNotes"] is None


# --- what an accept costs -----------------------------------------------------------------------

# The bench's M1 (bench/peers.py): an accept with what a client shows afterwards.
M1 = """mutation M1($id: ID!, $dealName: String!, $estimatedValue: MoneyInput!,
    $estimatedPurchaseDate: Date!) {
  acceptLead(input: {id: $id, dealName: $dealName, estimatedValue: $estimatedValue,
      estimatedPurchaseDate: $estimatedPurchaseDate}) {
    lead { id version stage deal { name } }
    errors { code }
  }
}"""


@pytest.mark.parametrize("path", ["compiled", "strawberry"])
async def test_an_accept_costs_five_statements_and_its_answer(
    gql: GraphQLClient,
    strawberry_gql: GraphQLClient,
    session: AsyncSession,
    world: World,
    count_queries: Any,
    path: str,
) -> None:
    """Pinned (bench/RESULTS.md, issue 12: what an accept costs): the actor's lookup, generic
    plans for the write, the lead locked, updated, its history and outbox rows in one
    statement; then the compiled path reads its answer back, strawberry's answers from the
    lead it has."""
    client = (gql.alone() if path == "compiled" else strawberry_gql).as_user(
        world.contoso.referrals_admin
    )
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    variables = {
        "id": str(lead.id),
        "dealName": "Bench deal",
        "estimatedValue": {"amount": "25000", "currency": "USD"},
        "estimatedPurchaseDate": "2027-06-30",
    }
    with count_queries() as counter:
        data = await client.data(M1, variables)
    assert data["acceptLead"] == {
        "lead": {
            "id": str(lead.id),
            "version": 2,
            "stage": "ACCEPTED",
            "deal": {"name": "Bench deal"},
        },
        "errors": [],
    }
    expected = [
        "SELECT id, organisation_id, kind, roles, name, email FROM partner_leads_actor(",
        "SELECT set_config('plan_cache_mode', 'auto', true)",
        "SELECT leads.id,",
        "UPDATE leads SET",
        "WITH history AS ( INSERT INTO lead_history",
    ]
    if path == "compiled":
        expected.append("SELECT q.* FROM (SELECT set_config('app.organisation_id'")
    statements = [" ".join(sql.split()) for sql in counter.statements]
    assert len(statements) == len(expected), "\n\n".join(statements)
    for sql, start in zip(statements, expected, strict=True):
        assert sql.startswith(start), (start, sql)
    assert "FOR UPDATE" in statements[2]
