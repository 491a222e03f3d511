"""hypothesis-graphql fuzzing over the whole schema (schema.graphql), over HTTP against the app in
production posture, anonymously and as a partner admin: valid documents (POSITIVE) and documents
with wrong values (NEGATIVE), queries and mutations.

Whatever is sent: never a 5xx other than the deadline's typed 504, never internals in a message,
and every error carries `extensions.code`. Queries go to both execution paths, which must answer
alike; mutations to the compiled app only (a second run would see the first one's writes).
Requests commit, each on its own pooled connection, as in production.

Examples are drawn deterministically (derandomize) before any request is sent: hypothesis drives
generation only, so the async app runs in the test's own event loop. `make test` sends 70 per
test (8 tests: 560); `make fuzz` sets FUZZ_EXAMPLES for many more."""

from __future__ import annotations

import os
import re
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from app.config import PROJECT_ROOT, Settings
from app.services.auth import issue_token
from tests.edge.conftest import PRODUCTION
from tests.factories import World, WorldPartner
from tests.security.conftest import ProductionFactory

SCHEMA = (PROJECT_ROOT / "schema.graphql").read_text()
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "70"))
LEAKS = re.compile(r"Traceback|File \"|asyncpg|sqlalchemy|psycopg|\bline \d+", re.I)
SCALARS = {
    "Date": st.dates().map(nodes.String),
    "DateTime": st.datetimes().map(lambda d: nodes.String(d.isoformat())),
    "Decimal": st.decimals(allow_nan=False, allow_infinity=False, places=2).map(nodes.String),
    "JSON": st.text(max_size=20).map(nodes.String),
}


def _documents(kind: Any, mode: Mode, count: int) -> list[str]:
    drawn: list[str] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    # NUL bytes included: Postgres text cannot hold them, so they must be refused in our words.
    @given(kind(SCHEMA, custom_scalars=SCALARS, mode=mode, allow_x00=True))
    def draw(document: str) -> None:
        drawn.append(document)

    draw()
    return drawn


def _check(document: str, response: httpx.Response) -> None:
    assert response.status_code < 500 or response.status_code == 504, (document, response.text)
    body = response.json()
    assert isinstance(body, dict), (document, body)
    for error in body.get("errors", []):
        code = error.get("extensions", {}).get("code")
        assert code, (document, error)
        if response.status_code == 504:
            assert code == "TIMEOUT", (document, error)
        assert code != "INTERNAL", (document, error)
        assert not LEAKS.search(error["message"]), (document, error)


def _headers(settings_: Settings, user: uuid.UUID | None) -> dict[str, str]:
    if user is None:
        return {}
    production = settings_.model_copy(update=PRODUCTION)
    return {"authorization": f"Bearer {issue_token(production, user)}"}


def _clients() -> dict[str, tuple[str, int]]:
    """Addresses of their own: the fuzzer trips rate limits that other tests must not inherit.
    One per path (198.18 and 198.19, same host part): each spends its own public-read budget,
    so both run out on the same document (a shared budget can run out between the two requests
    of a pair)."""
    host = f"{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"
    return {"client": (f"198.18.{host}", 4000), "strawberry_client": (f"198.19.{host}", 4000)}


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "partner_admin"])
@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
async def test_fuzzed_queries_answer_typed_errors_only(
    production: ProductionFactory,
    world: World,
    settings: Settings,
    mode: Mode,
    signed_in: bool,
) -> None:
    headers = _headers(settings, world.contoso.partner_admin if signed_in else None)
    async with production(committed=True, **_clients()) as pair:
        for document in _documents(queries, mode, EXAMPLES):
            got = await pair.compiled.post("/graphql", json={"query": document}, headers=headers)
            want = await pair.strawberry.post("/graphql", json={"query": document}, headers=headers)
            _check(document, got)
            _check(document, want)
            assert _alike(got, want), (document, got.text, want.text)


def _alike(got: httpx.Response, want: httpx.Response) -> bool:
    """Both paths answered alike. When several sibling fields fail and one failure nulls the
    whole `data`, which failure gets there first is a race between fields graphql-core runs
    concurrently: such answers agree on their error codes, not on which error won."""
    if (got.status_code, got.headers.get("content-type")) != (
        want.status_code,
        want.headers.get("content-type"),
    ):
        return False
    a, b = got.json(), want.json()
    if a == b:
        return True
    raced = a.get("data") is None and b.get("data") is None and a.get("errors") and b.get("errors")
    return bool(raced) and _codes(a) == _codes(b)


def _codes(body: dict[str, Any]) -> set[str]:
    return {error["extensions"]["code"] for error in body["errors"]}


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "partner_admin"])
@pytest.mark.parametrize("mode", [Mode.POSITIVE, Mode.NEGATIVE], ids=["valid", "invalid"])
async def test_fuzzed_mutations_answer_typed_errors_only(
    production: ProductionFactory,
    throwaway_partner: WorldPartner,
    settings: Settings,
    mode: Mode,
    signed_in: bool,
) -> None:
    """As the admin of a partner of its own: the writes commit, and must not change the demo
    world the other tests share."""
    headers = _headers(settings, throwaway_partner.partner_admin if signed_in else None)
    async with production(committed=True, **_clients()) as pair:
        for document in _documents(mutations, mode, EXAMPLES):
            response = await pair.compiled.post(
                "/graphql", json={"query": document}, headers=headers
            )
            _check(document, response)
