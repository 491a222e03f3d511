"""Lead mutations over GraphQL that must be refused: every error code of every mutation, bad
input, and other tenants. Each refusal leaves the database exactly as it was."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadStage
from tests.conftest import GraphQLClient
from tests.factories import World, make_lead, make_partner
from tests.graphql.lead_documents import (
    LIFECYCLE,
    MISSING,
    MUTATIONS,
    WRONG_STAGE,
    add_member,
    assert_nothing_written,
    capture,
    fields_of,
    mutation_document,
    prepare,
    read_lead,
    refuse,
    team_rows,
    with_overrides,
)


async def _refused_with(client: GraphQLClient, session: AsyncSession, name: str,
                        input: dict[str, Any], lead_ids: list[uuid.UUID], code: str,
                        field: list[str] | None) -> list[dict[str, Any]]:
    """`name` is refused with exactly one error (`code`, `field`) and writes nothing."""
    before = await capture(session, *lead_ids)
    errors = await refuse(client, name, input)
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)], errors
    assert all(e["message"] for e in errors)
    await assert_nothing_written(session, before)
    return errors


# --- NOT_FOUND, FORBIDDEN, UNAUTHENTICATED, CONFLICT, INVALID_TRANSITION --------------------


@pytest.mark.parametrize("name", MUTATIONS)
async def test_unknown_lead_is_not_found(gql: GraphQLClient, session: AsyncSession,
                                         world: World, name: str) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    await _refused_with(gql.as_user(world.contoso.referrals_admin), session, name,
                        {**input, "id": str(uuid.uuid4())}, [lead.id], "NOT_FOUND",
                        ["input", "id"])


@pytest.mark.parametrize("name", MUTATIONS)
async def test_same_partner_user_without_a_referrals_role_is_forbidden(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    await _refused_with(gql.as_user(world.contoso.member), session, name, input, [lead.id],
                        "FORBIDDEN", None)


@pytest.mark.parametrize("name", MUTATIONS)
async def test_anonymous_caller_is_unauthenticated(gql: GraphQLClient, session: AsyncSession,
                                                   world: World, name: str) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    await _refused_with(gql, session, name, input, [lead.id], "UNAUTHENTICATED", None)


@pytest.mark.parametrize("name", LIFECYCLE)
async def test_stale_expected_version_is_a_conflict(gql: GraphQLClient, session: AsyncSession,
                                                    world: World, name: str) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    lead.version = 3
    await session.flush()
    await _refused_with(gql.as_user(world.contoso.referrals_admin), session, name,
                        {**input, "expectedVersion": 2}, [lead.id], "CONFLICT",
                        ["input", "expectedVersion"])


@pytest.mark.parametrize("name", LIFECYCLE)
async def test_wrong_stage_is_an_invalid_transition(gql: GraphQLClient, session: AsyncSession,
                                                    world: World, name: str) -> None:
    """acceptLead/declineLead on an ACCEPTED lead; the others on a RECEIVED lead."""
    lead, input = await prepare(session, world.contoso.organisation_id, name,
                                stage=WRONG_STAGE[name])
    await _refused_with(gql.as_user(world.contoso.referrals_admin), session, name, input,
                        [lead.id], "INVALID_TRANSITION", None)


@pytest.mark.parametrize("outcome", ["WON", "LOST", "DECLINED", "EXPIRED"])
@pytest.mark.parametrize("name", LIFECYCLE)
async def test_nothing_moves_an_archived_lead(gql: GraphQLClient, session: AsyncSession,
                                              world: World, name: str, outcome: str) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name,
                                stage=LeadStage.ARCHIVED, outcome=outcome)
    errors = await _refused_with(gql.as_user(world.contoso.referrals_admin), session, name,
                                 input, [lead.id], "INVALID_TRANSITION", None)
    assert outcome in errors[0]["message"]


async def test_accepting_twice_is_an_invalid_transition(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    await client.data(mutation_document("acceptLead"), {"input": input})
    await _refused_with(client, session, "acceptLead", input, [lead.id], "INVALID_TRANSITION",
                        None)


# --- Bad input: typed VALIDATION errors with a field path --------------------------------

MONEY = {"amount": "100", "currency": "USD"}

VALIDATION_CASES: list[tuple[str, str, dict[str, Any], list[list[str]]]] = [
    # (test id, mutation, overrides of a valid input, expected field paths)
    ("accept-unknown-currency", "acceptLead",
     {"estimatedValue": {"amount": "100", "currency": "XYZ"}},
     [["input", "estimatedValue", "currency"]]),
    ("accept-negative-value", "acceptLead",
     {"estimatedValue": {"amount": "-1", "currency": "USD"}},
     [["input", "estimatedValue", "amount"]]),
    ("accept-too-many-decimals", "acceptLead",
     {"estimatedValue": {"amount": "10.123", "currency": "USD"}},
     [["input", "estimatedValue", "amount"]]),
    ("accept-decimals-in-jpy", "acceptLead",
     {"estimatedValue": {"amount": "10.5", "currency": "JPY"}},
     [["input", "estimatedValue", "amount"]]),
    ("accept-absurd-value", "acceptLead",
     {"estimatedValue": {"amount": "1000000000000", "currency": "USD"}},
     [["input", "estimatedValue", "amount"]]),
    ("accept-nan-value", "acceptLead",
     {"estimatedValue": {"amount": "NaN", "currency": "USD"}},
     [["input", "estimatedValue", "amount"]]),
    ("accept-empty-deal-name", "acceptLead", {"dealName": ""}, [["input", "dealName"]]),
    ("accept-blank-deal-name", "acceptLead", {"dealName": "   "}, [["input", "dealName"]]),
    ("accept-long-deal-name", "acceptLead", {"dealName": "d" * 201}, [["input", "dealName"]]),
    ("accept-control-chars", "acceptLead", {"dealName": "bad\x00name"},
     [["input", "dealName"]]),
    ("accept-long-notes", "acceptLead", {"notes": "n" * 4001}, [["input", "notes"]]),
    ("accept-long-crm-id", "acceptLead", {"crmId": "c" * 101}, [["input", "crmId"]]),
    ("accept-long-campaign-id", "acceptLead", {"campaignId": "c" * 101},
     [["input", "campaignId"]]),
    ("accept-date-out-of-range", "acceptLead", {"estimatedPurchaseDate": "1999-12-31"},
     [["input", "estimatedPurchaseDate"]]),
    ("accept-malformed-id", "acceptLead", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("accept-bad-member-email", "acceptLead",
     {"teamMembers": [{"name": "Jo"}, {"name": "Kim", "email": "not-an-email"}]},
     [["input", "teamMembers", "1", "email"]]),
    ("accept-blank-member-name", "acceptLead", {"teamMembers": [{"name": "  "}]},
     [["input", "teamMembers", "0", "name"]]),
    ("accept-bad-member-phone", "acceptLead",
     {"teamMembers": [{"name": "Jo", "phone": "call me maybe"}]},
     [["input", "teamMembers", "0", "phone"]]),
    ("accept-too-many-members", "acceptLead",
     {"teamMembers": [{"name": f"Member {i}"} for i in range(51)]},
     [["input", "teamMembers"]]),
    ("accept-every-problem-at-once", "acceptLead",
     {"dealName": " ", "estimatedValue": {"amount": "-1", "currency": "XYZ"},
      "notes": "n" * 4001, "teamMembers": [{"name": "Jo", "email": "nope"}]},
     [["input", "dealName"], ["input", "estimatedValue", "amount"],
      ["input", "estimatedValue", "currency"], ["input", "notes"],
      ["input", "teamMembers", "0", "email"]]),
    ("decline-other-without-notes", "declineLead", {"reason": "OTHER"}, [["input", "notes"]]),
    ("decline-other-blank-notes", "declineLead", {"reason": "OTHER", "notes": "  "},
     [["input", "notes"]]),
    ("decline-long-notes", "declineLead", {"notes": "n" * 4001}, [["input", "notes"]]),
    ("decline-malformed-id", "declineLead", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("update-clear-deal-name", "updateLead", {"dealName": None}, [["input", "dealName"]]),
    ("update-clear-value", "updateLead", {"dealName": MISSING, "estimatedValue": None},
     [["input", "estimatedValue"]]),
    ("update-clear-purchase-date", "updateLead",
     {"dealName": MISSING, "estimatedPurchaseDate": None}, [["input", "estimatedPurchaseDate"]]),
    ("update-blank-deal-name", "updateLead", {"dealName": "  "}, [["input", "dealName"]]),
    ("update-long-deal-name", "updateLead", {"dealName": "d" * 201}, [["input", "dealName"]]),
    ("update-long-notes", "updateLead", {"notes": "n" * 4001}, [["input", "notes"]]),
    ("update-long-crm-id", "updateLead", {"crmId": "c" * 101}, [["input", "crmId"]]),
    ("update-unknown-currency", "updateLead",
     {"estimatedValue": {"amount": "5", "currency": "DOLLARS"}},
     [["input", "estimatedValue", "currency"]]),
    ("update-negative-value", "updateLead",
     {"estimatedValue": {"amount": "-5", "currency": "USD"}},
     [["input", "estimatedValue", "amount"]]),
    ("update-too-many-decimals", "updateLead",
     {"estimatedValue": {"amount": "5.555", "currency": "EUR"}},
     [["input", "estimatedValue", "amount"]]),
    ("update-nothing", "updateLead", {"dealName": MISSING}, [["input"]]),
    ("update-malformed-id", "updateLead", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("add-member-bad-email", "addLeadTeamMember", {"email": "not-an-email"},
     [["input", "email"]]),
    ("add-member-blank-name", "addLeadTeamMember", {"name": "  "}, [["input", "name"]]),
    ("add-member-long-name", "addLeadTeamMember", {"name": "n" * 201}, [["input", "name"]]),
    ("add-member-bad-phone", "addLeadTeamMember", {"phone": "call me maybe"},
     [["input", "phone"]]),
    ("add-member-malformed-id", "addLeadTeamMember", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("remove-member-malformed-member-id", "removeLeadTeamMember", {"memberId": "not-a-uuid"},
     [["input", "memberId"]]),
    ("remove-member-malformed-id", "removeLeadTeamMember", {"id": "not-a-uuid"},
     [["input", "id"]]),
    ("won-negative-value", "markLeadWon", {"finalValue": {"amount": "-1", "currency": "USD"}},
     [["input", "finalValue", "amount"]]),
    ("won-unknown-currency", "markLeadWon", {"finalValue": {"amount": "1", "currency": "ABC"}},
     [["input", "finalValue", "currency"]]),
    ("won-too-many-decimals", "markLeadWon",
     {"finalValue": {"amount": "1.001", "currency": "EUR"}},
     [["input", "finalValue", "amount"]]),
    ("won-date-out-of-range", "markLeadWon", {"closingDate": "2101-01-01"},
     [["input", "closingDate"]]),
    ("won-malformed-id", "markLeadWon", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("lost-other-without-notes", "markLeadLost", {"reason": "OTHER"}, [["input", "notes"]]),
    ("lost-long-notes", "markLeadLost", {"notes": "n" * 4001}, [["input", "notes"]]),
    ("lost-unknown-currency", "markLeadLost",
     {"finalValue": {"amount": "1", "currency": "ABC"}}, [["input", "finalValue", "currency"]]),
    ("lost-negative-value", "markLeadLost",
     {"finalValue": {"amount": "-1", "currency": "USD"}}, [["input", "finalValue", "amount"]]),
    ("lost-date-out-of-range", "markLeadLost", {"closingDate": "1999-01-01"},
     [["input", "closingDate"]]),
    ("lost-malformed-id", "markLeadLost", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("favorite-malformed-id", "setLeadFavorite", {"id": "not-a-uuid"}, [["input", "id"]]),
]


@pytest.mark.parametrize(("name", "overrides", "fields"),
                         [pytest.param(*case[1:], id=case[0]) for case in VALIDATION_CASES])
async def test_bad_input_is_a_validation_error(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str,
    overrides: dict[str, Any], fields: list[list[str]],
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    before = await capture(session, lead.id)

    errors = await refuse(gql.as_user(world.contoso.referrals_admin), name,
                          with_overrides(input, overrides))

    assert {e["code"] for e in errors} == {"VALIDATION"}, errors
    assert fields_of(errors) == sorted(fields), errors
    assert all(e["message"] for e in errors)
    await assert_nothing_written(session, before)


SCHEMA_REFUSALS: list[tuple[str, str, dict[str, Any]]] = [
    ("decline-unknown-reason", "declineLead", {"reason": "NOPE"}),
    ("lost-unknown-reason", "markLeadLost", {"reason": "NOPE"}),
    ("accept-missing-deal-name", "acceptLead", {"dealName": MISSING}),
    ("accept-null-deal-name", "acceptLead", {"dealName": None}),
    ("accept-missing-value", "acceptLead", {"estimatedValue": MISSING}),
    ("accept-amount-not-a-number", "acceptLead",
     {"estimatedValue": {"amount": "lots", "currency": "USD"}}),
    ("accept-impossible-date", "acceptLead", {"estimatedPurchaseDate": "2027-02-30"}),
    ("accept-unknown-field", "acceptLead", {"dealValue": "1"}),
    ("won-missing-final-value", "markLeadWon", {"finalValue": MISSING}),
    ("remove-missing-member-id", "removeLeadTeamMember", {"memberId": MISSING}),
    ("favorite-missing-flag", "setLeadFavorite", {"favorite": MISSING}),
    ("version-not-an-int", "updateLead", {"expectedVersion": "two"}),
]


@pytest.mark.parametrize(("name", "overrides"),
                         [pytest.param(*case[1:], id=case[0]) for case in SCHEMA_REFUSALS])
async def test_input_the_schema_refuses_is_a_validation_error(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str,
    overrides: dict[str, Any],
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    before = await capture(session, lead.id)

    body = await gql.as_user(world.contoso.referrals_admin)(
        mutation_document(name), {"input": with_overrides(input, overrides)})

    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION", body
    await assert_nothing_written(session, before)


async def test_unknown_enum_literal_in_the_document_is_a_validation_error(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, _ = await prepare(session, world.contoso.organisation_id, "declineLead")
    before = await capture(session, lead.id)
    body = await gql.as_user(world.contoso.referrals_admin)(
        "mutation($id: ID!) { declineLead(input: {id: $id, reason: NOPE}) "
        "{ lead { id } errors { code } } }", {"id": str(lead.id)})
    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    await assert_nothing_written(session, before)


# --- Team members that are not on the lead ------------------------------------------------


async def test_removing_a_member_of_another_lead_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    other = await make_lead(session, organisation_id=world.contoso.organisation_id,
                            stage=LeadStage.ACCEPTED)
    foreign = await add_member(session, other.id, name="Not Yours")

    await _refused_with(gql.as_user(world.contoso.referrals_admin), session,
                        "removeLeadTeamMember", {**input, "memberId": str(foreign.id)},
                        [lead.id, other.id], "NOT_FOUND", ["input", "memberId"])
    assert [m[0] for m in await team_rows(session, other.id)] == [foreign.id]


async def test_removing_a_member_of_another_partners_lead_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    theirs, their_input = await prepare(session, world.fabrikam.organisation_id,
                                        "removeLeadTeamMember")
    await _refused_with(gql.as_user(world.contoso.referrals_admin), session,
                        "removeLeadTeamMember", {**input, "memberId": their_input["memberId"]},
                        [lead.id, theirs.id], "NOT_FOUND", ["input", "memberId"])


async def test_removing_an_unknown_member_is_not_found(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    await _refused_with(gql.as_user(world.contoso.referrals_admin), session,
                        "removeLeadTeamMember", {**input, "memberId": str(uuid.uuid4())},
                        [lead.id], "NOT_FOUND", ["input", "memberId"])


async def test_removing_the_same_member_twice(gql: GraphQLClient, session: AsyncSession,
                                              world: World) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    lead, input = await prepare(session, world.contoso.organisation_id, "removeLeadTeamMember")
    await client.data(mutation_document("removeLeadTeamMember"), {"input": input})
    await _refused_with(client, session, "removeLeadTeamMember", input, [lead.id], "NOT_FOUND",
                        ["input", "memberId"])


async def test_a_lead_has_at_most_fifty_team_members(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           stage=LeadStage.ACCEPTED)
    for i in range(50):
        await add_member(session, lead.id, name=f"Member {i}", email=None)
    before = await capture(session, lead.id)
    errors = await refuse(gql.as_user(world.contoso.referrals_admin), "addLeadTeamMember",
                          {"id": str(lead.id), "name": "One too many"})
    assert [e["code"] for e in errors] == ["VALIDATION"]
    assert errors[0]["field"] and errors[0]["field"][0] == "input"
    await assert_nothing_written(session, before)


# --- Other tenants -------------------------------------------------------------------------

INTRUDERS = ["fabrikam.referrals_admin", "fabrikam.partner_admin", "northwind.referrals_admin",
             "seller", "marketer", "platform_admin"]


def _intruder(world: World, who: str) -> uuid.UUID:
    partner, _, role = who.rpartition(".")
    holder: Any = getattr(world, partner) if partner else world
    user_id: uuid.UUID = getattr(holder, role)
    return user_id


@pytest.mark.parametrize("who", INTRUDERS)
@pytest.mark.parametrize("name", MUTATIONS)
async def test_another_tenants_lead_does_not_exist(
    gql: GraphQLClient, session: AsyncSession, world: World, name: str, who: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    intruder = gql.as_user(_intruder(world, who))

    await _refused_with(intruder, session, name, input, [lead.id], "NOT_FOUND", ["input", "id"])
    if name in LIFECYCLE:
        # A stale version must not reveal that the lead exists either.
        await _refused_with(intruder, session, name, {**input, "expectedVersion": 99},
                            [lead.id], "NOT_FOUND", ["input", "id"])
    assert await read_lead(intruder, lead.id) is None
    still = await read_lead(gql.as_user(world.contoso.referrals_admin), lead.id)
    assert still is not None and still["version"] == 1


async def test_a_new_partner_cannot_touch_the_demo_leads(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    newcomer = await make_partner(session)
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    await _refused_with(gql.as_user(newcomer.partner_admin), session, "acceptLead", input,
                        [lead.id], "NOT_FOUND", ["input", "id"])
