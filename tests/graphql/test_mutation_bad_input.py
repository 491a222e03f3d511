"""Bad input to the lead mutations: typed VALIDATION errors with the path of the field, and
nothing written."""

from __future__ import annotations

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

# --- Bad input: typed VALIDATION errors with a field path --------------------------------


def estimated(amount: str, currency: str) -> dict[str, Any]:
    return {"estimatedValue": {"amount": amount, "currency": currency}}


def final(amount: str, currency: str) -> dict[str, Any]:
    return {"finalValue": {"amount": amount, "currency": currency}}


BAD_ID = {"id": "not-a-uuid"}
LONG_NOTES = {"notes": "n" * 4001}

# mutation: (test id, overrides of a valid input, the field paths refused, space-separated)
VALIDATION_CASES: dict[str, list[tuple[str, dict[str, Any], str]]] = {
    "acceptLead": [
        ("accept-unknown-currency", estimated("100", "XYZ"), "input.estimatedValue.currency"),
        ("accept-negative-value", estimated("-1", "USD"), "input.estimatedValue.amount"),
        ("accept-too-many-decimals", estimated("10.123", "USD"), "input.estimatedValue.amount"),
        ("accept-decimals-in-jpy", estimated("10.5", "JPY"), "input.estimatedValue.amount"),
        ("accept-absurd-value", estimated("1000000000000", "USD"), "input.estimatedValue.amount"),
        ("accept-nan-value", estimated("NaN", "USD"), "input.estimatedValue.amount"),
        ("accept-empty-deal-name", {"dealName": ""}, "input.dealName"),
        ("accept-blank-deal-name", {"dealName": "   "}, "input.dealName"),
        ("accept-long-deal-name", {"dealName": "d" * 201}, "input.dealName"),
        ("accept-control-chars", {"dealName": "bad\x00name"}, "input.dealName"),
        ("accept-long-notes", LONG_NOTES, "input.notes"),
        ("accept-long-crm-id", {"crmId": "c" * 101}, "input.crmId"),
        ("accept-long-campaign-id", {"campaignId": "c" * 101}, "input.campaignId"),
        (
            "accept-date-out-of-range",
            {"estimatedPurchaseDate": "1999-12-31"},
            "input.estimatedPurchaseDate",
        ),
        ("accept-malformed-id", BAD_ID, "input.id"),
        (
            "accept-bad-member-email",
            {"teamMembers": [{"name": "Jo"}, {"name": "Kim", "email": "not-an-email"}]},
            "input.teamMembers.1.email",
        ),
        ("accept-blank-member-name", {"teamMembers": [{"name": "  "}]}, "input.teamMembers.0.name"),
        (
            "accept-bad-member-phone",
            {"teamMembers": [{"name": "Jo", "phone": "call me maybe"}]},
            "input.teamMembers.0.phone",
        ),
        (
            "accept-too-many-members",
            {"teamMembers": [{"name": f"Member {i}"} for i in range(51)]},
            "input.teamMembers",
        ),
        (
            "accept-every-problem-at-once",
            {
                "dealName": " ",
                **estimated("-1", "XYZ"),
                **LONG_NOTES,
                "teamMembers": [{"name": "Jo", "email": "nope"}],
            },
            "input.dealName input.estimatedValue.amount input.estimatedValue.currency"
            " input.notes input.teamMembers.0.email",
        ),
    ],
    "declineLead": [
        ("decline-other-without-notes", {"reason": "OTHER"}, "input.notes"),
        ("decline-other-blank-notes", {"reason": "OTHER", "notes": "  "}, "input.notes"),
        ("decline-long-notes", LONG_NOTES, "input.notes"),
        ("decline-malformed-id", BAD_ID, "input.id"),
    ],
    "updateLead": [
        ("update-clear-deal-name", {"dealName": None}, "input.dealName"),
        (
            "update-clear-value",
            {"dealName": MISSING, "estimatedValue": None},
            "input.estimatedValue",
        ),
        (
            "update-clear-purchase-date",
            {"dealName": MISSING, "estimatedPurchaseDate": None},
            "input.estimatedPurchaseDate",
        ),
        ("update-blank-deal-name", {"dealName": "  "}, "input.dealName"),
        ("update-long-deal-name", {"dealName": "d" * 201}, "input.dealName"),
        ("update-long-notes", LONG_NOTES, "input.notes"),
        ("update-long-crm-id", {"crmId": "c" * 101}, "input.crmId"),
        ("update-unknown-currency", estimated("5", "DOLLARS"), "input.estimatedValue.currency"),
        ("update-negative-value", estimated("-5", "USD"), "input.estimatedValue.amount"),
        ("update-too-many-decimals", estimated("5.555", "EUR"), "input.estimatedValue.amount"),
        ("update-nothing", {"dealName": MISSING}, "input"),
        ("update-malformed-id", BAD_ID, "input.id"),
    ],
    "addLeadTeamMember": [
        ("add-member-bad-email", {"email": "not-an-email"}, "input.email"),
        ("add-member-blank-name", {"name": "  "}, "input.name"),
        ("add-member-long-name", {"name": "n" * 201}, "input.name"),
        ("add-member-bad-phone", {"phone": "call me maybe"}, "input.phone"),
        ("add-member-malformed-id", BAD_ID, "input.id"),
    ],
    "removeLeadTeamMember": [
        ("remove-member-malformed-member-id", {"memberId": "not-a-uuid"}, "input.memberId"),
        ("remove-member-malformed-id", BAD_ID, "input.id"),
    ],
    "markLeadWon": [
        ("won-negative-value", final("-1", "USD"), "input.finalValue.amount"),
        ("won-unknown-currency", final("1", "ABC"), "input.finalValue.currency"),
        ("won-too-many-decimals", final("1.001", "EUR"), "input.finalValue.amount"),
        ("won-date-out-of-range", {"closingDate": "2101-01-01"}, "input.closingDate"),
        ("won-malformed-id", BAD_ID, "input.id"),
    ],
    "markLeadLost": [
        ("lost-other-without-notes", {"reason": "OTHER"}, "input.notes"),
        ("lost-long-notes", LONG_NOTES, "input.notes"),
        ("lost-unknown-currency", final("1", "ABC"), "input.finalValue.currency"),
        ("lost-negative-value", final("-1", "USD"), "input.finalValue.amount"),
        ("lost-date-out-of-range", {"closingDate": "1999-01-01"}, "input.closingDate"),
        ("lost-malformed-id", BAD_ID, "input.id"),
    ],
    "setLeadFavorite": [("favorite-malformed-id", BAD_ID, "input.id")],
}


@pytest.mark.parametrize(
    ("name", "overrides", "fields"),
    [
        pytest.param(name, overrides, fields, id=case_id)
        for name, cases in VALIDATION_CASES.items()
        for case_id, overrides, fields in cases
    ],
)
async def test_bad_input_is_a_validation_error(
    gql: GraphQLClient,
    session: AsyncSession,
    world: World,
    name: str,
    overrides: dict[str, Any],
    fields: str,
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, name)
    before = await capture(session, lead.id)

    errors = await refuse(
        gql.as_user(world.contoso.referrals_admin), name, with_overrides(input, overrides)
    )

    assert {e["code"] for e in errors} == {"VALIDATION"}, errors
    assert fields_of(errors) == sorted(path.split(".") for path in fields.split()), errors
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
