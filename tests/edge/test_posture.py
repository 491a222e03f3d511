"""Production posture: what the API tells strangers, which transports it offers, how it checks
tokens and logs expected errors; and the cancelled-field bug that reached clients as VALIDATION."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.graphql.search import SEARCH_LIMIT
from app.ratelimit import RateLimiter
from app.services.auth import issue_token
from tests.edge.conftest import PRODUCTION, PairFactory
from tests.factories import World
from tests.graphql_client import GraphQLClient

INTROSPECTION = "{ __schema { queryType { name } } }"


@pytest.mark.parametrize(
    ("overrides", "allowed"),
    [({}, True), (PRODUCTION, False), ({**PRODUCTION, "graphql_introspection": True}, True)],
)
async def test_introspection_is_off_in_production_unless_enabled(
    edge: PairFactory,
    world: World,
    settings: Settings,
    overrides: dict[str, Any],
    allowed: bool,
) -> None:
    token = issue_token(settings.model_copy(update=overrides), world.contoso.referrals_admin)
    async with edge(**overrides) as pair:
        response = await pair.post({"query": INTROSPECTION})
        # Beside a field the compiled path answers, too.
        mixed = await pair.post(
            {"query": '{ viewer { roles } __type(name: "Lead") { name } }'},
            headers={"authorization": f"Bearer {token}"},
        )
        # __typename is not introspection: clients (and caches) rely on it.
        typename = await pair.post({"query": "{ __typename }"})
    assert typename.json() == {"data": {"__typename": "Query"}}
    body = response.json()
    if allowed:
        assert body == {"data": {"__schema": {"queryType": {"name": "Query"}}}}
        assert mixed.json()["data"]["__type"] == {"name": "Lead"}
    else:
        assert mixed.json()["data"] is None
        assert mixed.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "VALIDATION"
        assert "introspection" in body["errors"][0]["message"]


@pytest.mark.parametrize("overrides", [{}, PRODUCTION])
async def test_forms_read_enum_values_with_introspection_off(
    edge: PairFactory, overrides: dict[str, Any]
) -> None:
    """A form's select needs an enum's values (a decline reason): `enumValues` answers them
    wherever `__type` is refused, and only for enums."""
    query = """{ reasons: enumValues(enum: "DeclineReason") { name description }
                 lead: enumValues(enum: "Lead") { name }
                 unknown: enumValues(enum: "NoSuchThing") { name } }"""
    async with edge(**overrides) as pair:
        response = await pair.post({"query": query})
    data = response.json()["data"]
    names = [value["name"] for value in data["reasons"]]
    assert names[:3] == ["NOT_A_FIT_FOR_EXPERTISE", "CUSTOMER_SIZE", "LOCATION"]
    assert "OTHER" in names
    assert (data["lead"], data["unknown"]) == (None, None)


@pytest.mark.parametrize(("overrides", "suggests"), [({}, True), (PRODUCTION, False)])
async def test_field_suggestions_are_off_in_production(
    edge: PairFactory, world: World, overrides: dict[str, Any], suggests: bool
) -> None:
    async with edge(**overrides) as pair:
        response = await pair.post({"query": "{ leadz(tab: MARKETPLACE) { totalCount } }"})
    [error] = response.json()["errors"]
    assert error["message"].startswith("Cannot query field 'leadz' on type 'Query'.")
    assert ("Did you mean" in error["message"]) is suggests
    assert error["extensions"]["code"] == "VALIDATION"


@pytest.mark.parametrize(
    ("overrides", "status"),
    [({}, 200), (PRODUCTION, 405), ({**PRODUCTION, "graphql_get": True}, 200)],
)
async def test_queries_over_get_are_off_in_production_unless_enabled(
    edge: PairFactory, world: World, overrides: dict[str, Any], status: int
) -> None:
    async with edge(**overrides) as pair:
        response = await pair.request("GET", params={"query": "{ __typename }"})
    assert response.status_code == status
    if status == 405:
        assert response.headers["allow"] == "POST"
        assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


def _token(settings: Settings, user: uuid.UUID, **claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {
        "sub": str(user),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    for name, value in claims.items():
        if value is None:
            payload.pop(name)
        else:
            payload[name] = value
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize("overrides", [{}, PRODUCTION])
@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "someone-else"}, "invalid token: the token is from another issuer"),
        ({"iss": None}, "invalid token: the token lacks the 'iss' claim"),
        ({"exp": 1}, "invalid token: the token has expired"),
        ({"aud": "elsewhere"}, "invalid token: the token is for another audience"),
    ],
)
async def test_tokens_from_another_issuer_are_refused_in_our_words(
    edge: PairFactory,
    world: World,
    settings: Settings,
    overrides: dict[str, Any],
    claims: dict[str, Any],
    reason: str,
) -> None:
    signing = settings.model_copy(update=overrides)
    token = _token(signing, world.contoso.referrals_admin, **claims)
    async with edge(**overrides) as pair:
        response = await pair.post(
            {"query": "{ viewer { roles } }"}, headers={"authorization": f"Bearer {token}"}
        )
        good = issue_token(signing, world.contoso.referrals_admin)
        ok = await pair.post(
            {"query": "{ viewer { roles } }"}, headers={"authorization": f"Bearer {good}"}
        )
    assert ok.json() == {"data": {"viewer": {"roles": ["REFERRALS_ADMIN"]}}}
    assert response.status_code == 401
    [error] = response.json()["errors"]
    assert error == {"message": reason, "extensions": {"code": "UNAUTHENTICATED"}}


async def test_expected_errors_are_logged_as_one_line(
    edge: PairFactory, world: World, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}-{uuid.uuid4().hex[:6]}"
    limiter = RateLimiter(settings.redis_url)
    try:
        for _ in range(SEARCH_LIMIT.per_window):
            await limiter.hit(SEARCH_LIMIT, address)
    finally:
        await limiter.close()
    caplog.set_level(logging.INFO)
    async with edge(client=(address, 4000)) as pair:
        limited = await pair.post({"query": "{ searchPartners(first: 1) { nodes { rank } } }"})
        invalid = await pair.post({"query": "{ leadz }"})
        refused = await pair.post(
            {"query": '{ viewer { roles } leads(tab: MARKETPLACE, after: "") { totalCount } }'},
            headers={"authorization": f"Bearer {issue_token(settings, world.contoso.member)}"},
        )
        unauthenticated = await pair.post(
            {"query": "{ viewer { roles } }"}, headers={"authorization": "Bearer junk"}
        )
    assert unauthenticated.status_code == 401
    assert limited.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert invalid.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    assert refused.json()["errors"][0]["extensions"]["code"] in ("VALIDATION", "FORBIDDEN")
    logged = [r for r in caplog.records if r.name.startswith("app.graphql")]
    codes = {r.getMessage().split(":")[0] for r in logged}
    assert {"RATE_LIMITED", "VALIDATION", "UNAUTHENTICATED"} <= codes
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in logged)
    assert not [r for r in caplog.records if r.name == "strawberry.execution"]


async def test_the_legacy_graphql_ws_protocol_is_off_unless_enabled(serve: Any) -> None:
    for legacy in (False, True):
        async with serve(graphql_ws_legacy=legacy) as address:
            ws = await websockets.connect(f"ws://{address}/graphql", subprotocols=["graphql-ws"])
            try:
                if legacy:
                    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                    message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert message["type"] == "connection_ack"
                else:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                        await asyncio.wait_for(ws.recv(), 10)
                    assert closed.value.rcvd is not None
                    assert closed.value.rcvd.code == 4406
            finally:
                await ws.close()


async def test_a_field_error_beside_a_running_loader_is_that_error_only(
    committed_gql: GraphQLClient, world: World, engine: AsyncEngine
) -> None:
    """graphql-core cancels the other fields when one fails and nulls the result: a loader
    cancelled mid-statement left its connection broken, and rolling it back failed with
    `the underlying connection is closed`, labelled VALIDATION. Pooled connections (committed
    requests) are what production runs on."""
    client = committed_gql.as_user(world.contoso.referrals_admin)
    data = await client.data("{ leads(tab: MARKETPLACE) { edges { node { id } } } }")
    ids = [e["node"]["id"] for e in data["leads"]["edges"]]
    assert ids
    for lead_id in ids[:20]:
        body = await client(
            f'{{ lead(id: "{lead_id}") {{ isFavorite }} '
            'leads(tab: MARKETPLACE, after: "") { totalCount } }'
        )
        assert body == {
            "data": None,
            "errors": [
                {
                    "message": "is not a cursor from this list",
                    "locations": [{"line": 1, "column": 67}],
                    "path": ["leads"],
                    "extensions": {"code": "VALIDATION", "field": ["after"]},
                }
            ],
        }
    # The pool's connections still answer.
    assert (await client.data("{ viewer { roles } }"))["viewer"]["roles"] == ["REFERRALS_ADMIN"]
