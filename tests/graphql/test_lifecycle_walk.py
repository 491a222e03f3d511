"""Favorites, a full walk through the lifecycle, and bad credentials, over GraphQL.

Refusals are in test_mutation_refusals.py and test_mutation_bad_input.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import User
from app.domain.lifecycle import LeadStage
from app.services.auth import issue_token
from tests.factories import World, make_lead
from tests.graphql.lead_documents import (
    RECEIVED_ACTIONS,
    assert_nothing_written,
    capture,
    change_map,
    favorite_count,
    lead_row,
    mutation_document,
    outbox_rows,
    prepare,
    read_lead,
    succeed,
    user_name,
    valid_input,
)
from tests.graphql_client import GraphQLClient

# --- setLeadFavorite ----------------------------------------------------------------------

FAVORITE_STAGES = [
    (LeadStage.RECEIVED, None),
    (LeadStage.ACCEPTED, None),
    (LeadStage.ARCHIVED, "WON"),
    (LeadStage.ARCHIVED, "DECLINED"),
]


@pytest.mark.parametrize(("stage", "outcome"), FAVORITE_STAGES)
async def test_set_lead_favorite_is_idempotent_at_any_stage(
    gql: GraphQLClient,
    session: AsyncSession,
    world: World,
    stage: LeadStage,
    outcome: str | None,
) -> None:
    admin = world.contoso.referrals_admin
    client = gql.as_user(admin)
    lead, _ = await prepare(
        session, world.contoso.organisation_id, "setLeadFavorite", stage=stage, outcome=outcome
    )
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


async def test_favorite_is_personal(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "setLeadFavorite")
    await succeed(gql.as_user(world.contoso.referrals_admin), "setLeadFavorite", input)
    other = await read_lead(gql.as_user(world.contoso.partner_admin), lead.id)
    assert other is not None and other["isFavorite"] is False
    assert await favorite_count(session, lead.id) == 1


# --- A full walk, GraphQL only -----------------------------------------------------------


async def test_full_walk_through_the_lifecycle(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    admin = world.contoso.referrals_admin
    client = gql.as_user(admin)
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    lid = str(lead.id)

    seen = await read_lead(client, lid)
    assert seen is not None
    assert (seen["stage"], seen["version"], seen["allowedActions"]) == (
        "RECEIVED",
        1,
        RECEIVED_ACTIONS,
    )

    accepted = await succeed(
        client,
        "acceptLead",
        {
            **valid_input("acceptLead", lid),
            "expectedVersion": seen["version"],
            "teamMembers": [{"name": "Jo Park", "email": "jo@contoso.example"}],
        },
    )
    assert (accepted["stage"], accepted["version"]) == ("ACCEPTED", 2)
    assert [m["name"] for m in accepted["team"]] == ["Jo Park"]

    updated = await succeed(
        client,
        "updateLead",
        {
            "id": lid,
            "expectedVersion": accepted["version"],
            "notes": "Kick-off in May",
        },
    )
    assert (updated["version"], updated["deal"]["notes"]) == (3, "Kick-off in May")

    added = await succeed(
        client,
        "addLeadTeamMember",
        {
            "id": lid,
            "expectedVersion": updated["version"],
            "name": "Kim Lee",
        },
    )
    assert added["version"] == 4
    assert [m["name"] for m in added["team"]] == ["Jo Park", "Kim Lee"]

    jo = next(m for m in added["team"] if m["name"] == "Jo Park")
    removed = await succeed(
        client,
        "removeLeadTeamMember",
        {
            "id": lid,
            "expectedVersion": added["version"],
            "memberId": jo["id"],
        },
    )
    assert removed["version"] == 5
    assert [m["name"] for m in removed["team"]] == ["Kim Lee"]

    won = await succeed(
        client,
        "markLeadWon",
        {
            "id": lid,
            "expectedVersion": removed["version"],
            "finalValue": {"amount": "130000", "currency": "EUR"},
            "closingDate": "2026-12-15",
        },
    )
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
        "lead.accepted",
        "lead.updated",
        "lead.updated",
        "lead.updated",
        "lead.won",
    ]
    assert [m.payload["current"]["version"] for m in outbox] == [2, 3, 4, 5, 6]
    assert len({m.payload["eventId"] for m in outbox}) == 5

    other = await make_lead(session, organisation_id=world.contoso.organisation_id)
    declined = await succeed(
        client,
        "declineLead",
        {
            "id": str(other.id),
            "expectedVersion": 1,
            "reason": "CUSTOMER_SIZE",
        },
    )
    assert (declined["stage"], declined["outcome"], declined["version"]) == (
        "ARCHIVED",
        "DECLINED",
        2,
    )
    assert [(h["action"], h["toStage"]) for h in declined["history"]] == [
        ("RECEIVE", "RECEIVED"),
        ("DECLINE", "ARCHIVED"),
    ]
    assert [m.topic for m in await outbox_rows(session, other.id)] == [
        "lead.declined",
        "notify.lead_declined",
    ]


# --- Credentials --------------------------------------------------------------------------


def _token(
    settings: Settings, *, sub: str, secret: str | None = None, audience: str | None = None
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": sub,
        "aud": audience or settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }
    return jwt.encode(claims, secret or settings.jwt_secret, algorithm="HS256")


def _bad_headers(settings: Settings, world: World) -> dict[str, dict[str, str]]:
    admin = world.contoso.referrals_admin
    return {
        "junk": {"Authorization": "Bearer junk"},
        "expired": {
            "Authorization": "Bearer " + issue_token(settings, admin, ttl=timedelta(seconds=-10))
        },
        "unknown_user": {"Authorization": "Bearer " + issue_token(settings, uuid.uuid4())},
        "wrong_signature": {
            "Authorization": "Bearer "
            + _token(settings, sub=str(admin), secret="not-the-secret-" + "x" * 32)
        },
        "wrong_audience": {
            "Authorization": "Bearer " + _token(settings, sub=str(admin), audience="someone-else")
        },
        "subject_not_a_uuid": {"Authorization": "Bearer " + _token(settings, sub="admin")},
        "not_bearer": {"Authorization": "Basic dXNlcjpwYXNz"},
        "empty_bearer": {"Authorization": "Bearer "},
    }


@pytest.mark.parametrize(
    "kind",
    [
        "junk",
        "expired",
        "unknown_user",
        "wrong_signature",
        "wrong_audience",
        "subject_not_a_uuid",
        "not_bearer",
        "empty_bearer",
    ],
)
async def test_bad_credentials_get_401(
    gql: GraphQLClient, session: AsyncSession, world: World, settings: Settings, kind: str
) -> None:
    lead, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    before = await capture(session, lead.id)

    response = await gql.raw(
        mutation_document("acceptLead"),
        {"input": input},
        headers=_bad_headers(settings, world)[kind],
    )

    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body or body["data"] is None
    await assert_nothing_written(session, before)


async def test_inactive_user_gets_401(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
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


async def test_valid_token_is_let_in(
    gql: GraphQLClient, session: AsyncSession, world: World, settings: Settings
) -> None:
    """The control for the 401 tests: the same request with a good token works."""
    _, input = await prepare(session, world.contoso.organisation_id, "acceptLead")
    token = issue_token(settings, world.contoso.referrals_admin)
    response = await gql.raw(
        mutation_document("acceptLead"),
        {"input": input},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["acceptLead"]["lead"]["stage"] == "ACCEPTED"
