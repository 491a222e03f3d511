"""graphql-cop's checks (github.com/dolevf/graphql-cop), one test each, against the app in
production posture over HTTP, on both execution paths (`Pair` compares their answers).

Each test sends what the tool sends and asserts the answer the tool would not flag, plus what
we promise beyond it (a typed code, no internals)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from app.config import Settings
from app.services.auth import issue_token
from tests.edge.conftest import PRODUCTION, PairFactory
from tests.factories import World

GRAPHQL_RESPONSE = "application/graphql-response+json"
INTERNALS = re.compile(
    r"Traceback|File \"|asyncpg|sqlalchemy|psycopg|strawberry|graphql\.|line \d+", re.I
)
MUTATION = 'mutation cop { setLeadFavorite(input: {id: "x", favorite: true}) { errors { code } } }'


def _errors(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    assert "errors" in body, body
    for error in body["errors"]:
        assert error["extensions"]["code"], error
        assert not INTERNALS.search(error["message"]), error
    return list(body["errors"])


def _codes(response: httpx.Response) -> set[str]:
    return {e["extensions"]["code"] for e in _errors(response)}


async def test_alias_overloading(edge: PairFactory, world: World) -> None:
    aliases = " ".join(f"alias{i}: __typename" for i in range(101))
    async with edge(**PRODUCTION) as pair:
        response = await pair.post({"query": f"query cop {{ {aliases} }}"})
    assert response.json()["data"] is None
    assert _codes(response) == {"QUERY_TOO_COMPLEX"}
    assert "101 aliases" in response.json()["errors"][0]["message"]


async def test_batch_queries(edge: PairFactory, world: World) -> None:
    """An array body would run many operations for the price of one request: refused."""
    batch = [{"query": "query cop { __typename }"}] * 10
    async with edge(**PRODUCTION) as pair:
        response = await pair.post(batch, headers={"accept": GRAPHQL_RESPONSE})
    assert response.status_code == 400
    assert not isinstance(response.json(), list)
    assert _codes(response) == {"BAD_REQUEST"}


async def test_directive_overloading(edge: PairFactory, world: World) -> None:
    """graphql-cop flags a server that reports each of ten duplicated directives: it processed
    them all. Ours refuses the field's directives as a whole, with one error."""
    async with edge(**PRODUCTION) as pair:
        for count in (10, 2000):
            response = await pair.post(
                {"query": "query cop { __typename " + "@aa" * count + " }"},
                headers={"accept": GRAPHQL_RESPONSE},
            )
            assert response.status_code == 400
            assert _codes(response) == {"QUERY_TOO_COMPLEX"}
            assert len(response.json()["errors"]) == 1
        # Ordinary use of the standard directives still works.
        ok = await pair.post(
            {"query": "{ a: __typename @include(if: true) @skip(if: false) b: __typename }"}
        )
    assert ok.json() == {"data": {"a": "Query", "b": "Query"}}


async def test_circular_query_using_introspection(edge: PairFactory, world: World) -> None:
    circular = (
        "query cop { __schema { types { fields { type { fields { type { fields { type "
        "{ fields { type { name } } } } } } } } } } }"
    )
    async with edge(**PRODUCTION) as pair:
        response = await pair.post({"query": circular})
    assert response.json()["data"] is None
    assert _codes(response) <= {"VALIDATION", "QUERY_TOO_COMPLEX"}


async def test_field_duplication(edge: PairFactory, world: World) -> None:
    fields = "\n".join(["__typename"] * 500)
    async with edge(**PRODUCTION) as pair:
        response = await pair.post({"query": f"query cop {{ {fields} }}"})
    assert response.json()["data"] is None
    assert _codes(response) == {"QUERY_TOO_COMPLEX"}


async def test_field_suggestions(edge: PairFactory, world: World) -> None:
    async with edge(**PRODUCTION) as pair:
        response = await pair.post({"query": "query cop { __schema { directive } }"})
        typo = await pair.post({"query": "query cop { leadCount { tab } }"})
    for answer in (response, typo):
        assert not any("Did you mean" in e["message"] for e in _errors(answer))
        assert _codes(answer) == {"VALIDATION"}


async def test_get_based_queries_csrf(edge: PairFactory, world: World) -> None:
    async with edge(**PRODUCTION) as pair:
        response = await pair.request("GET", params={"query": "query cop { __typename }"})
    assert response.status_code == 405
    assert "data" not in response.json()
    assert _codes(response) == {"METHOD_NOT_ALLOWED"}


async def test_get_based_mutation_csrf(edge: PairFactory, world: World, settings: Settings) -> None:
    """Even where GET is enabled (and with a browser's credentials), a mutation never runs."""
    token = issue_token(settings.model_copy(update=PRODUCTION), world.contoso.referrals_admin)
    auth = {"authorization": f"Bearer {token}"}
    for overrides in (PRODUCTION, {**PRODUCTION, "graphql_get": True}):
        async with edge(**overrides) as pair:
            response = await pair.request("GET", params={"query": MUTATION}, headers=auth)
        assert response.status_code == 405
        assert "data" not in response.json()
        assert _codes(response) == {"METHOD_NOT_ALLOWED"}


async def test_post_based_url_encoded_query_csrf(
    edge: PairFactory, world: World, settings: Settings
) -> None:
    """A form can POST across origins without a preflight: only application/json is read."""
    token = issue_token(settings.model_copy(update=PRODUCTION), world.contoso.referrals_admin)
    async with edge(**PRODUCTION) as pair:
        for query in ("query cop { __typename }", MUTATION):
            for content_type in ("application/x-www-form-urlencoded", "text/plain"):
                body = (
                    f"query={query}"
                    if "urlencoded" in content_type
                    else json.dumps({"query": query})
                )
                response = await pair.request(
                    "POST",
                    content=body,
                    headers={"content-type": content_type, "authorization": f"Bearer {token}"},
                )
                assert response.status_code == 415
                assert "data" not in response.json()
                assert _codes(response) == {"UNSUPPORTED_MEDIA_TYPE"}


async def test_graphql_ide_is_not_served(edge: PairFactory, world: World) -> None:
    async with edge(**PRODUCTION) as pair:
        for path in ("/graphql", "/graphiql", "/playground", "/graphql/playground"):
            response = await pair.request("GET", path, headers={"accept": "text/html"})
            assert response.status_code in (404, 405, 406), path
            assert "graphiql" not in response.text.lower(), path
            assert "<html" not in response.text.lower(), path
        # `/` is the reference SPA (issue 12: served in every environment), not an IDE: it
        # names no GraphiQL or playground and may run only its own modules.
        page = await pair.request("GET", "/", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "graphiql" not in page.text.lower() and "playground" not in page.text.lower()
        assert "script-src 'self';" in page.headers["content-security-policy"]
    async with edge(**PRODUCTION, serve_web_ui=False) as pair:
        response = await pair.request("GET", "/", headers={"accept": "text/html"})
        assert response.status_code == 404
        assert "<html" not in response.text.lower()


async def test_introspection(edge: PairFactory, world: World) -> None:
    async with edge(**PRODUCTION) as pair:
        response = await pair.post({"query": "query cop { __schema { types { name } } }"})
        typed = await pair.post({"query": 'query cop { __type(name: "Lead") { fields { name } } }'})
    for answer in (response, typed):
        assert answer.json()["data"] is None
        assert _codes(answer) == {"VALIDATION"}


async def test_trace_mode(edge: PairFactory, world: World) -> None:
    """No tracing extensions (timings, resolver paths) in answers, even when asked for."""
    async with edge(**PRODUCTION) as pair:
        response = await pair.post(
            {"query": "query cop { __typename }", "extensions": {"tracing": True}},
            headers={"x-apollo-tracing": "1"},
        )
    body = response.json()
    assert body == {"data": {"__typename": "Query"}}


async def test_unhandled_errors_debug_mode(edge: PairFactory, world: World) -> None:
    """Malformed documents and requests are answered in our words: no stack trace, no
    exception class, no library internals, even with a debug header."""
    debug = {"x-debug": "1", "accept": GRAPHQL_RESPONSE}
    async with edge(**PRODUCTION) as pair:
        answers = [
            await pair.post({"query": "qwerty cop { abc }"}, headers=debug),
            await pair.post({"query": "query cop { __typename"}, headers=debug),
            await pair.post({"query": 17}, headers=debug),
            await pair.post({"query": "{ __typename }", "variables": "x"}, headers=debug),
            await pair.request(
                "POST", content=b"{not json", headers={**debug, "content-type": "application/json"}
            ),
            await pair.post(
                {"query": "query cop($id: ID!) { lead(id: $id) { id } }", "variables": {}},
                headers=debug,
            ),
        ]
    for response in answers:
        assert response.status_code == 400, response.text
        assert "data" not in response.json()
        assert _codes(response) <= {"VALIDATION", "BAD_REQUEST"}
        assert "exception" not in json.dumps(response.json()).lower()
