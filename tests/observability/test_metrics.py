"""Issue 12, section 1: the API's /metrics, over the ASGI app with the test's database."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.main import create_app
from app.observability import metrics
from app.services.auth import issue_token
from tests.factories import World
from tests.graphql_client import asgi_client
from tests.observability.conftest import delta, parse, scrape, value

LATENCY_COUNT = "partner_leads_graphql_request_duration_seconds_count"
ERRORS = "partner_leads_graphql_errors_total"
POOL = "partner_leads_db_pool_connections_in_use"

VIEWER = "query ViewerOrg { viewer { organisation { name } } }"
WEBHOOKS = "query Hooks { webhookEndpoints { id } }"
ACCEPT_MISSING = """
mutation AcceptMissing($id: ID!) {
  acceptLead(input: {id: $id, dealName: "x", estimatedPurchaseDate: "2027-01-31",
                     estimatedValue: {amount: "1", currency: "USD"}}) {
    lead { id } errors { code }
  }
}"""


def _bearer(settings: Settings, user: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user)}"}


async def test_requests_are_counted_by_operation_and_execution_path(
    http: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    headers = _bearer(settings, world.contoso.referrals_admin)
    before = await scrape(http)
    compiled = await http.post("/graphql", json={"query": VIEWER}, headers=headers)
    assert compiled.headers.get("x-execution-path") == "compiled", compiled.text
    for _ in range(2):
        general = await http.post("/graphql", json={"query": WEBHOOKS}, headers=headers)
        assert "x-execution-path" not in general.headers and "errors" not in general.json()
    anonymous = await http.post(
        "/graphql", json={"query": "{ webhookEndpoints { id } }"}, headers=headers
    )
    assert "x-execution-path" not in anonymous.headers and "errors" not in anonymous.json()
    after = await scrape(http)

    assert delta(before, after, LATENCY_COUNT, operation="ViewerOrg", path="compiled") == 1
    assert delta(before, after, LATENCY_COUNT, operation="Hooks", path="general") == 2
    assert delta(before, after, LATENCY_COUNT, operation="(anonymous)", path="general") == 1
    assert (
        delta(before, after, "partner_leads_http_requests_total", route="/graphql", status="200")
        == 4
    )
    # The histogram's sum is the requests' time: more than nothing, less than the test took.
    seconds = delta(
        before,
        after,
        "partner_leads_graphql_request_duration_seconds_sum",
        operation="Hooks",
        path="general",
    )
    assert 0 < seconds < 10


async def test_errors_are_counted_by_code(
    http: httpx.AsyncClient, settings: Settings, world: World
) -> None:
    before = await scrape(http)
    bad_token = await http.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Bearer nonsense"}
    )
    assert bad_token.status_code == 401
    unknown_field = await http.post("/graphql", json={"query": "query Typo { nope }"})
    assert unknown_field.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
    not_json = await http.post(
        "/graphql", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    refused = await http.post(
        "/graphql",
        json={"query": ACCEPT_MISSING, "variables": {"id": str(uuid.uuid4())}},
        headers=_bearer(settings, world.contoso.referrals_admin),
    )
    codes = refused.json()["data"]["acceptLead"]["errors"]
    assert codes == [{"code": "NOT_FOUND"}]
    after = await scrape(http)

    assert delta(before, after, ERRORS, code="UNAUTHENTICATED", kind="graphql") == 1
    assert delta(before, after, ERRORS, code="VALIDATION", kind="graphql") == 1
    assert delta(before, after, ERRORS, code="BAD_REQUEST", kind="graphql") == 1
    assert delta(before, after, ERRORS, code="NOT_FOUND", kind="payload") == 1
    # A document that did not validate names no operation: the client chose "Typo".
    assert delta(before, after, LATENCY_COUNT, operation="Typo", path="general") == 0
    assert delta(before, after, LATENCY_COUNT, operation="(none)", path="general") == 3
    assert delta(before, after, LATENCY_COUNT, operation="AcceptMissing", path="compiled") == 1


def test_operation_names_are_capped() -> None:
    names = metrics.OperationNames(limit=2)
    assert [names.label(n) for n in ("A", "B", "C", "A", None)] == [
        "A",
        "B",
        "(other)",
        "A",
        "(anonymous)",
    ]


async def test_pool_gauges_read_the_pools_when_scraped(
    settings: Settings, app_engine: AsyncEngine, world: World
) -> None:
    # The API with pools of its own (no test connection): SQLAlchemy's and the read pools.
    app = create_app(settings)
    async with asgi_client(app) as http:
        response = await http.post("/graphql", json={"query": "{ __typename }"})
        assert response.status_code == 200
        samples = await scrape(http)
        for pool in ("engine", "reads", "searches"):
            assert (POOL, (("pool", pool),)) in samples, pool

        # A pool held by someone: in use while held, not after.
        pool_name = f"test-{uuid.uuid4().hex[:6]}"
        metrics.POOLS.add(app_engine, {pool_name: app_engine.sync_engine.pool.checkedout})
        try:
            async with app_engine.connect():
                assert value(await scrape(http), POOL, pool=pool_name) == 1
            assert value(await scrape(http), POOL, pool=pool_name) == 0
        finally:
            metrics.POOLS.remove(app_engine)


async def test_metrics_are_for_loopback_or_the_token(settings: Settings, world: World) -> None:
    app = create_app(settings.model_copy(update={"metrics_token": "s3cret-scrape-token"}))
    async with app.router.lifespan_context(app):
        outside = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=outside, base_url="http://api") as http:
            refused = await http.get("/metrics")
            assert refused.status_code == 403
            assert "partner_leads" not in refused.text
            wrong = await http.get("/metrics", headers={"Authorization": "Bearer guess"})
            assert wrong.status_code == 403
            allowed = await http.get(
                "/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"}
            )
            assert allowed.status_code == 200
            assert "partner_leads_graphql_request_duration_seconds" in allowed.text
            assert parse(allowed.text)


async def test_refused_costs_are_counted(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    app = create_app(settings.model_copy(update={"max_query_cost": 4}), sessionmaker=sessionmaker)
    async with asgi_client(app) as http:
        before = await scrape(http)
        response = await http.post(
            "/graphql",
            json={"query": "query Big { viewer { roles organisation { name slug } } }"},  # costs 5
            headers=_bearer(settings, world.contoso.referrals_admin),
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
        after = await scrape(http)
    assert delta(before, after, ERRORS, code="QUERY_TOO_COSTLY", kind="graphql") == 1


def test_a_multiprocess_dir_starts_empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Recorded by monkeypatch, so the variable it sets is undone after the test.
    monkeypatch.setenv(metrics.MULTIPROC_ENV, "")
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"stale")
    (folder / "keep.txt").write_text("not ours")
    metrics.prepare_multiprocess_dir(folder)
    assert os.environ[metrics.MULTIPROC_ENV] == str(folder)
    assert [p.name for p in folder.iterdir()] == ["keep.txt"]
