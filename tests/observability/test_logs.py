"""Issue 12, section 1: request ids, and log lines that carry them (JSON as in production)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from app.config import Settings
from app.observability.logs import configure_logging
from app.services.auth import issue_token
from tests.factories import World

WEBHOOKS = "query Hooks { webhookEndpoints { id } }"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The process's logging as production sets it up, into a buffer; put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging(json=True, level="INFO", stream=buffer)
    # pytest's capture handler (caplog) stays: only the formatting handler is ours.
    for handler in handlers:
        if type(handler).__module__.startswith("_pytest"):
            root.addHandler(handler)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        structlog.reset_defaults()


def _lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


async def test_the_request_id_comes_back(http: httpx.AsyncClient) -> None:
    sent = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "abc-123:7"}
    )
    assert sent.headers["x-request-id"] == "abc-123:7"
    made = await http.get("/healthz")
    assert made.json() == {"status": "ok"}
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    for insane in ("a" * 129, "two words", "semi;colon"):
        replaced = await http.get("/healthz", headers={"X-Request-ID": insane})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"]), insane


async def test_every_line_of_a_request_carries_its_id_actor_and_operation(
    http: httpx.AsyncClient, settings: Settings, world: World, json_lines: io.StringIO
) -> None:
    token = issue_token(settings, world.contoso.referrals_admin)
    response = await http.post(
        "/graphql",
        json={"query": WEBHOOKS},
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-ok-1"},
    )
    assert response.status_code == 200
    refused = await http.post(
        "/graphql",
        json={"query": WEBHOOKS},
        headers={"Authorization": "Bearer not-a-token", "X-Request-ID": "req-401-1"},
    )
    assert refused.status_code == 401

    lines = _lines(json_lines)
    ok = [line for line in lines if line.get("request_id") == "req-ok-1"]
    (access,) = [line for line in ok if line["logger"] == "partner_leads.access"]
    assert access["level"] == "info"
    assert access["status"] == 200 and access["method"] == "POST" and access["route"] == "/graphql"
    assert access["operation"] == "Hooks" and access["execution_path"] == "general"
    assert access["user_id"] == str(world.contoso.referrals_admin)
    assert access["organisation_id"] == str(world.contoso.organisation_id)
    assert access["duration_ms"] > 0 and access["timestamp"].endswith("Z")
    # Ids, never an e-mail address.
    assert "@" not in json.dumps(ok)

    failed = [line for line in lines if line.get("request_id") == "req-401-1"]
    loggers = {line["logger"]: line for line in failed}
    assert loggers["app.graphql.view"]["event"].startswith("UNAUTHENTICATED")
    assert loggers["app.graphql.view"]["level"] == "info"
    assert "exception" not in loggers["app.graphql.view"]
    assert loggers["partner_leads.access"]["status"] == 401
    assert "user_id" not in loggers["partner_leads.access"]


def test_a_bug_keeps_its_traceback_on_one_json_line(json_lines: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="req-bug")
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logging.getLogger("app.graphql.errors").exception("a resolver failed")
    finally:
        structlog.contextvars.clear_contextvars()
    (line,) = _lines(json_lines)
    assert line["level"] == "error" and line["request_id"] == "req-bug"
    assert "Traceback" in line["exception"] and "RuntimeError: boom" in line["exception"]
