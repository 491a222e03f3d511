"""A GraphQL client over the ASGI app, as a given user; and the differential check that keeps
the compiled read path honest.

The `gql` fixture's client sends every query twice, at one frozen instant, on the same data:
to the app (which answers what it can compile) and to a twin app whose compiled path is off
(strawberry answers everything). The two responses must be equal, so every query the suite
sends is a differential test of the compiled path."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
    print_ast,
)
from starlette.applications import Starlette

from app.config import Settings
from app.services.auth import issue_token


@dataclass
class FrozenClock:
    """The apps' clock: frozen for the length of one compared pair of requests."""

    at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


@dataclass
class Differential:
    """The twin and what the comparisons saw."""

    twin: httpx.AsyncClient
    clock: FrozenClock
    compared: int = 0
    compiled: int = 0


# Across the session: how many queries were compared, and how many the compiled path answered.
TOTALS = {"compared": 0, "compiled": 0}


@asynccontextmanager
async def asgi_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client over the app, with its lifespan run (httpx's transport does not)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


def _differences(got: Any, want: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as `path: got != want` lines (the first few)."""
    if isinstance(got, dict) and isinstance(want, dict):
        keys = list(dict.fromkeys([*want, *got]))
        return [d for k in keys for d in _differences(got.get(k), want.get(k), f"{path}.{k}")][:10]
    if isinstance(got, list | tuple) and isinstance(want, list | tuple) and len(got) == len(want):
        return [
            d
            for i, (g, w) in enumerate(zip(got, want, strict=True))
            for d in _differences(g, w, f"{path}[{i}]")
        ][:10]
    return [] if got == want else [f"{path}: compiled {got!r} != strawberry {want!r}"]


def _lead_query(mutation: str) -> tuple[str, str | None] | None:
    """`lead(id: $id) { ... }` with the selection the mutation's payload asked of its lead (and
    the id the mutation acted on), or None when the payload asks for no lead or its id."""
    document = parse(mutation)
    [operation] = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    roots = operation.selection_set.selections
    if len(roots) != 1 or not isinstance(roots[0], FieldNode) or roots[0].selection_set is None:
        return None
    lead = next(
        (
            f
            for f in roots[0].selection_set.selections
            if isinstance(f, FieldNode) and f.name.value == "lead"
        ),
        None,
    )
    if lead is None or lead.selection_set is None or lead.alias is not None:
        return None
    if not any(
        isinstance(f, FieldNode) and f.name.value == "id" and f.alias is None
        for f in lead.selection_set.selections
    ):
        return None
    fragments = "\n".join(
        print_ast(d) for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    )
    return f"query($id: ID!) {{ lead(id: $id) {print_ast(lead.selection_set)} }}\n{fragments}", None


def _is_query(query: str) -> bool:
    try:
        document = parse(query)
    except GraphQLError:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return len(operations) == 1 and operations[0].operation is OperationType.QUERY


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient
    settings: Settings
    token: str | None = None
    last_status: int = 0
    differential: Differential | None = field(default=None, repr=False)

    def alone(self) -> GraphQLClient:
        """This client without its twin (to count the statements one answer costs)."""
        return GraphQLClient(self.http, self.settings, self.token)

    def as_user(self, user_id: uuid.UUID | None) -> GraphQLClient:
        token = issue_token(self.settings, user_id) if user_id else None
        return GraphQLClient(self.http, self.settings, token, differential=self.differential)

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if self.token and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.token}"
        body = {"query": query, "variables": variables or {}}
        diff = self.differential
        if diff is None:
            return await self.http.post("/graphql", json=body, headers=sent)
        if not _is_query(query):
            return await self._mutation(diff, query, body, sent)
        diff.clock.at = datetime.now(UTC)
        try:
            response = await self.http.post("/graphql", json=body, headers=sent)
            expected = await diff.twin.post("/graphql", json=body, headers=sent)
        finally:
            diff.clock.at = None
        got, want = (response.status_code, response.json()), (expected.status_code, expected.json())
        assert got == want, (
            f"the compiled path and strawberry disagree on:\n{query}\n{variables}\n"
            + "\n".join(_differences(got, want))
        )
        compiled = response.headers.get("x-execution-path") == "compiled"
        diff.compared += 1
        diff.compiled += compiled
        TOTALS["compared"] += 1
        TOTALS["compiled"] += compiled
        return response

    async def _mutation(
        self, diff: Differential, query: str, body: dict[str, Any], headers: dict[str, str]
    ) -> httpx.Response:
        """A mutation runs once; when the compiled path answered it, the lead in its payload
        must be what strawberry answers for the same selection right after."""
        diff.clock.at = datetime.now(UTC)
        try:
            response = await self.http.post("/graphql", json=body, headers=headers)
            check = _lead_query(query)
            answer = response.json() if response.status_code == 200 else {}
            payload = next(iter((answer.get("data") or {}).values()), None)
            lead = payload.get("lead") if isinstance(payload, dict) else None
            if response.headers.get("x-execution-path") != "compiled" or check is None or not lead:
                return response
            variables = {"id": lead.get("id") or check[1]}
            expected = await diff.twin.post(
                "/graphql", json={"query": check[0], "variables": variables}, headers=headers
            )
        finally:
            diff.clock.at = None
        want = expected.json()["data"]["lead"]
        assert lead == want, (
            f"the compiled mutation's lead differs from strawberry's:\n{query}\n"
            + "\n".join(_differences(lead, want))
        )
        return response

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables)
        self.last_status = response.status_code
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result
