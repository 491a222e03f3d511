"""Lead mutations over GraphQL: what each one returns and writes when it succeeds, favorites,
a full walk through the lifecycle, and how bad credentials are turned away.

Refusals (error codes, bad input, other tenants) are in test_mutations_refusals.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import User
from app.domain.lifecycle import LeadStage
from app.services.auth import issue_token
from tests.conftest import GraphQLClient
from tests.factories import World, make_lead
from tests.graphql.lead_documents import (
    ACCEPTED_ACTIONS,
    LIFECYCLE,
    RECEIVED_ACTIONS,
    add_member,
    assert_event,
    assert_history,
    assert_nothing_written,
    capture,
    favorite_count,
    history_rows,
    lead_row,
    mutation_document,
    outbox_rows,
    prepare,
    read_lead,
    succeed,
    team_rows,
    user_name,
    valid_input,
)


def change_map(entry: dict[str, Any]) -> dict[str, Any]:
    """A GraphQL history entry's changes as {field: (from, to)}."""
    return {c["field"]: (c["from"], c["to"]) for c in entry["changes"]}


# --- acceptLead ---------------------------------------------------------------------------


async def test_accept_lead(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)

    result = await succeed(gql.as_user(admin), "acceptLead", {
        "id": str(lead.id), "expectedVersion": 1, "dealName": "  Adatum rollout  ",
        "estimatedValue": {"amount": "125000.5", "currency": "eur"},
        "estimatedPurchaseDate": "2027-03-31", "notes": "Wants a pilot first",
        "crmId": "CRM-42", "campaignId": "CAMP-7",
        "teamMembers": [{"name": "Jo Park", "email": "jo@contoso.example",
                         "phone": "+1 555 0100"}],
    })

    assert result["id"] == str(lead.id)
    assert result["stage"] == "ACCEPTED"
    assert result["outcome"] is None
    assert result["version"] == 2
    assert result["respondedAt"] is not None
    assert result["archivedAt"] is None
    assert result["allowedActions"] == ACCEPTED_ACTIONS
    assert result["deal"] == {
        "name": "Adatum rollout", "estimatedValue": {"amount": "125000.50", "currency": "EUR"},
        "estimatedPurchaseDate": "2027-03-31", "notes": "Wants a pilot first",
        "crmId": "CRM-42", "campaignId": "CAMP-7", "declineReason": None, "declineNotes": None,
        "finalValue": None, "closingDate": None, "lostReason": None, "lostNotes": None,
    }
    assert [(m["name"], m["email"], m["phone"]) for m in result["team"]] == [
        ("Jo Park", "jo@contoso.example", "+1 555 0100")]
    assert [h["action"] for h in result["history"]] == ["RECEIVE", "ACCEPT"]
    entry = result["history"][-1]
    assert entry["fromStage"] == "RECEIVED" and entry["toStage"] == "ACCEPTED"
    assert entry["actor"] == {"kind": "USER", "name": await user_name(session, admin)}

    row = await lead_row(session, lead.id)
    assert (row["stage"], row["outcome"], row["version"]) == ("ACCEPTED", None, 2)
    assert row["deal_name"] == "Adatum rollout"
    assert (row["estimated_value_amount"], row["estimated_value_currency"]) == (
        Decimal("125000.5"), "EUR")
    assert row["responded_at"] is not None

    history = await history_rows(session, lead.id)
    assert len(history) == 2, "exactly one new history row"
    assert_history(history[-1], action="ACCEPT", from_stage="RECEIVED", to_stage="ACCEPTED",
                   actor=admin)
    changes = history[-1].changes
    assert changes["deal_name"] == {"from": None, "to": "Adatum rollout"}
    assert changes["estimated_value"] == {
        "from": None, "to": {"amount": "125000.50", "currency": "EUR"}}
    assert changes["estimated_purchase_date"] == {"from": None, "to": "2027-03-31"}
    assert changes["notes"] == {"from": None, "to": "Wants a pilot first"}
    assert changes["crm_id"] == {"from": None, "to": "CRM-42"}
    assert changes["campaign_id"] == {"from": None, "to": "CAMP-7"}
    assert changes["team_members_added"] == ["Jo Park"]

    outbox = await outbox_rows(session, lead.id)
    assert [m.topic for m in outbox] == ["lead.accepted"]
    assert_event(outbox[0], topic="lead.accepted", lead=lead, actor=admin, action="ACCEPT",
                 previous_stage="RECEIVED", current_stage="ACCEPTED")
    assert outbox[0].payload["current"]["deal_name"] == "Adatum rollout"
    assert outbox[0].payload["previous"]["deal_name"] is None

    assert [(name, email) for _, name, email, _ in await team_rows(session, lead.id)] == [
        ("Jo Park", "jo@contoso.example")]


async def test_partner_admin_may_accept_too(gql: GraphQLClient, session: AsyncSession,
                                            world: World) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    result = await succeed(gql.as_user(world.contoso.partner_admin), "acceptLead", input)
    assert result["stage"] == "ACCEPTED"
    history = await history_rows(session, lead.id)
    assert history[-1].actor_user_id == world.contoso.partner_admin


async def test_accept_keeps_the_campaign_id_the_lead_came_with(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    lead.campaign_id = "SPRING-PROMO"
    await session.flush()
    result = await succeed(gql.as_user(world.contoso.referrals_admin), "acceptLead", input)
    assert result["deal"]["campaignId"] == "SPRING-PROMO"
    assert "campaign_id" not in (await history_rows(session, lead.id))[-1].changes


async def test_accept_takes_values_at_the_limits(gql: GraphQLClient, session: AsyncSession,
                                                 world: World) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    result = await succeed(gql.as_user(world.contoso.referrals_admin), "acceptLead", {
        "id": str(lead.id), "dealName": "d" * 200,
        "estimatedValue": {"amount": "999999999999.125", "currency": "KWD"},
        "estimatedPurchaseDate": "2100-12-31", "notes": "n" * 4000, "crmId": "c" * 100,
    })
    assert result["deal"]["name"] == "d" * 200
    assert result["deal"]["notes"] == "n" * 4000
    assert result["deal"]["estimatedValue"] == {"amount": "999999999999.125", "currency": "KWD"}


async def test_accept_in_a_zero_decimal_currency(gql: GraphQLClient, session: AsyncSession,
                                                 world: World) -> None:
    _, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    input["estimatedValue"] = {"amount": "1200", "currency": "JPY"}
    result = await succeed(gql.as_user(world.contoso.referrals_admin), "acceptLead", input)
    assert result["deal"]["estimatedValue"] == {"amount": "1200", "currency": "JPY"}


# --- declineLead --------------------------------------------------------------------------


async def test_decline_lead(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           contact_name="Bo Buyer", contact_email="bo.buyer@adatum.example")

    result = await succeed(gql.as_user(admin), "declineLead", {
        "id": str(lead.id), "expectedVersion": 1, "reason": "OTHER",
        "notes": "  Outside our region  ",
    })

    assert result["stage"] == "ARCHIVED"
    assert result["outcome"] == "DECLINED"
    assert result["version"] == 2
    assert result["allowedActions"] == []
    assert result["respondedAt"] is not None
    assert result["archivedAt"] is not None
    assert result["deal"]["declineReason"] == "OTHER"
    assert result["deal"]["declineNotes"] == "Outside our region"
    assert result["deal"]["name"] is None
    entry = result["history"][-1]
    assert (entry["action"], entry["fromStage"], entry["toStage"], entry["outcome"]) == (
        "DECLINE", "RECEIVED", "ARCHIVED", "DECLINED")

    row = await lead_row(session, lead.id)
    assert (row["stage"], row["outcome"], row["version"]) == ("ARCHIVED", "DECLINED", 2)
    assert (row["decline_reason"], row["decline_notes"]) == ("OTHER", "Outside our region")
    assert row["archived_at"] is not None

    history = await history_rows(session, lead.id)
    assert len(history) == 2
    assert_history(history[-1], action="DECLINE", from_stage="RECEIVED", to_stage="ARCHIVED",
                   outcome="DECLINED", actor=admin)
    assert history[-1].changes == {
        "decline_reason": {"from": None, "to": "OTHER"},
        "decline_notes": {"from": None, "to": "Outside our region"},
    }

    outbox = await outbox_rows(session, lead.id)
    assert sorted(m.topic for m in outbox) == ["lead.declined", "notify.lead_declined"]
    for message in outbox:
        assert_event(message, topic=message.topic, lead=lead, actor=admin, action="DECLINE",
                     previous_stage="RECEIVED", current_stage="ARCHIVED",
                     current_outcome="DECLINED")
    assert len({m.payload["event_id"] for m in outbox}) == 2, "each message has its own id"
    notify = next(m for m in outbox if m.topic == "notify.lead_declined")
    assert notify.payload["recipient"] == {"name": "Bo Buyer",
                                           "email": "bo.buyer@adatum.example"}


async def test_decline_without_notes_for_a_reason_that_needs_none(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    _, input = await prepare(session, world.contoso.organisation_id, "declineLead")
    result = await succeed(gql.as_user(world.contoso.referrals_admin), "declineLead", input)
    assert result["deal"]["declineReason"] == "NO_CAPACITY"
    assert result["deal"]["declineNotes"] is None


# --- updateLead ---------------------------------------------------------------------------


async def test_update_lead(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           stage=LeadStage.ACCEPTED, notes="old notes")
    purchase_date = lead.estimated_purchase_date

    result = await succeed(gql.as_user(admin), "updateLead", {
        "id": str(lead.id), "expectedVersion": 1, "dealName": "Adatum migration, phase 2",
        "estimatedValue": {"amount": "75000", "currency": "GBP"}, "notes": None,
        "crmId": "CRM-9",
    })

    assert result["stage"] == "ACCEPTED"
    assert result["version"] == 2
    assert result["allowedActions"] == ACCEPTED_ACTIONS
    assert result["deal"]["name"] == "Adatum migration, phase 2"
    assert result["deal"]["estimatedValue"] == {"amount": "75000.00", "currency": "GBP"}
    assert result["deal"]["notes"] is None, "null clears an optional field"
    assert result["deal"]["crmId"] == "CRM-9"
    assert result["deal"]["estimatedPurchaseDate"] == purchase_date.isoformat(), \
        "an omitted field stays as it is"
    assert result["history"][-1]["action"] == "UPDATE"

    history = await history_rows(session, lead.id)
    assert len(history) == 2
    assert_history(history[-1], action="UPDATE", from_stage="ACCEPTED", to_stage="ACCEPTED",
                   actor=admin)
    changes = history[-1].changes
    assert set(changes) == {"deal_name", "estimated_value", "notes", "crm_id"}
    assert changes["deal_name"] == {"from": "Adatum migration", "to": "Adatum migration, phase 2"}
    assert changes["notes"] == {"from": "old notes", "to": None}
    assert changes["crm_id"] == {"from": None, "to": "CRM-9"}
    assert changes["estimated_value"]["to"] == {"amount": "75000.00", "currency": "GBP"}
    assert Decimal(changes["estimated_value"]["from"]["amount"]) == Decimal("50000")

    outbox = await outbox_rows(session, lead.id)
    assert [m.topic for m in outbox] == ["lead.updated"]
    assert_event(outbox[0], topic="lead.updated", lead=lead, actor=admin, action="UPDATE",
                 previous_stage="ACCEPTED", current_stage="ACCEPTED")
    assert outbox[0].payload["current"]["deal_name"] == "Adatum migration, phase 2"


async def test_update_records_only_fields_that_really_changed(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    """Sending the stored value again is not a change: 50000 USD is 50000 USD, whatever scale
    the database keeps it at."""
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           stage=LeadStage.ACCEPTED)
    await succeed(gql.as_user(world.contoso.referrals_admin), "updateLead", {
        "id": str(lead.id), "dealName": "Renamed",
        "estimatedValue": {"amount": "50000", "currency": "USD"},
        "estimatedPurchaseDate": lead.estimated_purchase_date.isoformat(),
    })
    changes = (await history_rows(session, lead.id))[-1].changes
    assert set(changes) == {"deal_name"}, changes


# --- addLeadTeamMember / removeLeadTeamMember ---------------------------------------------


async def test_add_team_member(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           stage=LeadStage.ACCEPTED)
    await add_member(session, lead.id, name="Sam Doe")

    result = await succeed(gql.as_user(admin), "addLeadTeamMember", {
        "id": str(lead.id), "expectedVersion": 1, "name": " Kim Lee ",
        "email": "kim@contoso.example", "phone": "+44 20 7946 0000",
    })

    assert result["version"] == 2
    assert result["stage"] == "ACCEPTED"
    assert result["allowedActions"] == ACCEPTED_ACTIONS
    assert [(m["name"], m["email"], m["phone"]) for m in result["team"]] == [
        ("Sam Doe", "sam@contoso.example", None),
        ("Kim Lee", "kim@contoso.example", "+44 20 7946 0000"),
    ]
    assert [name for _, name, _, _ in await team_rows(session, lead.id)] == ["Sam Doe", "Kim Lee"]

    history = await history_rows(session, lead.id)
    assert len(history) == 2
    assert_history(history[-1], action="ADD_TEAM_MEMBER", from_stage="ACCEPTED",
                   to_stage="ACCEPTED", actor=admin)
    assert history[-1].changes == {
        "team_member_added": {"name": "Kim Lee", "email": "kim@contoso.example"}}

    outbox = await outbox_rows(session, lead.id)
    assert [m.topic for m in outbox] == ["lead.updated"]
    assert_event(outbox[0], topic="lead.updated", lead=lead, actor=admin,
                 action="ADD_TEAM_MEMBER", previous_stage="ACCEPTED", current_stage="ACCEPTED")


async def test_remove_team_member(gql: GraphQLClient, session: AsyncSession,
                                  world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           stage=LeadStage.ACCEPTED)
    keep = await add_member(session, lead.id, name="Sam Doe")
    gone = await add_member(session, lead.id, name="Kim Lee", email="kim@contoso.example")

    result = await succeed(gql.as_user(admin), "removeLeadTeamMember", {
        "id": str(lead.id), "expectedVersion": 1, "memberId": str(gone.id),
    })

    assert result["version"] == 2
    assert result["stage"] == "ACCEPTED"
    assert [m["id"] for m in result["team"]] == [str(keep.id)]
    assert [member_id for member_id, *_ in await team_rows(session, lead.id)] == [keep.id]

    history = await history_rows(session, lead.id)
    assert len(history) == 2
    assert_history(history[-1], action="REMOVE_TEAM_MEMBER", from_stage="ACCEPTED",
                   to_stage="ACCEPTED", actor=admin)
    assert history[-1].changes == {
        "team_member_removed": {"name": "Kim Lee", "email": "kim@contoso.example"}}

    outbox = await outbox_rows(session, lead.id)
    assert [m.topic for m in outbox] == ["lead.updated"]
    assert_event(outbox[0], topic="lead.updated", lead=lead, actor=admin,
                 action="REMOVE_TEAM_MEMBER", previous_stage="ACCEPTED",
                 current_stage="ACCEPTED")


# --- markLeadWon / markLeadLost -----------------------------------------------------------


async def test_mark_lead_won(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           stage=LeadStage.ACCEPTED)

    result = await succeed(gql.as_user(admin), "markLeadWon", {
        "id": str(lead.id), "expectedVersion": 1,
        "finalValue": {"amount": "48000.5", "currency": "USD"}, "closingDate": "2026-11-30",
    })

    assert result["stage"] == "ARCHIVED"
    assert result["outcome"] == "WON"
    assert result["version"] == 2
    assert result["allowedActions"] == []
    assert result["archivedAt"] is not None
    assert result["deal"]["finalValue"] == {"amount": "48000.50", "currency": "USD"}
    assert result["deal"]["closingDate"] == "2026-11-30"
    assert result["deal"]["name"] == "Adatum migration", "the deal data stays"

    row = await lead_row(session, lead.id)
    assert (row["stage"], row["outcome"], row["version"]) == ("ARCHIVED", "WON", 2)
    assert (row["final_value_amount"], row["final_value_currency"]) == (
        Decimal("48000.5"), "USD")
    assert row["archived_at"] is not None

    history = await history_rows(session, lead.id)
    assert len(history) == 2
    assert_history(history[-1], action="MARK_WON", from_stage="ACCEPTED", to_stage="ARCHIVED",
                   outcome="WON", actor=admin)
    assert history[-1].changes == {
        "closing_date": {"from": None, "to": "2026-11-30"},
        "final_value": {"from": None, "to": {"amount": "48000.50", "currency": "USD"}},
    }

    outbox = await outbox_rows(session, lead.id)
    assert [m.topic for m in outbox] == ["lead.won"]
    assert_event(outbox[0], topic="lead.won", lead=lead, actor=admin, action="MARK_WON",
                 previous_stage="ACCEPTED", current_stage="ARCHIVED", current_outcome="WON")


async def test_mark_lead_lost(gql: GraphQLClient, session: AsyncSession, world: World) -> None:
    admin = world.contoso.referrals_admin
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           stage=LeadStage.ACCEPTED)
    gql_client = gql.as_user(admin)

    result = await succeed(gql_client, "markLeadLost", {
        "id": str(lead.id), "expectedVersion": 1, "reason": "OTHER",
        "notes": "Built it in-house",
    })

    assert result["stage"] == "ARCHIVED"
    assert result["outcome"] == "LOST"
    assert result["version"] == 2
    assert result["allowedActions"] == []
    assert result["archivedAt"] is not None
    assert result["deal"]["lostReason"] == "OTHER"
    assert result["deal"]["lostNotes"] == "Built it in-house"
    assert result["deal"]["finalValue"] is None
    today = datetime.now(UTC).date()
    assert result["deal"]["closingDate"] in {today.isoformat(),
                                             (today - timedelta(days=1)).isoformat()}, \
        "closingDate defaults to today"

    history = await history_rows(session, lead.id)
    assert len(history) == 2
    assert_history(history[-1], action="MARK_LOST", from_stage="ACCEPTED", to_stage="ARCHIVED",
                   outcome="LOST", actor=admin)
    changes = history[-1].changes
    assert changes["lost_reason"] == {"from": None, "to": "OTHER"}
    assert changes["lost_notes"] == {"from": None, "to": "Built it in-house"}
    assert changes["closing_date"]["to"] == result["deal"]["closingDate"]

    outbox = await outbox_rows(session, lead.id)
    assert [m.topic for m in outbox] == ["lead.lost"]
    assert_event(outbox[0], topic="lead.lost", lead=lead, actor=admin, action="MARK_LOST",
                 previous_stage="ACCEPTED", current_stage="ARCHIVED", current_outcome="LOST")


async def test_mark_lead_lost_with_final_value_and_date(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "markLeadLost")
    input.update(reason="COMPETITOR", finalValue={"amount": "9000", "currency": "CHF"},
                 closingDate="2026-10-01")
    result = await succeed(gql.as_user(world.contoso.referrals_admin), "markLeadLost", input)
    assert result["deal"]["lostReason"] == "COMPETITOR"
    assert result["deal"]["lostNotes"] is None
    assert result["deal"]["finalValue"] == {"amount": "9000.00", "currency": "CHF"}
    assert result["deal"]["closingDate"] == "2026-10-01"
    changes = (await history_rows(session, lead.id))[-1].changes
    assert changes["final_value"] == {"from": None, "to": {"amount": "9000.00", "currency": "CHF"}}


@pytest.mark.parametrize("name", LIFECYCLE)
async def test_matching_expected_version_is_accepted(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    lead.version = 5
    await session.flush()
    result = await succeed(gql.as_user(world.contoso.referrals_admin), name,
                           {**input, "expectedVersion": 5})
    assert result["version"] == 6
    assert (await lead_row(session, lead.id))["version"] == 6


@pytest.mark.parametrize("name", LIFECYCLE)
async def test_each_lifecycle_mutation_writes_one_history_row_and_bumps_version_once(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    before_history = len(await history_rows(session, lead.id))
    await succeed(gql.as_user(world.contoso.referrals_admin), name, input)
    assert len(await history_rows(session, lead.id)) == before_history + 1
    assert (await lead_row(session, lead.id))["version"] == 2
    assert await outbox_rows(session, lead.id), "every lifecycle step publishes an event"


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
    data = await gql.as_user(world.contoso.referrals_admin).data(document, {
        "accept": {**valid_input("acceptLead", lead.id), "expectedVersion": 1},
        "update": {"id": str(lead.id), "expectedVersion": 2, "notes": "second step"},
    })
    assert data["first"]["errors"] == [] and data["second"]["errors"] == []
    assert data["first"]["lead"]["version"] == 2
    assert [h["action"] for h in data["first"]["lead"]["history"]] == ["RECEIVE", "ACCEPT"]
    assert data["second"]["lead"]["version"] == 3
    assert data["second"]["lead"]["deal"]["notes"] == "second step"
    assert [h["action"] for h in data["second"]["lead"]["history"]] == [
        "RECEIVE", "ACCEPT", "UPDATE"]
    assert [m.topic for m in await outbox_rows(session, lead.id)] == [
        "lead.accepted", "lead.updated"]


# --- setLeadFavorite ----------------------------------------------------------------------

FAVORITE_STAGES = [(LeadStage.RECEIVED, None), (LeadStage.ACCEPTED, None),
                   (LeadStage.ARCHIVED, "WON"), (LeadStage.ARCHIVED, "DECLINED")]


@pytest.mark.parametrize(("stage", "outcome"), FAVORITE_STAGES)
async def test_set_lead_favorite_is_idempotent_at_any_stage(
    gql: GraphQLClient, session: AsyncSession, world: World, stage: LeadStage,
    outcome: str | None,
) -> None:
    admin = world.contoso.referrals_admin
    client = gql.as_user(admin)
    lead, _ = await prepare(session, world.contoso.organisation_id, "setLeadFavorite",
                            stage=stage, outcome=outcome)
    before = await capture(session, lead.id)
    row_before = await lead_row(session, lead.id)

    for _ in range(2):
        result = await succeed(client, "setLeadFavorite", {"id": str(lead.id), "favorite": True})
        assert result["isFavorite"] is True
        assert result["version"] == 1
        assert result["stage"] == stage.value
        assert await favorite_count(session, lead.id, admin) == 1

    assert (await read_lead(client, lead.id) or {})["isFavorite"] is True

    for _ in range(2):
        result = await succeed(client, "setLeadFavorite", {"id": str(lead.id), "favorite": False})
        assert result["isFavorite"] is False
        assert await favorite_count(session, lead.id, admin) == 0

    # A personal mark: no version bump, no history, no event, the lead row untouched.
    assert await lead_row(session, lead.id) == row_before
    await assert_nothing_written(session, before)


async def test_favorite_is_personal(gql: GraphQLClient, session: AsyncSession,
                                    world: World) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "setLeadFavorite")
    await succeed(gql.as_user(world.contoso.referrals_admin), "setLeadFavorite", input)
    other = await read_lead(gql.as_user(world.contoso.partner_admin), lead.id)
    assert other is not None and other["isFavorite"] is False
    assert await favorite_count(session, lead.id) == 1


# --- A full walk, GraphQL only -----------------------------------------------------------


async def test_full_walk_through_the_lifecycle(gql: GraphQLClient, session: AsyncSession,
                                               world: World) -> None:
    admin = world.contoso.referrals_admin
    client = gql.as_user(admin)
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    lid = str(lead.id)

    seen = await read_lead(client, lid)
    assert seen is not None
    assert (seen["stage"], seen["version"], seen["allowedActions"]) == (
        "RECEIVED", 1, RECEIVED_ACTIONS)

    accepted = await succeed(client, "acceptLead", {
        **valid_input("acceptLead", lid), "expectedVersion": seen["version"],
        "teamMembers": [{"name": "Jo Park", "email": "jo@contoso.example"}],
    })
    assert (accepted["stage"], accepted["version"]) == ("ACCEPTED", 2)
    assert [m["name"] for m in accepted["team"]] == ["Jo Park"]

    updated = await succeed(client, "updateLead", {
        "id": lid, "expectedVersion": accepted["version"], "notes": "Kick-off in May",
    })
    assert (updated["version"], updated["deal"]["notes"]) == (3, "Kick-off in May")

    added = await succeed(client, "addLeadTeamMember", {
        "id": lid, "expectedVersion": updated["version"], "name": "Kim Lee",
    })
    assert added["version"] == 4
    assert [m["name"] for m in added["team"]] == ["Jo Park", "Kim Lee"]

    jo = next(m for m in added["team"] if m["name"] == "Jo Park")
    removed = await succeed(client, "removeLeadTeamMember", {
        "id": lid, "expectedVersion": added["version"], "memberId": jo["id"],
    })
    assert removed["version"] == 5
    assert [m["name"] for m in removed["team"]] == ["Kim Lee"]

    won = await succeed(client, "markLeadWon", {
        "id": lid, "expectedVersion": removed["version"],
        "finalValue": {"amount": "130000", "currency": "EUR"}, "closingDate": "2026-12-15",
    })
    assert (won["stage"], won["outcome"], won["version"]) == ("ARCHIVED", "WON", 6)
    assert won["allowedActions"] == []

    final = await read_lead(client, lid)
    assert final is not None
    assert final["version"] == 6
    steps = [(h["action"], h["fromStage"], h["toStage"], h["outcome"]) for h in final["history"]]
    assert steps == [
        ("RECEIVE", None, "RECEIVED", None),
        ("ACCEPT", "RECEIVED", "ACCEPTED", None),
        ("UPDATE", "ACCEPTED", "ACCEPTED", None),
        ("ADD_TEAM_MEMBER", "ACCEPTED", "ACCEPTED", None),
        ("REMOVE_TEAM_MEMBER", "ACCEPTED", "ACCEPTED", None),
        ("MARK_WON", "ACCEPTED", "ARCHIVED", "WON"),
    ]
    name = await user_name(session, admin)
    assert [h["actor"] for h in final["history"][1:]] == [{"kind": "USER", "name": name}] * 5
    assert final["history"][0]["actor"] == {"kind": "SYSTEM", "name": None}
    assert change_map(final["history"][2]) == {"notes": (None, "Kick-off in May")}

    outbox = await outbox_rows(session, lead.id)
    assert [m.topic for m in outbox] == [
        "lead.accepted", "lead.updated", "lead.updated", "lead.updated", "lead.won"]
    assert [m.payload["current"]["version"] for m in outbox] == [2, 3, 4, 5, 6]
    assert len({m.payload["event_id"] for m in outbox}) == 5

    other = await make_lead(session, organisation_id=world.contoso.organisation_id)
    declined = await succeed(client, "declineLead", {
        "id": str(other.id), "expectedVersion": 1, "reason": "CUSTOMER_SIZE",
    })
    assert (declined["stage"], declined["outcome"], declined["version"]) == (
        "ARCHIVED", "DECLINED", 2)
    assert [(h["action"], h["toStage"]) for h in declined["history"]] == [
        ("RECEIVE", "RECEIVED"), ("DECLINE", "ARCHIVED")]
    assert [m.topic for m in await outbox_rows(session, other.id)] == [
        "lead.declined", "notify.lead_declined"]


# --- Credentials --------------------------------------------------------------------------


def _token(settings: Settings, *, sub: str, secret: str | None = None,
           audience: str | None = None) -> str:
    now = datetime.now(UTC)
    claims = {"sub": sub, "aud": audience or settings.jwt_audience, "iss": settings.jwt_issuer,
              "iat": int(now.timestamp()), "exp": int((now + timedelta(hours=1)).timestamp())}
    return jwt.encode(claims, secret or settings.jwt_secret, algorithm="HS256")


def _bad_headers(settings: Settings, world: World) -> dict[str, dict[str, str]]:
    admin = world.contoso.referrals_admin
    return {
        "junk": {"Authorization": "Bearer junk"},
        "expired": {"Authorization": "Bearer " + issue_token(
            settings, admin, ttl=timedelta(seconds=-10))},
        "unknown_user": {"Authorization": "Bearer " + issue_token(settings, uuid.uuid4())},
        "wrong_signature": {"Authorization": "Bearer " + _token(
            settings, sub=str(admin), secret="not-the-secret-" + "x" * 32)},
        "wrong_audience": {"Authorization": "Bearer " + _token(
            settings, sub=str(admin), audience="someone-else")},
        "subject_not_a_uuid": {"Authorization": "Bearer " + _token(settings, sub="admin")},
        "not_bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty_bearer": {"Authorization": "Bearer "},
    }


@pytest.mark.parametrize("kind", ["junk", "expired", "unknown_user", "wrong_signature",
                                  "wrong_audience", "subject_not_a_uuid", "not_bearer",
                                  "empty_bearer"])
async def test_bad_credentials_get_401(gql: GraphQLClient, session: AsyncSession,
                                       world: World, settings: Settings, kind: str) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    before = await capture(session, lead.id)

    response = await gql.raw(mutation_document("acceptLead"), {"input": input},
                             headers=_bad_headers(settings, world)[kind])

    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body or body["data"] is None
    await assert_nothing_written(session, before)


async def test_inactive_user_gets_401(gql: GraphQLClient, session: AsyncSession,
                                      world: World) -> None:
    admin = world.contoso.referrals_admin
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    await session.execute(update(User).where(User.id == admin).values(active=False))
    await session.flush()
    before = await capture(session, lead.id)

    client = gql.as_user(admin)
    body = await client(mutation_document("acceptLead"), {"input": input})

    assert client.last_status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await assert_nothing_written(session, before)


async def test_valid_token_is_let_in(gql: GraphQLClient, session: AsyncSession, world: World,
                                     settings: Settings) -> None:
    """The control for the 401 tests: the same request with a good token works."""
    _, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    token = issue_token(settings, world.contoso.referrals_admin)
    response = await gql.raw(mutation_document("acceptLead"), {"input": input},
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["data"]["acceptLead"]["lead"]["stage"] == "ACCEPTED"
