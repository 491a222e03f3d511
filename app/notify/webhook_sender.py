"""Sending webhooks (R13): sign one event and POST it to an endpoint, and say where webhooks may
not go.

Signing follows Standard Webhooks (https://www.standardwebhooks.com/, what Svix sends): headers
`webhook-id` (the message id, the same on every retry, so receivers deduplicate),
`webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
`id.timestamp.body`). After a rotation the old secret keeps working for a grace period:
deliveries carry both signatures, space-separated, so receivers can switch at their own pace.

SSRF (`app.notify.safe_address`): outside dev/test a webhook goes only to publicly routable
addresses. At registration the URL's host is normalised (UTS-46, legacy IPv4 spellings) and
refused when it is, or resolves to, anything else; at delivery it is checked again, resolved
once, every address checked, and the connection made to a checked address (the URL's host is
kept for `Host`, TLS SNI and certificate verification), so DNS cannot rebind it in between.
Redirects are never followed. A delivery that gets no HTTP answer records one message whatever
the cause (unresolvable, refused address, connection refused or reset, timeout): the error a
partner reads does not tell an open port from a closed one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit, urlunsplit

import httpx
from standardwebhooks.webhooks import Webhook

from app.config import AppEnv, Settings
from app.db.models import WebhookEndpoint
from app.notify.safe_address import (
    Address,
    BadHost,
    Resolver,
    Unreachable,
    is_loopback_name,
    is_public,
    literal_address,
    normalise_host,
    resolve_destination,
    system_resolver,
    url_host,
)

log = logging.getLogger(__name__)

# How much of a failed response's body is kept in the attempt's error, for whoever debugs it.
MAX_ERROR_BODY = 200
# 410 Gone: the receiver says the endpoint no longer exists; stop and disable it.
GONE = 410
DEFAULT_PORTS = {"http": 80, "https": 443}
PRIVATE_PROBLEM = "must not point at a loopback, private or link-local address"
# Registration waits this long for DNS; a name that does not resolve in time is accepted and
# checked again at every delivery.
REGISTRATION_DNS_TIMEOUT = 2.0


def no_answer(timeout: float) -> str:
    """The one error for every delivery that got no HTTP answer."""
    return f"no answer within {timeout:g}s: unreachable, refused or timed out"


# --- where webhooks may go ------------------------------------------------------------------------


def destination_problem(url: SplitResult, settings: Settings) -> str | None:
    """Why webhooks may not be sent to this (well-formed) URL here, judging by its text alone
    (no DNS), or None."""
    if settings.app_env is AppEnv.PRODUCTION and url.scheme.lower() != "https":
        return "must use https://"
    try:
        host = normalise_host(url.hostname or "")
        literal = literal_address(host)
    except BadHost as exc:
        return f"has a host that {exc}"
    if settings.allows_private_webhook_urls:
        return None
    if is_loopback_name(host) or (literal is not None and not is_public(literal)):
        return PRIVATE_PROBLEM
    return None


async def resolved_problem(
    url: SplitResult, settings: Settings, *, resolver: Resolver = system_resolver
) -> str | None:
    """Why webhooks may not go to a URL whose host name resolves to a non-public address, or
    None. Call after `destination_problem` found nothing. A name that does not resolve (yet)
    passes: deliveries resolve and check it again."""
    if settings.allows_private_webhook_urls:
        return None
    host = normalise_host(url.hostname or "")
    if literal_address(host) is not None:
        return None
    port = url.port or DEFAULT_PORTS[url.scheme.lower()]
    try:
        async with asyncio.timeout(REGISTRATION_DNS_TIMEOUT):
            addresses = await resolver(host, port)
    except TimeoutError:
        return None
    return PRIVATE_PROBLEM if not all(is_public(address) for address in addresses) else None


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
    allow_private: bool,
    occurred_at: datetime | None = None,
    resolver: Resolver = system_resolver,
) -> PostResult:
    """POST one signed event to the endpoint. Never raises for what the receiver or the network
    does: every outcome is a `PostResult`. 2xx is success; like Svix, every other answer and
    every network failure is retried, except 410 Gone. Redirects are not followed. `timeout`
    bounds the whole exchange (DNS included), not each read. The body's `timestamp` is
    `occurred_at` (when the event happened) if given, else `now`. The host is resolved once,
    through `resolver`, and only to addresses that pass the check (any, with `allow_private`)."""
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
        url = urlsplit(endpoint.url)
        if url.scheme.lower() not in DEFAULT_PORTS:
            raise ValueError("not an http:// or https:// URL")
        host = normalise_host(url.hostname or "")
        port = url.port or DEFAULT_PORTS[url.scheme.lower()]
        literal = literal_address(host)
    except ValueError as exc:  # BadHost is a ValueError
        return result(False, None, f"invalid URL: {exc}", False)
    if not allow_private and (
        is_loopback_name(host) or (literal is not None and not is_public(literal))
    ):
        return result(False, None, f"the endpoint's URL {PRIVATE_PROBLEM}", False)
    try:
        async with asyncio.timeout(timeout):
            destination = await resolve_destination(
                host, port, allow_private=allow_private, resolver=resolver
            )
            *others, last = destination.addresses
            for address in others:
                try:
                    status, snippet = await _post_to(
                        http, url, host, address, body, headers, timeout
                    )
                    break
                except httpx.ConnectError:
                    continue  # like a browser, try the name's next address
            else:
                status, snippet = await _post_to(http, url, host, last, body, headers, timeout)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        return result(False, None, f"invalid URL: {exc}", False)
    except (TimeoutError, Unreachable, httpx.HTTPError, OSError) as exc:
        # The cause stays in the operator's log; the partner reads one message for them all.
        log.info("webhook %s got no answer: %s", endpoint.id, type(exc).__name__)
        return result(False, None, no_answer(timeout), True)
    if 200 <= status < 300:
        return result(True, status, None, False)
    error = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    return result(False, status, error, status != GONE)


async def _post_to(
    http: httpx.AsyncClient,
    url: SplitResult,
    host: str,
    address: Address,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> tuple[int, str]:
    """POST to `address` itself, naming `host` in `Host`, TLS SNI and certificate checks: the
    status, and the start of the body unless it is a success."""
    scheme = url.scheme.lower()
    port = f":{url.port}" if url.port and url.port != DEFAULT_PORTS[scheme] else ""
    named = f"[{host}]" if ":" in host else host
    pinned = urlunsplit((scheme, url_host(address) + port, url.path or "/", url.query, ""))
    auth = (
        (unquote(url.username), unquote(url.password or "")) if url.username is not None else None
    )
    async with http.stream(
        "POST",
        pinned,
        content=body,
        # Connection: close, because a kept-alive connection is pooled by address: another
        # name on the same address must not reuse a TLS session verified for this one.
        headers={**headers, "host": named + port, "connection": "close"},
        auth=auth,
        extensions={"sni_hostname": host} if scheme == "https" else {},
        timeout=timeout,
        follow_redirects=False,
    ) as response:
        status = response.status_code
        if 200 <= status < 300:
            return status, ""
        return status, await _read_some(response, MAX_ERROR_BODY)


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
