"""Signed webhook deliveries to a real HTTP receiver on 127.0.0.1 (Standard Webhooks): the
signature, rotation, and what each kind of failure means for a retry."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from app.config import Settings
from app.db.models import WebhookEndpoint
from app.notify.webhook_sender import no_answer, post_event
from app.services import webhooks
from app.services.auth import Actor
from app.services.errors import Refused
from tests.notify.webhook_support import closed_port, create, send
from tests.receivers import WebhookReceiver


@pytest.fixture
async def endpoint(
    session: AsyncSession, settings: Settings, admin: Actor, receiver: WebhookReceiver
) -> WebhookEndpoint:
    """An endpoint at the receiver, which knows its secret as "current"."""
    endpoint, secret = await create(session, settings, admin, url=receiver.url())
    receiver.secret = secret
    return endpoint


async def test_post_event_is_signed_per_standard_webhooks(
    session: AsyncSession,
    settings: Settings,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    endpoint, secret = await create(session, settings, admin, url=receiver.url("/in?src=pl"))
    receiver.secrets = {"current": secret, "stranger": webhooks.new_secret()}
    payload = {"leadId": str(uuid.uuid4()), "note": "café ✓", "n": 3}
    before = datetime.now(UTC)

    result = await post_event(
        http,
        endpoint,
        message_id="evt_42",
        event_type="lead.won",
        payload=payload,
        now=before,
        timeout=5,
        allow_private=True,
        occurred_at=datetime(2026, 12, 1, 8, 30, tzinfo=UTC),
    )

    assert result.ok and result.status_code == 200 and result.error is None
    assert result.duration_ms >= 0
    [request] = receiver.requests
    assert (request.method, request.target) == ("POST", "/in?src=pl")
    assert request.verified_by == ["current"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "evt_42"
    assert request.headers["webhook-timestamp"] == str(int(before.timestamp()))
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert request.headers["webhook-signature"].startswith("v1,")
    assert json.loads(request.body) == {
        "type": "lead.won",
        "timestamp": "2026-12-01T08:30:00Z",
        "data": payload,
    }
    # What the library hands a receiver after verifying is the same document.
    assert Webhook(secret).verify(request.body, request.headers) == json.loads(request.body)


async def test_during_rotation_both_secrets_verify(
    session: AsyncSession,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
) -> None:
    old = endpoint.secret
    rotated = await webhooks.rotate_secret(session, admin, str(endpoint.id), now=datetime.now(UTC))
    assert not isinstance(rotated, Refused)
    endpoint, new = rotated
    receiver.secrets = {"old": old, "new": new}

    assert (await send(http, endpoint)).ok
    signatures = receiver.requests[-1].headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    assert receiver.requests[-1].verified_by == ["old", "new"]
    # A receiver that knows only one of them verifies too.
    for secret in (old, new):
        Webhook(secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)

    # Once the grace period is over, only the new secret signs.
    endpoint.previous_secret_expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert (await send(http, endpoint)).ok
    assert len(receiver.requests[-1].headers["webhook-signature"].split(" ")) == 1
    assert receiver.requests[-1].verified_by == ["new"]


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        *((status, True) for status in (400, 401, 404, 408, 409, 422, 429, 500, 502, 503)),
        (410, False),  # Gone: the receiver says the endpoint no longer exists
        (302, True),  # a redirect is not followed: it is a failed answer like any other
    ],
)
async def test_a_failed_answer_says_whether_to_retry(
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    status: int,
    retryable: bool,
) -> None:
    receiver.statuses = [status]

    result = await send(http, endpoint)

    assert (result.ok, result.status_code, result.retryable) == (False, status, retryable)
    assert result.error == f"HTTP {status}: receiver says {status}"
    assert [r.target for r in receiver.requests] == ["/hooks"]  # sent once, nowhere else


async def test_a_closed_port_is_a_retryable_network_error(
    session: AsyncSession, settings: Settings, admin: Actor, http: httpx.AsyncClient
) -> None:
    endpoint, _ = await create(
        session, settings, admin, url=f"http://127.0.0.1:{closed_port()}/hooks"
    )

    result = await send(http, endpoint)

    assert (result.ok, result.status_code, result.retryable) == (False, None, True)
    # The same words as a timeout or a refused address: nothing tells a closed port apart.
    assert result.error == no_answer(5.0)


async def test_a_slow_receiver_times_out(
    receiver: WebhookReceiver, http: httpx.AsyncClient, endpoint: WebhookEndpoint
) -> None:
    receiver.delay = 3.0  # a slow server, not a wait: the sender gives up first

    result = await send(http, endpoint, timeout=0.3)

    assert (result.ok, result.status_code, result.retryable) == (False, None, True)
    assert (
        result.error == no_answer(0.3) == "no answer within 0.3s: unreachable, refused or timed out"
    )
    assert 250 <= result.duration_ms < 2000


async def test_retries_carry_the_same_webhook_id(
    receiver: WebhookReceiver, http: httpx.AsyncClient, endpoint: WebhookEndpoint
) -> None:
    receiver.statuses = [500, 503, 200]
    occurred = datetime.now(UTC) - timedelta(minutes=1)

    results = [
        await post_event(
            http,
            endpoint,
            message_id="evt_same",
            event_type="lead.received",
            payload={"leadId": "L-9"},
            now=datetime.now(UTC),
            timeout=5,
            allow_private=True,
            occurred_at=occurred,
        )
        for _ in range(3)
    ]

    assert [(r.ok, r.status_code) for r in results] == [(False, 500), (False, 503), (True, 200)]
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["evt_same"] * 3
    assert all(r.verified_by == ["current"] for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1  # the event itself does not change
