"""Webhook endpoints (R13): who may manage them, what URLs and events they take, secret rotation,
signed deliveries to a real HTTP receiver on 127.0.0.1, and the GraphQL layer through a schema
merged here the way app/graphql/schema.py merges it."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from strawberry.tools import merge_types

from app.config import AppEnv, Settings
from app.db.models import Delivery, DeliveryAttempt, OutboxMessage, WebhookEndpoint
from app.graphql.context import Context
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.webhooks import WebhookMutation, WebhookQuery
from app.services import webhooks
from app.services.auth import Actor, load_actor
from app.services.errors import Refused
from app.services.webhooks import PostResult, post_event
from tests.factories import World, make_lead, make_partner

SECRET_SHAPE = re.compile(r"^whsec_[A-Za-z0-9+/]{32}$")


# --- a real HTTP receiver -------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    verified_by: list[str]  # names of the receiver's secrets the signature verified with


@dataclass
class Receiver:
    """An HTTP/1.1 server on 127.0.0.1 that records every request, verifies it with
    `standardwebhooks.Webhook(secret).verify` against each secret it knows, and answers with
    the next configured status (the last one repeats)."""

    secrets: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _verify(self, body: bytes, headers: dict[str, str]) -> list[str]:
        ok = []
        for name, secret in self.secrets.items():
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            ok.append(name)
        return ok

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *lines = head.split("\r\n")
            method, target, _ = request_line.split(" ", 2)
            headers = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(
                Received(method, target, headers, body, self._verify(body, headers))
            )
            if self.delay:
                await asyncio.sleep(self.delay)
            index = min(len(self.requests), len(self.statuses)) - 1
            status = self.statuses[index]
            answer = b"ok" if status < 300 else f"receiver says {status}".encode()
            extra = "Location: /elsewhere\r\n" if 300 <= status < 400 else ""
            writer.write(
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n{extra}\r\n".encode()
                + answer
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # No proxies from the environment: the receiver is on this machine.
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- helpers --------------------------------------------------------------------------------------


async def actor_for(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    actor = await load_actor(session, user_id)
    assert actor is not None
    return actor


async def create(
    session: AsyncSession,
    settings: Settings,
    actor: Actor | None,
    url: str = "https://hooks.example.com/leads",
    events: list[str] | None = None,
) -> tuple[WebhookEndpoint, str]:
    result = await webhooks.create_endpoint(
        session, actor, url=url, events=events or ["lead.received"], settings=settings
    )
    assert not isinstance(result, Refused), result
    return result


def codes(result: object) -> list[tuple[str, list[str] | None]]:
    assert isinstance(result, Refused), result
    return [(e.code.value, list(e.field) if e.field else None) for e in result.errors]


async def endpoint_row(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    return (
        await session.execute(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()


async def send(
    http: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    *,
    message_id: str = "msg_1",
    payload: dict[str, Any] | None = None,
    timeout: float = 5.0,
) -> PostResult:
    return await post_event(
        http,
        endpoint,
        message_id=message_id,
        event_type="lead.accepted",
        payload=payload or {"lead_id": "L-1"},
        now=datetime.now(UTC),
        timeout=timeout,
    )


# --- creating endpoints ---------------------------------------------------------------------------


def test_new_secret_has_the_standard_webhooks_shape() -> None:
    secret = webhooks.new_secret()
    assert SECRET_SHAPE.match(secret), secret
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    Webhook(secret)  # the library accepts it
    assert webhooks.new_secret() != secret


async def test_partner_admin_creates_an_endpoint(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, secret = await create(
        session,
        settings,
        admin,
        url="  https://hooks.example.com/leads?team=emea  ",
        events=["lead.won", "lead.received", "lead.won"],
    )

    assert SECRET_SHAPE.match(secret)
    row = await endpoint_row(session, endpoint.id)
    assert row is not None
    assert row.organisation_id == world.contoso.organisation_id
    assert row.url == "https://hooks.example.com/leads?team=emea"
    assert row.events == ["lead.won", "lead.received"]  # order kept, duplicates dropped
    assert row.secret == secret
    assert row.previous_secret is None
    assert row.active is True
    assert row.failing_since is None and row.disabled_at is None

    listed = await webhooks.list_endpoints(session, admin)
    assert not isinstance(listed, Refused)
    assert [e.id for e in listed] == [endpoint.id]
    other = await webhooks.list_endpoints(
        session, await actor_for(session, world.fabrikam.partner_admin)
    )
    assert other == []


async def test_every_event_can_be_subscribed(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(session, settings, admin, events=list(webhooks.WEBHOOK_EVENTS))
    assert endpoint.events == list(webhooks.WEBHOOK_EVENTS)


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("referrals_admin", "FORBIDDEN"),
        ("member", "FORBIDDEN"),
        ("platform_admin", "FORBIDDEN"),
        ("seller", "FORBIDDEN"),
        ("anonymous", "UNAUTHENTICATED"),
    ],
)
async def test_only_partner_admins_manage_endpoints(
    session: AsyncSession, settings: Settings, world: World, who: str, code: str
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, secret = await create(session, settings, admin)
    user_id = {
        "referrals_admin": world.contoso.referrals_admin,
        "member": world.contoso.member,
        "platform_admin": world.platform_admin,
        "seller": world.seller,
        "anonymous": None,
    }[who]
    actor = await actor_for(session, user_id) if user_id else None
    now = datetime.now(UTC)
    eid = str(endpoint.id)

    attempts: list[Awaitable[object]] = [
        webhooks.create_endpoint(
            session, actor, url="https://x.example.com", events=["lead.won"], settings=settings
        ),
        webhooks.list_endpoints(session, actor),
        webhooks.delete_endpoint(session, actor, eid),
        webhooks.rotate_secret(session, actor, eid, now=now),
        webhooks.list_deliveries(session, actor, eid),
    ]
    for attempt in attempts:
        assert codes(await attempt) == [(code, None)]

    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.secret == secret
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.organisation_id == world.contoso.organisation_id)
    )
    assert count == 1


async def test_another_organisations_endpoint_is_not_found(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    contoso = await actor_for(session, world.contoso.partner_admin)
    fabrikam = await actor_for(session, world.fabrikam.partner_admin)
    endpoint, secret = await create(session, settings, contoso)
    now = datetime.now(UTC)

    for raw_id in (str(endpoint.id), str(uuid.uuid4())):
        assert codes(await webhooks.delete_endpoint(session, fabrikam, raw_id)) == [
            ("NOT_FOUND", ["input", "id"])
        ]
        assert codes(await webhooks.rotate_secret(session, fabrikam, raw_id, now=now)) == [
            ("NOT_FOUND", ["input", "id"])
        ]
        assert codes(await webhooks.list_deliveries(session, fabrikam, raw_id)) == [
            ("NOT_FOUND", ["endpointId"])
        ]
    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.secret == secret and row.previous_secret is None


async def test_a_malformed_id_is_a_validation_error(session: AsyncSession, world: World) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    now = datetime.now(UTC)
    assert codes(await webhooks.delete_endpoint(session, admin, "nope")) == [
        ("VALIDATION", ["input", "id"])
    ]
    assert codes(await webhooks.rotate_secret(session, admin, "nope", now=now)) == [
        ("VALIDATION", ["input", "id"])
    ]
    assert codes(await webhooks.list_deliveries(session, admin, "nope")) == [
        ("VALIDATION", ["endpointId"])
    ]


URL = ["input", "url"]


@pytest.mark.parametrize(
    ("url", "events", "expected"),
    [
        ("", ["lead.won"], [URL]),
        ("   ", ["lead.won"], [URL]),
        ("ftp://hooks.example.com/x", ["lead.won"], [URL]),
        ("javascript:alert(1)", ["lead.won"], [URL]),
        ("hooks.example.com/x", ["lead.won"], [URL]),
        ("https://", ["lead.won"], [URL]),
        ("https://hooks.example.com:99999/x", ["lead.won"], [URL]),
        ("https://hooks.exa mple.com/x", ["lead.won"], [URL]),
        ("https://hooks.example.com/\x00", ["lead.won"], [URL]),
        ("https://hooks.example.com/" + "a" * 2000, ["lead.won"], [URL]),
        ("https://hooks.example.com/x", [], [["input", "events"]]),
        (
            "https://hooks.example.com/x",
            ["lead.won", "lead.nope", "LEAD.WON"],
            [["input", "events", "1"], ["input", "events", "2"]],
        ),
        ("gopher://x", ["notify.new_lead"], [URL, ["input", "events", "0"]]),
    ],
)
async def test_invalid_input_is_refused(
    session: AsyncSession,
    settings: Settings,
    world: World,
    url: str,
    events: list[str],
    expected: list[list[str]],
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    result = await webhooks.create_endpoint(
        session, admin, url=url, events=events, settings=settings
    )
    assert codes(result) == [("VALIDATION", f) for f in expected]
    assert isinstance(result, Refused) and all(e.message for e in result.errors)
    assert await webhooks.list_endpoints(session, admin) == []


async def test_a_url_of_exactly_2000_characters_is_accepted(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    url = "https://hooks.example.com/"
    url += "a" * (2000 - len(url))
    endpoint, _ = await create(session, settings, admin, url=url)
    assert endpoint.url == url


PRIVATE_URLS = [
    "http://127.0.0.1:8080/hooks",
    "http://127.1/hooks",
    "http://2130706433/hooks",
    "http://0x7f000001/hooks",
    "http://0.0.0.0/hooks",
    "http://localhost:9000/hooks",
    "http://LOCALHOST./hooks",
    "http://api.localhost/hooks",
    "http://10.1.2.3/hooks",
    "http://172.16.5.4/hooks",
    "http://192.168.1.10/hooks",
    "http://100.64.0.1/hooks",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]:8080/hooks",
    "http://[fe80::1]/hooks",
    "http://[fd00::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "https://user:pw@10.0.0.1/hooks",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_private_urls_are_refused_unless_allowed(
    session: AsyncSession, settings: Settings, world: World, url: str
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    strict = settings.model_copy(update={"webhook_allow_private_urls": False})
    assert not strict.allows_private_webhook_urls

    refused = await webhooks.create_endpoint(
        session, admin, url=url, events=["lead.won"], settings=strict
    )
    assert codes(refused) == [("VALIDATION", URL)]

    assert settings.allows_private_webhook_urls  # tests run with APP_ENV=test
    endpoint, _ = await create(session, settings, admin, url=url)
    assert endpoint.url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x",
        "http://8.8.8.8/hooks",
        "https://[2001:4860:4860::8888]/hooks",
        "https://localhost-tools.example.com/x",
        "https://127.0.0.1.nip.example/x",  # a name, not a literal: nothing is resolved
    ],
)
async def test_public_urls_pass_the_private_address_check(
    session: AsyncSession, settings: Settings, world: World, url: str
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    strict = settings.model_copy(update={"webhook_allow_private_urls": False})
    endpoint, _ = await create(session, strict, admin, url=url)
    assert endpoint.url == url


async def test_production_requires_https_and_public_hosts(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    production = settings.model_copy(update={"app_env": AppEnv.PRODUCTION})
    assert not production.allows_private_webhook_urls

    for url in ("http://hooks.example.com/x", "https://127.0.0.1/x"):
        result = await webhooks.create_endpoint(
            session, admin, url=url, events=["lead.won"], settings=production
        )
        assert codes(result) == [("VALIDATION", URL)], url
    endpoint, _ = await create(session, production, admin, url="https://hooks.example.com/x")
    assert endpoint.url == "https://hooks.example.com/x"


async def test_an_organisation_has_at_most_20_endpoints(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    partner = await make_partner(session)
    admin = await actor_for(session, partner.partner_admin)
    made = [
        (await create(session, settings, admin, url=f"https://hooks.example.com/{i}"))[0]
        for i in range(20)
    ]

    refused = await webhooks.create_endpoint(
        session, admin, url="https://hooks.example.com/21", events=["lead.won"], settings=settings
    )
    assert codes(refused) == [("VALIDATION", None)]
    # Other organisations have their own allowance.
    await create(session, settings, await actor_for(session, world.fabrikam.partner_admin))

    assert not isinstance(await webhooks.delete_endpoint(session, admin, str(made[0].id)), Refused)
    await create(session, settings, admin, url="https://hooks.example.com/21")


# --- deleting and rotating ------------------------------------------------------------------------


async def test_delete_endpoint(session: AsyncSession, settings: Settings, world: World) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    keep, _ = await create(session, settings, admin, url="https://hooks.example.com/keep")
    gone, _ = await create(session, settings, admin, url="https://hooks.example.com/gone")

    deleted = await webhooks.delete_endpoint(session, admin, str(gone.id))
    assert isinstance(deleted, WebhookEndpoint) and deleted.id == gone.id
    assert await endpoint_row(session, gone.id) is None
    assert await endpoint_row(session, keep.id) is not None
    assert codes(await webhooks.delete_endpoint(session, admin, str(gone.id))) == [
        ("NOT_FOUND", ["input", "id"])
    ]


async def test_rotation_keeps_the_old_secret_for_24_hours(
    session: AsyncSession, settings: Settings, world: World
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, first = await create(session, settings, admin)
    rotated_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    result = await webhooks.rotate_secret(session, admin, str(endpoint.id), now=rotated_at)
    assert not isinstance(result, Refused)
    _, second = result
    assert SECRET_SHAPE.match(second) and second != first
    stored = await endpoint_row(session, endpoint.id)
    assert stored is not None
    assert (stored.secret, stored.previous_secret) == (second, first)
    assert stored.previous_secret_expires_at == rotated_at + timedelta(hours=24)

    signs = webhooks.signing_secrets
    assert signs(stored, rotated_at) == [second, first]
    assert signs(stored, rotated_at + timedelta(hours=23, minutes=59)) == [second, first]
    assert signs(stored, rotated_at + timedelta(hours=24)) == [second]

    # Rotating again within the grace period: only the latest replaced secret still signs.
    later = rotated_at + timedelta(hours=1)
    again = await webhooks.rotate_secret(session, admin, str(endpoint.id), now=later)
    assert not isinstance(again, Refused)
    _, third = again
    stored = await endpoint_row(session, endpoint.id)
    assert stored is not None
    assert signs(stored, later) == [third, second]
    assert stored.previous_secret_expires_at == later + timedelta(hours=24)


# --- delivering to a real receiver ----------------------------------------------------------------


async def test_post_event_is_signed_per_standard_webhooks(
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, secret = await create(session, settings, admin, url=receiver.url("/in?src=pl"))
    receiver.secrets = {"current": secret, "stranger": webhooks.new_secret()}
    payload = {"lead_id": str(uuid.uuid4()), "note": "café ✓", "n": 3}
    before = datetime.now(UTC)

    result = await post_event(
        http,
        endpoint,
        message_id="evt_42",
        event_type="lead.won",
        payload=payload,
        now=before,
        timeout=5,
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
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, old = await create(session, settings, admin, url=receiver.url())
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


@pytest.mark.parametrize("status", [400, 401, 404, 408, 409, 422, 429, 500, 502, 503])
async def test_a_failed_answer_is_retried(
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
    status: int,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(session, settings, admin, url=receiver.url())
    receiver.statuses = [status]

    result = await send(http, endpoint)

    assert not result.ok and result.retryable
    assert result.status_code == status
    assert result.error == f"HTTP {status}: receiver says {status}"


async def test_410_gone_is_not_retried(
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(session, settings, admin, url=receiver.url())
    receiver.statuses = [410]

    result = await send(http, endpoint)

    assert (result.ok, result.status_code, result.retryable) == (False, 410, False)
    assert result.error and result.error.startswith("HTTP 410")


async def test_redirects_are_not_followed(
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(session, settings, admin, url=receiver.url())
    receiver.statuses = [302]

    result = await send(http, endpoint)

    assert (result.ok, result.status_code, result.retryable) == (False, 302, True)
    assert len(receiver.requests) == 1


async def test_a_closed_port_is_a_retryable_network_error(
    session: AsyncSession, settings: Settings, world: World, http: httpx.AsyncClient
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(
        session, settings, admin, url=f"http://127.0.0.1:{closed_port()}/hooks"
    )

    result = await send(http, endpoint)

    assert (result.ok, result.status_code, result.retryable) == (False, None, True)
    assert result.error and "ConnectError" in result.error


async def test_a_slow_receiver_times_out(
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, _ = await create(session, settings, admin, url=receiver.url())
    receiver.delay = 3.0

    result = await send(http, endpoint, timeout=0.3)

    assert (result.ok, result.status_code, result.retryable) == (False, None, True)
    assert result.error == "timed out after 0.3s"
    assert 250 <= result.duration_ms < 2000


async def test_retries_carry_the_same_webhook_id(
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, secret = await create(session, settings, admin, url=receiver.url())
    receiver.secrets = {"current": secret}
    receiver.statuses = [500, 503, 200]
    occurred = datetime.now(UTC) - timedelta(minutes=1)

    results = []
    for _ in range(3):
        results.append(
            await post_event(
                http,
                endpoint,
                message_id="evt_same",
                event_type="lead.received",
                payload={"lead_id": "L-9"},
                now=datetime.now(UTC),
                timeout=5,
                occurred_at=occurred,
            )
        )

    assert [(r.ok, r.status_code) for r in results] == [(False, 500), (False, 503), (True, 200)]
    assert [r.headers["webhook-id"] for r in receiver.requests] == ["evt_same"] * 3
    assert all(r.verified_by == ["current"] for r in receiver.requests)
    assert len({r.body for r in receiver.requests}) == 1  # the event itself does not change


# --- GraphQL --------------------------------------------------------------------------------------

SCHEMA = strawberry.Schema(
    query=merge_types("Query", (Query, WebhookQuery)),
    mutation=merge_types("Mutation", (Mutation, WebhookMutation)),
)

ENDPOINT = "endpoint { id url events active createdAt failingSince disabledAt }"
CREATE = (
    "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { "
    + ENDPOINT
    + " secret errors { code field message } } }"
)
ROTATE = (
    "mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id}) { "
    + ENDPOINT
    + " secret errors { code field message } } }"
)
DELETE = (
    "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { "
    "deletedId errors { code field message } } }"
)
LIST = "{ webhookEndpoints { id url events active } }"
DELIVERIES = """
query($id: ID!, $first: Int) {
  webhookDeliveries(endpointId: $id, first: $first) {
    id eventType leadId status attemptCount lastError nextAttemptAt sentAt createdAt
    attempts { at succeeded statusCode error durationMs }
  }
}
"""

Execute = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def execute(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> Execute:
    """Run a document as `user_id` (None: anonymous) through the merged schema; the data, or
    the errors when `errors=True`."""

    async def run(
        document: str,
        user_id: uuid.UUID | None,
        variables: dict[str, Any] | None = None,
        *,
        errors: bool = False,
    ) -> dict[str, Any]:
        actor = await actor_for(session, user_id) if user_id else None
        context = Context(settings=settings, sessionmaker=sessionmaker, actor=actor)
        try:
            result = await SCHEMA.execute(
                document, variable_values=variables, context_value=context
            )
        finally:
            await context.close()
        if errors:
            assert result.errors, result
            return {
                "errors": [{"message": e.message, **(e.extensions or {})} for e in result.errors]
            }
        assert not result.errors, result.errors
        assert result.data is not None
        return result.data

    return run


async def test_graphql_endpoint_lifecycle(
    execute: Execute, session: AsyncSession, world: World
) -> None:
    admin = world.contoso.partner_admin
    created = (
        await execute(
            CREATE,
            admin,
            {"input": {"url": "https://hooks.example.com/a", "events": ["lead.won", "lead.lost"]}},
        )
    )["createWebhookEndpoint"]
    assert created["errors"] == []
    assert SECRET_SHAPE.match(created["secret"])
    endpoint = created["endpoint"]
    assert endpoint["url"] == "https://hooks.example.com/a"
    assert endpoint["events"] == ["lead.won", "lead.lost"]
    assert endpoint["active"] is True
    assert endpoint["createdAt"] and endpoint["failingSince"] is None
    assert endpoint["disabledAt"] is None
    row = await endpoint_row(session, uuid.UUID(endpoint["id"]))
    assert row is not None and row.secret == created["secret"]  # committed

    listed = (await execute(LIST, admin))["webhookEndpoints"]
    assert listed == [
        {"id": endpoint["id"], "url": endpoint["url"], "events": endpoint["events"], "active": True}
    ]

    rotated = (await execute(ROTATE, admin, {"id": endpoint["id"]}))["rotateWebhookEndpointSecret"]
    assert rotated["errors"] == [] and rotated["endpoint"]["id"] == endpoint["id"]
    assert SECRET_SHAPE.match(rotated["secret"]) and rotated["secret"] != created["secret"]
    row = await endpoint_row(session, uuid.UUID(endpoint["id"]))
    assert row is not None
    assert (row.secret, row.previous_secret) == (rotated["secret"], created["secret"])

    deleted = (await execute(DELETE, admin, {"id": endpoint["id"]}))["deleteWebhookEndpoint"]
    assert deleted == {"deletedId": endpoint["id"], "errors": []}
    assert (await execute(LIST, admin))["webhookEndpoints"] == []
    assert await endpoint_row(session, uuid.UUID(endpoint["id"])) is None


async def test_graphql_refusals(
    execute: Execute, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, secret = await create(
        session, settings, await actor_for(session, world.contoso.partner_admin)
    )
    good = {"input": {"url": "https://hooks.example.com/b", "events": ["lead.won"]}}

    forbidden = (await execute(CREATE, world.contoso.referrals_admin, good))[
        "createWebhookEndpoint"
    ]
    assert forbidden["endpoint"] is None and forbidden["secret"] is None
    assert [(e["code"], e["field"]) for e in forbidden["errors"]] == [("FORBIDDEN", None)]
    anonymous = (await execute(CREATE, None, good))["createWebhookEndpoint"]
    assert [e["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]

    invalid = (
        await execute(
            CREATE,
            world.contoso.partner_admin,
            {"input": {"url": "mailto:x@example.com", "events": ["lead.nope"]}},
        )
    )["createWebhookEndpoint"]
    assert [(e["code"], e["field"]) for e in invalid["errors"]] == [
        ("VALIDATION", ["input", "url"]),
        ("VALIDATION", ["input", "events", "0"]),
    ]

    for document, name in (
        (DELETE, "deleteWebhookEndpoint"),
        (ROTATE, "rotateWebhookEndpointSecret"),
    ):
        other = (await execute(document, world.fabrikam.partner_admin, {"id": str(endpoint.id)}))[
            name
        ]
        assert [(e["code"], e["field"]) for e in other["errors"]] == [
            ("NOT_FOUND", ["input", "id"])
        ]
        referrals = (
            await execute(document, world.contoso.referrals_admin, {"id": str(endpoint.id)})
        )[name]
        assert [e["code"] for e in referrals["errors"]] == ["FORBIDDEN"]

    # Non-admins see no endpoints; nothing above changed anything.
    for user_id in (world.contoso.referrals_admin, world.contoso.member, None):
        assert (await execute(LIST, user_id))["webhookEndpoints"] == []
    assert len((await execute(LIST, world.contoso.partner_admin))["webhookEndpoints"]) == 1
    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.secret == secret


async def _attempt(
    session: AsyncSession, delivery: Delivery, result: PostResult, at: datetime
) -> None:
    """What the delivery worker records for one try."""
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            at=at,
            succeeded=result.ok,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    )
    delivery.attempts += 1
    delivery.last_error = result.error
    if result.ok:
        delivery.status, delivery.sent_at = "SENT", at
    await session.flush()


async def test_graphql_deliveries_show_every_attempt(
    execute: Execute,
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: Receiver,
    http: httpx.AsyncClient,
) -> None:
    admin = await actor_for(session, world.contoso.partner_admin)
    endpoint, secret = await create(session, settings, admin, url=receiver.url())
    other, _ = await create(session, settings, admin, url="https://hooks.example.com/other")
    receiver.secrets = {"current": secret}
    receiver.statuses = [500, 200]
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def event(topic: str, minutes: int) -> OutboxMessage:
        return OutboxMessage(
            topic=topic,
            lead_id=lead.id,
            organisation_id=world.contoso.organisation_id,
            payload={"event_id": str(uuid.uuid4())},
            created_at=t0 + timedelta(minutes=minutes),
        )

    received, accepted = event("lead.received", 0), event("lead.accepted", 10)
    session.add_all([received, accepted])
    await session.flush()

    def delivery(outbox: OutboxMessage, recipient: str, minutes: int) -> Delivery:
        return Delivery(
            outbox_id=outbox.id,
            channel="WEBHOOK",
            recipient=recipient,
            status="PENDING",
            attempts=0,
            next_attempt_at=t0 + timedelta(minutes=minutes),
            created_at=t0 + timedelta(minutes=minutes),
        )

    first = delivery(received, str(endpoint.id), 0)
    second = delivery(accepted, str(endpoint.id), 10)
    elsewhere = delivery(received, str(other.id), 0)
    email = Delivery(
        outbox_id=received.id,
        channel="EMAIL",
        recipient=str(endpoint.id),
        status="SENT",
        attempts=1,
        created_at=t0,
    )
    session.add_all([first, second, elsewhere, email])
    await session.flush()

    # The first delivery: a real failure, then a real success, recorded as the worker does.
    for n in range(2):
        result = await post_event(
            http,
            endpoint,
            message_id=received.payload["event_id"],
            event_type=received.topic,
            payload=received.payload,
            now=datetime.now(UTC),
            timeout=5,
        )
        await _attempt(session, first, result, t0 + timedelta(minutes=n))
    assert [r.verified_by for r in receiver.requests] == [["current"], ["current"]]

    data = (await execute(DELIVERIES, world.contoso.partner_admin, {"id": str(endpoint.id)}))[
        "webhookDeliveries"
    ]

    assert [d["id"] for d in data] == [str(second.id), str(first.id)]  # newest first
    pending, sent = data
    assert pending == {
        "id": str(second.id),
        "eventType": "lead.accepted",
        "leadId": str(lead.id),
        "status": "PENDING",
        "attemptCount": 0,
        "lastError": None,
        "nextAttemptAt": (t0 + timedelta(minutes=10)).isoformat(),
        "sentAt": None,
        "createdAt": (t0 + timedelta(minutes=10)).isoformat(),
        "attempts": [],
    }
    assert sent["eventType"] == "lead.received" and sent["status"] == "SENT"
    assert sent["attemptCount"] == 2 and sent["lastError"] is None
    assert sent["sentAt"] == (t0 + timedelta(minutes=1)).isoformat()
    assert sent["nextAttemptAt"] is None
    assert [(a["succeeded"], a["statusCode"], a["error"]) for a in sent["attempts"]] == [
        (False, 500, "HTTP 500: receiver says 500"),
        (True, 200, None),
    ]
    assert [a["at"] for a in sent["attempts"]] == [
        t0.isoformat(),
        (t0 + timedelta(minutes=1)).isoformat(),
    ]
    assert all(isinstance(a["durationMs"], int) for a in sent["attempts"])

    newest = (
        await execute(DELIVERIES, world.contoso.partner_admin, {"id": str(endpoint.id), "first": 1})
    )["webhookDeliveries"]
    assert [d["id"] for d in newest] == [str(second.id)]
    only_other = (await execute(DELIVERIES, world.contoso.partner_admin, {"id": str(other.id)}))[
        "webhookDeliveries"
    ]
    assert [d["id"] for d in only_other] == [str(elsewhere.id)]


async def test_graphql_deliveries_refusals(
    execute: Execute, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, _ = await create(
        session, settings, await actor_for(session, world.contoso.partner_admin)
    )
    eid = str(endpoint.id)

    for user_id in (world.contoso.referrals_admin, world.contoso.member, None):
        assert (await execute(DELIVERIES, user_id, {"id": eid}))["webhookDeliveries"] == []

    cases = [
        (world.fabrikam.partner_admin, {"id": eid}, "NOT_FOUND", ["endpointId"]),
        (world.contoso.partner_admin, {"id": "nope"}, "VALIDATION", ["endpointId"]),
        (world.contoso.partner_admin, {"id": eid, "first": 0}, "VALIDATION", ["first"]),
        (world.contoso.partner_admin, {"id": eid, "first": 101}, "VALIDATION", ["first"]),
    ]
    for user_id, variables, code, field_path in cases:
        errors = (await execute(DELIVERIES, user_id, variables, errors=True))["errors"]
        assert [(e["code"], e.get("field")) for e in errors] == [(code, field_path)], variables
