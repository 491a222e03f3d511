"""Sending webhooks (R13): sign one event and POST it to an endpoint, and say where webhooks may
not go.

Signing follows Standard Webhooks (https://www.standardwebhooks.com/, what Svix sends): headers
`webhook-id` (the message id, the same on every retry, so receivers deduplicate),
`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
`id.timestamp.body`). After a rotation the old secret keeps working for a grace period:
deliveries carry both signatures, space-separated, so receivers can switch at their own pace.

SSRF: outside dev/test, URLs whose host is a loopback, private, link-local or otherwise
non-public IP *literal*, or `localhost`, are refused, at registration and again at delivery.
Nothing is resolved: a DNS name that points at a private address is not caught by this check
(DNS can change after registration anyway); production deployments should send webhooks through
an egress proxy that refuses private destinations. Redirects are never followed, so a public
endpoint cannot bounce a delivery inward.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult

import httpx
from standardwebhooks.webhooks import Webhook

from app.config import AppEnv, Settings
from app.db.models import WebhookEndpoint

# How much of a failed response's body is kept in the attempt's error, for whoever debugs it.
MAX_ERROR_BODY = 200
# 410 Gone: the receiver says the endpoint no longer exists; stop and disable it.
GONE = 410
# Legacy IPv4 spellings (`127.1`, `2130706433`, `0x7f000001`) that resolvers accept as literals.
LEGACY_IPV4 = re.compile(r"^(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}$")


# --- where webhooks may go ------------------------------------------------------------------------


def literal_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address `host` spells literally, including legacy IPv4 forms; None for names."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if LEGACY_IPV4.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_internal_host(host: str) -> bool:
    """Loopback, private, link-local, CGNAT, unspecified, multicast or reserved IP literals, and
    `localhost` names. Literal checks only: no DNS lookups."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    ip = literal_ip(host)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def destination_problem(url: SplitResult, settings: Settings) -> str | None:
    """Why webhooks may not be sent to this (well-formed) URL here, or None."""
    if settings.app_env is AppEnv.PRODUCTION and url.scheme.lower() != "https":
        return "must use https://"
    if not settings.allows_private_webhook_urls and is_internal_host(url.hostname or ""):
        return "must not point at a loopback, private or link-local address"
    return None


# --- signing and posting --------------------------------------------------------------------------


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
