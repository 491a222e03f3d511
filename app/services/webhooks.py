"""Webhook endpoints (R13): partner admins register where their tooling receives signed lead
events; workers post each event with `post_event`.

Services take (session, actor, ...) and return rows or `Refused`; they flush, never commit.

Signing follows Standard Webhooks (https://www.standardwebhooks.com/, what Svix sends): headers
`webhook-id` (the message id, the same on every retry, so receivers deduplicate),
`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
`id.timestamp.body`). After a rotation the old secret keeps working for `ROTATION_GRACE`:
deliveries carry both signatures, space-separated, so receivers can switch at their own pace.

SSRF: outside dev/test, URLs whose host is a loopback, private, link-local or otherwise
non-public IP *literal*, or `localhost`, are refused. Nothing is resolved here: a DNS name that
points at a private address is not caught by this check (DNS can change after registration
anyway); production deployments should send webhooks through an egress proxy that refuses
private destinations. Redirects are never followed, so a public endpoint cannot bounce a
delivery inward.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
import re
import secrets
import socket
import time
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook

from app.config import AppEnv, Settings
from app.db.models import Delivery, DeliveryAttempt, Organisation, OutboxMessage, WebhookEndpoint
from app.domain.roles import Role
from app.domain.validation import Checker
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id

WEBHOOK_EVENTS: tuple[str, ...] = (
    "lead.received",
    "lead.accepted",
    "lead.declined",
    "lead.updated",
    "lead.won",
    "lead.lost",
    "lead.expired",
    "lead.reminder",
)
MAX_URL = 2000
MAX_ENDPOINTS_PER_ORGANISATION = 20
# How long the secret a rotation replaced still signs deliveries.
ROTATION_GRACE = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
MAX_DELIVERIES_PAGE = 100
# How much of a failed response's body is kept in the attempt's error, for whoever debugs it.
MAX_ERROR_BODY = 200
# 410 Gone: the receiver says the endpoint no longer exists; stop and disable it.
GONE = 410

_WEBHOOK = "WEBHOOK"
# Legacy IPv4 spellings (`127.1`, `2130706433`, `0x7f000001`) that resolvers accept as literals.
_LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$")


def new_secret() -> str:
    """A signing secret in the form the standardwebhooks libraries expect."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


# --- who may manage endpoints ---------------------------------------------------------------------


def _refuse_unless_admin(actor: Actor | None) -> Refused | None:
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to manage webhooks")
    if actor.organisation_kind != "PARTNER" or not actor.has(Role.PARTNER_ADMIN):
        return Refused.one(ErrorCode.FORBIDDEN, "only partner admins manage webhooks")
    return None


async def _own_endpoint(
    session: AsyncSession, actor: Actor, raw_id: str, *fieldpath: str, lock: bool = False
) -> WebhookEndpoint | Refused:
    """The endpoint, if it belongs to the actor's organisation; other organisations' endpoints
    do not exist for them."""
    endpoint_id = parse_id(raw_id, *fieldpath)
    if isinstance(endpoint_id, Refused):
        return endpoint_id
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.organisation_id == actor.organisation_id,
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    endpoint = (await session.execute(query)).scalar_one_or_none()
    if endpoint is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such webhook endpoint", *fieldpath)
    return endpoint


# --- input rules ----------------------------------------------------------------------------------


def _literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` spells literally, including legacy IPv4 forms; None for names."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _is_internal_host(host: str) -> bool:
    """Loopback, private, link-local, CGNAT, unspecified, multicast or reserved IP literals, and
    `localhost` names. Literal checks only: no DNS lookups."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = _literal_ip(host)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(checker: Checker, raw: str | None, settings: Settings) -> str | None:
    """The cleaned URL, or None with the problems recorded under `url`."""
    url = checker.text("url", raw, max_len=MAX_URL, required=True)
    if url is None or checker.problems:
        return None
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        checker.fail("url", "must not contain spaces or control characters")
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        checker.fail("url", "is not a valid URL")
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        checker.fail("url", "must be an http:// or https:// URL with a host")
        return None
    if settings.app_env is AppEnv.PRODUCTION and scheme != "https":
        checker.fail("url", "must use https://")
        return None
    if not settings.allows_private_webhook_urls and _is_internal_host(parts.hostname):
        checker.fail("url", "must not point at a loopback, private or link-local address")
        return None
    return url


def check_events(checker: Checker, raw: list[str] | None) -> list[str]:
    """The subscribed events, duplicates dropped, in the order given."""
    if not raw:
        checker.fail("events", "subscribe to at least one event")
        return []
    chosen: list[str] = []
    for index, name in enumerate(raw):
        event = (name or "").strip()
        if event not in WEBHOOK_EVENTS:
            checker.fail(
                ("events", str(index)),
                f"'{name}' is not a webhook event; use one of {', '.join(WEBHOOK_EVENTS)}",
            )
        elif event not in chosen:
            chosen.append(event)
    return chosen


# --- use cases ------------------------------------------------------------------------------------


async def create_endpoint(
    session: AsyncSession,
    actor: Actor | None,
    *,
    url: str,
    events: list[str],
    settings: Settings,
    now: datetime | None = None,
) -> tuple[WebhookEndpoint, str] | Refused:
    """A new endpoint for the actor's organisation, and its signing secret (shown once)."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker("input")
    clean_url = check_url(checker, url, settings)
    chosen = check_events(checker, events)
    if checker.problems or clean_url is None:
        return Refused.invalid(checker.problems)
    # Serialize creations per organisation so that two concurrent ones cannot both pass the
    # limit. NO KEY UPDATE: rows referencing the organisation (leads, users) are not blocked.
    await session.execute(
        select(Organisation.id)
        .where(Organisation.id == actor.organisation_id)
        .with_for_update(key_share=True)
    )
    count = await session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.organisation_id == actor.organisation_id)
    )
    if (count or 0) >= MAX_ENDPOINTS_PER_ORGANISATION:
        return Refused.one(
            ErrorCode.VALIDATION,
            f"an organisation can have at most {MAX_ENDPOINTS_PER_ORGANISATION} webhook "
            "endpoints; delete one first",
        )
    secret = new_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        organisation_id=actor.organisation_id,
        url=clean_url,
        events=chosen,
        secret=secret,
        previous_secret=None,
        previous_secret_expires_at=None,
        active=True,
        failing_since=None,
        disabled_at=None,
        created_at=now or datetime.now(UTC),
    )
    session.add(endpoint)
    await session.flush()
    return endpoint, secret


async def list_endpoints(
    session: AsyncSession, actor: Actor | None
) -> list[WebhookEndpoint] | Refused:
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    rows = await session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organisation_id == actor.organisation_id)
        .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
    )
    return list(rows)


async def delete_endpoint(
    session: AsyncSession, actor: Actor | None, endpoint_id: str
) -> WebhookEndpoint | Refused:
    """Remove the endpoint. Its delivery rows stay (they name it only by id); the worker skips
    pending ones whose endpoint is gone."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    endpoint = await _own_endpoint(session, actor, endpoint_id, "input", "id", lock=True)
    if isinstance(endpoint, Refused):
        return endpoint
    await session.delete(endpoint)
    await session.flush()
    return endpoint


async def rotate_secret(
    session: AsyncSession, actor: Actor | None, endpoint_id: str, *, now: datetime
) -> tuple[WebhookEndpoint, str] | Refused:
    """A new signing secret; the replaced one still signs deliveries for `ROTATION_GRACE`.
    Rotating again within the grace period ends the older secret's grace at once."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    endpoint = await _own_endpoint(session, actor, endpoint_id, "input", "id", lock=True)
    if isinstance(endpoint, Refused):
        return endpoint
    secret = new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_GRACE
    endpoint.secret = secret
    await session.flush()
    return endpoint, secret


@dataclass(frozen=True)
class DeliveryRecord:
    """One webhook delivery with the event it carried and every attempt made, oldest first."""

    delivery: Delivery
    event_type: str
    lead_id: uuid.UUID | None
    attempts: list[DeliveryAttempt] = field(default_factory=list)


async def list_deliveries(
    session: AsyncSession, actor: Actor | None, endpoint_id: str, *, first: int = 20
) -> list[DeliveryRecord] | Refused:
    """The endpoint's most recent deliveries, newest first, with their attempts."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    if not 1 <= first <= MAX_DELIVERIES_PAGE:
        return Refused.one(
            ErrorCode.VALIDATION, f"must be between 1 and {MAX_DELIVERIES_PAGE}", "first"
        )
    endpoint = await _own_endpoint(session, actor, endpoint_id, "endpointId")
    if isinstance(endpoint, Refused):
        return endpoint
    rows = (
        await session.execute(
            select(Delivery, OutboxMessage.topic, OutboxMessage.lead_id)
            .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
            .where(
                Delivery.channel == _WEBHOOK,
                Delivery.recipient == str(endpoint.id),
                OutboxMessage.organisation_id == actor.organisation_id,
            )
            .order_by(Delivery.created_at.desc(), Delivery.id.desc())
            .limit(first)
        )
    ).all()
    attempts: dict[int, list[DeliveryAttempt]] = defaultdict(list)
    if rows:
        found = await session.scalars(
            select(DeliveryAttempt)
            .where(DeliveryAttempt.delivery_id.in_([row[0].id for row in rows]))
            .order_by(DeliveryAttempt.at, DeliveryAttempt.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(attempt)
    return [
        DeliveryRecord(delivery, topic, lead_id, attempts.get(delivery.id, []))
        for delivery, topic, lead_id in rows
    ]


# --- sending --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None
    error: str | None
    # False only when trying again cannot help (410 Gone, an unusable URL): disable the endpoint.
    retryable: bool
    duration_ms: int


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The current secret, then the rotated-out one while its grace period lasts."""
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and now < expires:
        found.append(endpoint.previous_secret)
    return found


def signed_request(
    endpoint: WebhookEndpoint,
    *,
    message_id: str,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
    occurred_at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """The body bytes and headers of one delivery. The body is serialized once and exactly
    those bytes are signed."""
    sent_at = now.astimezone(UTC)
    event_time = (occurred_at or now).astimezone(UTC)
    body = json.dumps(
        {
            "type": event_type,
            "timestamp": event_time.isoformat().replace("+00:00", "Z"),
            "data": payload,
        },
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=sent_at, data=body)
        for secret in signing_secrets(endpoint, now)
    ]
    headers = {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "user-agent": "partner-leads-webhooks/1",
    }
    return body.encode("utf-8"), headers


async def post_event(
    http: httpx.AsyncClient,
    endpoint: WebhookEndpoint,
    *,
    message_id: str,
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
    timeout: float,
    occurred_at: datetime | None = None,
) -> PostResult:
    """POST one signed event to the endpoint. Never raises for what the receiver or the network
    does: every outcome is a `PostResult`. 2xx is success; like Svix, every other answer and
    every network failure is retried, except 410 Gone. Redirects are not followed. `timeout`
    bounds the whole exchange, not each read. The body's `timestamp` is `occurred_at` (when
    the event happened) if given, else `now`."""
    body, headers = signed_request(
        endpoint,
        message_id=message_id,
        event_type=event_type,
        payload=payload,
        now=now,
        occurred_at=occurred_at,
    )
    started = time.perf_counter()

    def result(ok: bool, status: int | None, error: str | None, retryable: bool) -> PostResult:
        elapsed = int((time.perf_counter() - started) * 1000)
        return PostResult(ok, status, error, retryable, elapsed)

    try:
        async with asyncio.timeout(timeout):
            async with http.stream(
                "POST",
                endpoint.url,
                content=body,
                headers=headers,
                timeout=timeout,
                follow_redirects=False,
            ) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return result(True, status, None, False)
                snippet = await _read_some(response, MAX_ERROR_BODY)
    except (TimeoutError, httpx.TimeoutException):
        return result(False, None, f"timed out after {timeout:g}s", True)
    except httpx.InvalidURL as exc:
        return result(False, None, f"invalid URL: {exc}", False)
    except (httpx.HTTPError, OSError) as exc:
        return result(False, None, f"{type(exc).__name__}: {exc}".rstrip(": "), True)
    error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    return result(False, status, error, status != GONE)


async def _read_some(response: httpx.Response, limit: int) -> str:
    """At most `limit` characters of the body, without reading more than needed."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass
    text = b"".join(chunks)[:limit].decode("utf-8", errors="replace")
    return " ".join(text.split())
