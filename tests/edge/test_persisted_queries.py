"""Automatic persisted queries, as Apollo's clients speak them: a hash alone is unknown until the
client sends the document with it; then the hash alone is enough — in every API process, since
the documents are shared through Redis."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from app.config import Settings
from app.services.auth import issue_token
from tests.edge.conftest import PairFactory
from tests.factories import World


def _document() -> str:
    # A document no earlier test registered: Redis outlives each test.
    return f"query Viewer {{ viewer {{ roles organisation {{ slug }} }} }} # {uuid.uuid4()}"


def _extensions(document: str, version: int = 1) -> dict[str, Any]:
    sha = hashlib.sha256(document.encode()).hexdigest()
    return {"persistedQuery": {"version": version, "sha256Hash": sha}}


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_a_hash_stands_for_its_document_once_registered(
    edge: PairFactory, settings: Settings, world: World
) -> None:
    document = _document()
    token = issue_token(settings, world.contoso.referrals_admin)
    auth = {"authorization": f"Bearer {token}"}
    async with edge() as pair:
        unknown = await pair.post({"extensions": _extensions(document)}, headers=auth)
        assert unknown.status_code == 200
        assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
        assert _codes(unknown.json()) == ["PERSISTED_QUERY_NOT_FOUND"]

        registered = await pair.post(
            {"query": document, "extensions": _extensions(document)}, headers=auth
        )
        expected = {"viewer": {"roles": ["REFERRALS_ADMIN"], "organisation": {"slug": "contoso"}}}
        assert registered.json() == {"data": expected}

        by_hash = await pair.post({"extensions": _extensions(document)}, headers=auth)
        assert by_hash.json() == {"data": expected}

        # Over GET too (on where GET is: dev and test), with extensions as JSON.
        got = await pair.request(
            "GET",
            params={"extensions": json.dumps(_extensions(document))},
            headers=auth,
        )
        assert got.json() == {"data": expected}


async def test_another_process_knows_the_hash_from_redis(
    edge: PairFactory, settings: Settings, world: World
) -> None:
    document = _document()
    auth = {"authorization": f"Bearer {issue_token(settings, world.contoso.referrals_admin)}"}
    async with edge() as pair:
        # Registered with one app (one process's memory), asked of the other.
        first = await pair.compiled.post(
            "/graphql", json={"query": document, "extensions": _extensions(document)}, headers=auth
        )
        assert "errors" not in first.json()
        other = await pair.strawberry.post(
            "/graphql", json={"extensions": _extensions(document)}, headers=auth
        )
        assert other.json() == first.json()


async def test_bad_persisted_queries_get_typed_errors(edge: PairFactory) -> None:
    document = _document()
    mismatched = _extensions(_document())  # the hash of another document
    bad_hash = {"persistedQuery": {"version": 1, "sha256Hash": "ABC"}}
    cases = [
        ({"query": document, "extensions": mismatched}, "PERSISTED_QUERY_MISMATCH"),
        ({"extensions": _extensions(document, version=2)}, "PERSISTED_QUERY_NOT_SUPPORTED"),
        ({"extensions": {"persistedQuery": "abc"}}, "PERSISTED_QUERY_NOT_SUPPORTED"),
        ({"extensions": bad_hash}, "PERSISTED_QUERY_INVALID"),
    ]
    async with edge() as pair:
        for body, code in cases:
            response = await pair.post(body)
            assert (response.status_code, _codes(response.json())) == (200, [code]), body
            assert "data" not in response.json()
            strict = await pair.post(body, headers={"accept": "application/graphql-response+json"})
            assert strict.status_code == 400, body
        # A mismatched pair registered nothing: the hash it named is still unknown.
        again = await pair.post({"extensions": mismatched})
        assert _codes(again.json()) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_switched_off_a_hash_alone_is_a_request_without_a_query(
    edge: PairFactory,
) -> None:
    document = _document()
    async with edge(persisted_queries=False) as pair:
        await pair.post({"query": document, "extensions": _extensions(document)})
        response = await pair.post({"extensions": _extensions(document)})
    assert _codes(response.json()) == ["BAD_REQUEST"]
    assert response.json()["errors"][0]["message"] == "the request has no 'query'"
