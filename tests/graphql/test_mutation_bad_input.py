"""Bad input to the lead mutations: typed VALIDATION errors with the path of the field, and
nothing written."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import World
from tests.graphql.lead_documents import (
    MISSING,
    assert_nothing_written,
    capture,
    fields_of,
    mutation_document,
    prepare,
    refuse,
    with_overrides,
)
from tests.graphql_client import GraphQLClient


async def _refused_with(
    client: GraphQLClient,
    session: AsyncSession,
    name: str,
    input: dict[str, Any],
    lead_ids: list[uuid.UUID],
    code: str,
    field: list[str] | None,
) -> list[dict[str, Any]]:
    """`name` is refused with exactly one error (`code`, `field`) and writes nothing."""
    before = await capture(session, *lead_ids)
    errors = await refuse(client, name, input)
    assert [(e["code"], e["field"]) for e in errors] == [(code, field)], errors
    assert all(e["message"] for e in errors)
    await assert_nothing_written(session, before)
    return errors


# --- Bad input: typed VALIDATION errors with a field path --------------------------------

MONEY = {"amount": "100", "currency": "USD"}

VALIDATION_CASES: list[tuple[str, str, dict[str, Any], list[list[str]]]] = [
    # (test id, mutation, overrides of a valid input, expected field paths)
    (
        "accept-unknown-currency",
        "acceptLead",
        {"estimatedValue": {"amount": "100", "currency": "XYZ"}},
        [["input", "estimatedValue", "currency"]],
    ),
    (
        "accept-negative-value",
        "acceptLead",
        {"estimatedValue": {"amount": "-1", "currency": "USD"}},
        [["input", "estimatedValue", "amount"]],
    ),
    (
        "accept-too-many-decimals",
        "acceptLead",
        {"estimatedValue": {"amount": "10.123", "currency": "USD"}},
        [["input", "estimatedValue", "amount"]],
    ),
    (
        "accept-decimals-in-jpy",
        "acceptLead",
        {"estimatedValue": {"amount": "10.5", "currency": "JPY"}},
        [["input", "estimatedValue", "amount"]],
    ),
    (
        "accept-absurd-value",
        "acceptLead",
        {"estimatedValue": {"amount": "1000000000000", "currency": "USD"}},
        [["input", "estimatedValue", "amount"]],
    ),
    (
        "accept-nan-value",
        "acceptLead",
        {"estimatedValue": {"amount": "NaN", "currency": "USD"}},
        [["input", "estimatedValue", "amount"]],
    ),
    ("accept-empty-deal-name", "acceptLead", {"dealName": ""}, [["input", "dealName"]]),
    ("accept-blank-deal-name", "acceptLead", {"dealName": "   "}, [["input", "dealName"]]),
    ("accept-long-deal-name", "acceptLead", {"dealName": "d" * 201}, [["input", "dealName"]]),
    ("accept-control-chars", "acceptLead", {"dealName": "bad\x00name"}, [["input", "dealName"]]),
    ("accept-long-notes", "acceptLead", {"notes": "n" * 4001}, [["input", "notes"]]),
    ("accept-long-crm-id", "acceptLead", {"crmId": "c" * 101}, [["input", "crmId"]]),
    ("accept-long-campaign-id", "acceptLead", {"campaignId": "c" * 101}, [["input", "campaignId"]]),
    (
        "accept-date-out-of-range",
        "acceptLead",
        {"estimatedPurchaseDate": "1999-12-31"},
        [["input", "estimatedPurchaseDate"]],
    ),
    ("accept-malformed-id", "acceptLead", {"id": "not-a-uuid"}, [["input", "id"]]),
    (
        "accept-bad-member-email",
        "acceptLead",
        {"teamMembers": [{"name": "Jo"}, {"name": "Kim", "email": "not-an-email"}]},
        [["input", "teamMembers", "1", "email"]],
    ),
    (
        "accept-blank-member-name",
        "acceptLead",
        {"teamMembers": [{"name": "  "}]},
        [["input", "teamMembers", "0", "name"]],
    ),
    (
        "accept-bad-member-phone",
        "acceptLead",
        {"teamMembers": [{"name": "Jo", "phone": "call me maybe"}]},
        [["input", "teamMembers", "0", "phone"]],
    ),
    (
        "accept-too-many-members",
        "acceptLead",
        {"teamMembers": [{"name": f"Member {i}"} for i in range(51)]},
        [["input", "teamMembers"]],
    ),
    (
        "accept-every-problem-at-once",
        "acceptLead",
        {
            "dealName": " ",
            "estimatedValue": {"amount": "-1", "currency": "XYZ"},
            "notes": "n" * 4001,
            "teamMembers": [{"name": "Jo", "email": "nope"}],
        },
        [
            ["input", "dealName"],
            ["input", "estimatedValue", "amount"],
            ["input", "estimatedValue", "currency"],
            ["input", "notes"],
            ["input", "teamMembers", "0", "email"],
        ],
    ),
    ("decline-other-without-notes", "declineLead", {"reason": "OTHER"}, [["input", "notes"]]),
    (
        "decline-other-blank-notes",
        "declineLead",
        {"reason": "OTHER", "notes": "  "},
        [["input", "notes"]],
    ),
    ("decline-long-notes", "declineLead", {"notes": "n" * 4001}, [["input", "notes"]]),
    ("decline-malformed-id", "declineLead", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("update-clear-deal-name", "updateLead", {"dealName": None}, [["input", "dealName"]]),
    (
        "update-clear-value",
        "updateLead",
        {"dealName": MISSING, "estimatedValue": None},
        [["input", "estimatedValue"]],
    ),
    (
        "update-clear-purchase-date",
        "updateLead",
        {"dealName": MISSING, "estimatedPurchaseDate": None},
        [["input", "estimatedPurchaseDate"]],
    ),
    ("update-blank-deal-name", "updateLead", {"dealName": "  "}, [["input", "dealName"]]),
    ("update-long-deal-name", "updateLead", {"dealName": "d" * 201}, [["input", "dealName"]]),
    ("update-long-notes", "updateLead", {"notes": "n" * 4001}, [["input", "notes"]]),
    ("update-long-crm-id", "updateLead", {"crmId": "c" * 101}, [["input", "crmId"]]),
    (
        "update-unknown-currency",
        "updateLead",
        {"estimatedValue": {"amount": "5", "currency": "DOLLARS"}},
        [["input", "estimatedValue", "currency"]],
    ),
    (
        "update-negative-value",
        "updateLead",
        {"estimatedValue": {"amount": "-5", "currency": "USD"}},
        [["input", "estimatedValue", "amount"]],
    ),
    (
        "update-too-many-decimals",
        "updateLead",
        {"estimatedValue": {"amount": "5.555", "currency": "EUR"}},
        [["input", "estimatedValue", "amount"]],
    ),
    ("update-nothing", "updateLead", {"dealName": MISSING}, [["input"]]),
    ("update-malformed-id", "updateLead", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("add-member-bad-email", "addLeadTeamMember", {"email": "not-an-email"}, [["input", "email"]]),
    ("add-member-blank-name", "addLeadTeamMember", {"name": "  "}, [["input", "name"]]),
    ("add-member-long-name", "addLeadTeamMember", {"name": "n" * 201}, [["input", "name"]]),
    ("add-member-bad-phone", "addLeadTeamMember", {"phone": "call me maybe"}, [["input", "phone"]]),
    ("add-member-malformed-id", "addLeadTeamMember", {"id": "not-a-uuid"}, [["input", "id"]]),
    (
        "remove-member-malformed-member-id",
        "removeLeadTeamMember",
        {"memberId": "not-a-uuid"},
        [["input", "memberId"]],
    ),
    ("remove-member-malformed-id", "removeLeadTeamMember", {"id": "not-a-uuid"}, [["input", "id"]]),
    (
        "won-negative-value",
        "markLeadWon",
        {"finalValue": {"amount": "-1", "currency": "USD"}},
        [["input", "finalValue", "amount"]],
    ),
    (
        "won-unknown-currency",
        "markLeadWon",
        {"finalValue": {"amount": "1", "currency": "ABC"}},
        [["input", "finalValue", "currency"]],
    ),
    (
        "won-too-many-decimals",
        "markLeadWon",
        {"finalValue": {"amount": "1.001", "currency": "EUR"}},
        [["input", "finalValue", "amount"]],
    ),
    (
        "won-date-out-of-range",
        "markLeadWon",
        {"closingDate": "2101-01-01"},
        [["input", "closingDate"]],
    ),
    ("won-malformed-id", "markLeadWon", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("lost-other-without-notes", "markLeadLost", {"reason": "OTHER"}, [["input", "notes"]]),
    ("lost-long-notes", "markLeadLost", {"notes": "n" * 4001}, [["input", "notes"]]),
    (
        "lost-unknown-currency",
        "markLeadLost",
        {"finalValue": {"amount": "1", "currency": "ABC"}},
        [["input", "finalValue", "currency"]],
    ),
    (
        "lost-negative-value",
        "markLeadLost",
        {"finalValue": {"amount": "-1", "currency": "USD"}},
        [["input", "finalValue", "amount"]],
    ),
    (
        "lost-date-out-of-range",
        "markLeadLost",
        {"closingDate": "1999-01-01"},
        [["input", "closingDate"]],
    ),
    ("lost-malformed-id", "markLeadLost", {"id": "not-a-uuid"}, [["input", "id"]]),
    ("favorite-malformed-id", "setLeadFavorite", {"id": "not-a-uuid"}, [["input", "id"]]),
]


@pytest.mark.parametrize(
    ("name", "overrides", "fields"),
    [pytest.param(*case[1:], id=case[0]) for case in VALIDATION_CASES],
)
async def test_bad_input_is_a_validation_error(
    gql: GraphQLClient,
    session: AsyncSession,
    world: World,
    name: str,
    overrides: dict[str, Any],
    fields: list[list[str]],
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    before = await capture(session, lead.id)

    errors = await refuse(
        gql.as_user(world.contoso.referrals_admin), name, with_overrides(input, overrides)
    )

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
    (
        "accept-amount-not-a-number",
        "acceptLead",
        {"estimatedValue": {"amount": "lots", "currency": "USD"}},
    ),
    ("accept-impossible-date", "acceptLead", {"estimatedPurchaseDate": "2027-02-30"}),
    ("accept-unknown-field", "acceptLead", {"dealValue": "1"}),
    ("won-missing-final-value", "markLeadWon", {"finalValue": MISSING}),
    ("remove-missing-member-id", "removeLeadTeamMember", {"memberId": MISSING}),
    ("favorite-missing-flag", "setLeadFavorite", {"favorite": MISSING}),
    ("version-not-an-int", "updateLead", {"expectedVersion": "two"}),
]


@pytest.mark.parametrize(
    ("name", "overrides"), [pytest.param(*case[1:], id=case[0]) for case in SCHEMA_REFUSALS]
)
async def test_input_the_schema_refuses_is_a_validation_error(
    gql: GraphQLClient,
    session: AsyncSession,
    world: World,
    name: str,
    overrides: dict[str, Any],
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    before = await capture(session, lead.id)

    body = await gql.as_user(world.contoso.referrals_admin)(
        mutation_document(name), {"input": with_overrides(input, overrides)}
    )

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
        "{ lead { id } errors { code } } }",
        {"id": str(lead.id)},
    )
    assert body.get("data") is None, body
    assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
    await assert_nothing_written(session, before)
