"""GraphQL over HTTP (the draft spec), as the graphql-http server audit checks it: media types,
status codes per media type, well-formed parameters. Both execution paths answer alike."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.services.auth import issue_token
from tests.edge.conftest import PairFactory
from tests.factories import World

GQLR = "application/graphql-response+json"
JSON = "application/json"
TYPENAME = {"query": "{ __typename }"}


def headers(accept: str | None = None, content_type: str | None = JSON) -> dict[str, str]:
    sent = {}
    if accept is not None:
        sent["accept"] = accept
    if content_type is not None:
        sent["content-type"] = content_type
    return sent


def assert_request_error(response: Any, accept: str) -> None:
    """graphql-response+json: 400 and no `data`; application/json: 200 with `errors`."""
    body = response.json()
    assert body["errors"], body
    assert all(e["extensions"]["code"] for e in body["errors"])
    if accept == GQLR:
        assert response.status_code == 400
        assert "data" not in body
        assert response.headers["content-type"] == f"{GQLR}; charset=utf-8"
    else:
        assert response.status_code == 200
        assert response.headers["content-type"] == f"{JSON}; charset=utf-8"


@pytest.mark.parametrize(
    ("accept", "answered"),
    [
        (GQLR, GQLR),
        (JSON, JSON),
        ("*/*", JSON),
        (None, JSON),
        (f"{GQLR}, {JSON};q=0.9", GQLR),
        (f"{GQLR};q=0.5, {JSON}", JSON),
        ("text/html, */*;q=0.8", JSON),
    ],
)
async def test_answers_in_the_accepted_media_type_in_utf8(
    edge: PairFactory, world: World, accept: str | None, answered: str
) -> None:
    async with edge() as pair:
        response = await pair.post(TYPENAME, headers=headers(accept))
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{answered}; charset=utf-8"
    assert response.content == b'{"data":{"__typename":"Query"}}'


async def test_refuses_a_client_that_accepts_no_json_with_406(
    edge: PairFactory, world: World
) -> None:
    async with edge() as pair:
        response = await pair.post(TYPENAME, headers=headers("text/html"))
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        (f"{JSON}; charset=utf-8", 200),
        (f"{JSON}; charset=UTF-8", 200),
        (f"{JSON}; charset=latin-1", 415),
        (None, 415),
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("multipart/form-data; boundary=x", 415),
    ],
)
async def test_posts_are_utf8_json(
    edge: PairFactory, world: World, content_type: str | None, status: int
) -> None:
    async with edge() as pair:
        response = await pair.post(
            content=orjson.dumps(TYPENAME), headers=headers(GQLR, content_type)
        )
    assert response.status_code == status
    if status == 415:
        assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize("accept", [GQLR, JSON])
@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{ "not a JSON',
        b"[]",
        b'"just a string"',
        orjson.dumps({"notquery": "{ __typename }"}),
        orjson.dumps({"qeury": "{ __typename }"}),
        *(orjson.dumps({"query": bad}) for bad in ({"obj": "ect"}, 0, False, ["array"])),
        *(
            orjson.dumps({**TYPENAME, "operationName": bad})
            for bad in ({"obj": "ect"}, 0, False, ["array"])
        ),
        *(
            orjson.dumps({**TYPENAME, name: bad})
            for name in ("variables", "extensions")
            for bad in ("string", 0, False, ["array"])
        ),
        orjson.dumps({"query": "{"}),
        orjson.dumps({"query": "{ 8f31403dfe404bccbb0e835f2629c6a7 }"}),
        orjson.dumps({"query": "{ __typename }", "operationName": "Missing"}),
        orjson.dumps({"query": "query($n: Int) { __typename }", "variables": {"n": "x"}}),
        orjson.dumps({"query": "subscription { leadEvents { eventId } }"}),
    ],
)
async def test_request_errors_have_the_status_of_their_media_type(
    edge: PairFactory, world: World, accept: str, body: bytes
) -> None:
    async with edge() as pair:
        response = await pair.post(content=body, headers=headers(accept))
    assert_request_error(response, accept)


@pytest.mark.parametrize("accept", [GQLR, JSON])
@pytest.mark.parametrize(
    "body",
    [
        {**TYPENAME, "variables": None, "operationName": None, "extensions": None},
        {**TYPENAME, "extensions": {"some": "value"}},
        {"query": "query Query { __typename }", "operationName": "Query"},
        {
            "query": "query Type($name: String!) { __type(name: $name) { name } }",
            "variables": {"name": "sometype"},
        },
    ],
)
async def test_well_formed_parameters_are_executed(
    edge: PairFactory, world: World, accept: str, body: dict[str, Any]
) -> None:
    async with edge() as pair:
        response = await pair.post(body, headers=headers(accept))
    assert response.status_code == 200
    assert "errors" not in response.json()


async def test_a_field_error_keeps_200_and_its_data_entry_in_both_media_types(
    edge: PairFactory, world: World, settings: Any
) -> None:
    token = issue_token(settings, world.contoso.referrals_admin)
    query = '{ viewer { roles } leads(tab: MARKETPLACE, after: "") { totalCount } }'
    async with edge() as pair:
        for accept in (GQLR, JSON):
            response = await pair.post(
                {"query": query},
                headers={**headers(accept), "authorization": f"Bearer {token}"},
            )
            body = response.json()
            assert response.status_code == 200
            assert "data" in body
            assert body["errors"][0]["path"] == ["leads"]


async def test_get_runs_queries_only(edge: PairFactory, world: World) -> None:
    async with edge() as pair:
        ok = await pair.request(
            "GET",
            params={
                "query": "query Type($name: String!) { __type(name: $name) { name } }",
                "variables": orjson.dumps({"name": "sometype"}).decode(),
            },
        )
        assert ok.status_code == 200 and ok.json() == {"data": {"__type": None}}
        assert (await pair.request("GET", params=TYPENAME)).status_code == 200
        mutation = await pair.request(
            "GET", params={"query": "mutation { __typename }"}, headers={"accept": GQLR}
        )
        assert mutation.status_code == 405
        assert mutation.headers["allow"] == "POST"
        bad = await pair.request(
            "GET", params={"qeury": "{ __typename }"}, headers={"accept": GQLR}
        )
        assert bad.status_code == 400


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_get_405(edge: PairFactory, world: World, method: str) -> None:
    async with edge() as pair:
        response = await pair.request(method, json=TYPENAME)
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_options_without_cors_names_the_methods(edge: PairFactory, world: World) -> None:
    async with edge() as pair:
        response = await pair.request("OPTIONS")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, POST, OPTIONS"
