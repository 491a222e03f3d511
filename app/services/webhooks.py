"""Webhook endpoints (R13): partner admins register where their tooling receives signed lead
events, rotate their signing secrets and inspect deliveries; `app.notify.webhook_sender` signs
and sends them.

Services take (session, actor, ...) and return rows or `Refused`; they flush, never commit.
After a rotation the old secret keeps signing deliveries for `ROTATION_GRACE`.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import String, cast, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Delivery, DeliveryAttempt, Organisation, OutboxMessage, WebhookEndpoint
from app.domain.events import SENT_LEAD_EVENTS, WEBHOOK_EVENTS, Channel, DeliveryStatus, Topic
from app.domain.roles import Role
from app.domain.validation import Checker
from app.jobs import relay, stage
from app.notify.safe_address import Resolver, system_resolver
from app.notify.webhook_sender import destination_problem, resolved_problem
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id

MAX_URL = 2000
MAX_ENDPOINTS_PER_ORGANISATION = 20
# How long the secret a rotation replaced still signs deliveries.
ROTATION_GRACE = timedelta(hours=24)
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24
MAX_DELIVERIES_PAGE = 100


def new_secret() -> str:
    """A signing secret in the form the standardwebhooks libraries expect."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


# --- who may manage endpoints ---------------------------------------------------------------------


def _refuse_unless_admin(actor: Actor | None) -> Refused | None:
    """A partner's admin manages its endpoints; so does the platform's admin, whose sellers and
    marketers hear by webhook what becomes of the leads they sent (`sent_lead.*`)."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to manage webhooks")
    if not (
        (actor.organisation_kind == "PARTNER" and actor.has(Role.PARTNER_ADMIN))
        or (actor.organisation_kind == "PLATFORM" and actor.has(Role.PLATFORM_ADMIN))
    ):
        return Refused.one(
            ErrorCode.FORBIDDEN, "only partner admins and platform admins manage webhooks"
        )
    return None


def events_for(actor: Actor) -> tuple[str, ...]:
    """What the actor's organisation can hear of: the platform receives no leads, so only
    what becomes of the leads its people sent."""
    if actor.organisation_kind == "PLATFORM":
        return tuple(SENT_LEAD_EVENTS.values())
    return WEBHOOK_EVENTS


async def _own_endpoint(
    session: AsyncSession, actor: Actor | None, raw_id: str, *, lock: bool = False
) -> WebhookEndpoint | Refused:
    """The endpoint, if the actor administers the organisation it belongs to; other
    organisations' endpoints do not exist for them."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    endpoint_id = parse_id(raw_id, "endpoint_id")
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
        return Refused.one(ErrorCode.NOT_FOUND, "no such webhook endpoint", "endpoint_id")
    return endpoint


# --- input rules ----------------------------------------------------------------------------------


async def check_url(
    checker: Checker, raw: str | None, settings: Settings, resolver: Resolver = system_resolver
) -> str | None:
    """The cleaned URL, or None with the problem recorded under `url`: the shape every URL
    has (`Checker.url`), then where webhooks may go, by the URL's text and then by the
    addresses its host name resolves to."""
    parts = checker.url("url", raw, max_len=MAX_URL, required=True)
    if parts is None:
        return None
    problem = destination_problem(parts, settings)
    if problem is None:
        problem = await resolved_problem(parts, settings, resolver=resolver)
    if problem is not None:
        checker.fail("url", problem)
        return None
    return (raw or "").strip()  # the text Checker.url parsed


def check_events(
    checker: Checker, raw: list[str] | None, allowed: tuple[str, ...] = WEBHOOK_EVENTS
) -> list[str]:
    """The subscribed events, duplicates dropped, in the order given."""
    if not raw:
        checker.fail("events", "subscribe to at least one event")
        return []
    chosen: list[str] = []
    for index, name in enumerate(raw):
        event = (name or "").strip()
        if event not in allowed:
            checker.fail(
                ("events", str(index)),
                f"'{name}' is not a webhook event here; use one of {', '.join(allowed)}",
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
    resolver: Resolver = system_resolver,
) -> tuple[WebhookEndpoint, str] | Refused:
    """A new endpoint for the actor's organisation, and its signing secret (shown once).
    `resolver` looks up the URL's host name (the system's DNS unless a test answers)."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker()
    clean_url = await check_url(checker, url, settings, resolver)
    chosen = check_events(checker, events, events_for(actor))
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


async def endpoints_by_ids(
    session: AsyncSession, actor: Actor | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, WebhookEndpoint]:
    """The endpoints among `ids` that `list_endpoints` would list for the caller."""
    if _refuse_unless_admin(actor) is not None or not ids:
        return {}
    assert actor is not None
    rows = await session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id.in_(ids), WebhookEndpoint.organisation_id == actor.organisation_id
        )
    )
    return {row.id: row for row in rows}


async def deliveries_by_ids(
    session: AsyncSession, actor: Actor | None, ids: Sequence[int]
) -> dict[int, DeliveryRecord]:
    """The webhook deliveries among `ids` that `list_deliveries` would list for the caller:
    those to the endpoints of the organisation it administers, with their attempts."""
    if _refuse_unless_admin(actor) is not None or not ids:
        return {}
    assert actor is not None
    rows = (
        await session.execute(
            select(
                Delivery,
                WebhookEndpoint,
                OutboxMessage.topic,
                OutboxMessage.organisation_id,
                OutboxMessage.lead_id,
            )
            .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
            .join(WebhookEndpoint, cast(WebhookEndpoint.id, String) == Delivery.recipient)
            .where(
                Delivery.id.in_(ids),
                Delivery.channel == Channel.WEBHOOK,
                WebhookEndpoint.organisation_id == actor.organisation_id,
            )
        )
    ).all()
    records = await _with_attempts(
        session,
        [(d, event_type_for(topic, org, endpoint), lead) for d, endpoint, topic, org, lead in rows],
    )
    return {record.delivery.id: record for record in records}


async def delete_endpoint(
    session: AsyncSession, actor: Actor | None, endpoint_id: str
) -> WebhookEndpoint | Refused:
    """Remove the endpoint. Its delivery rows stay (they name it only by id); the worker skips
    pending ones whose endpoint is gone."""
    endpoint = await _own_endpoint(session, actor, endpoint_id, lock=True)
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
    endpoint = await _own_endpoint(session, actor, endpoint_id, lock=True)
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
    session: AsyncSession,
    actor: Actor | None,
    endpoint_id: str,
    *,
    first: int = 20,
    status: DeliveryStatus | None = None,
    after: str | None = None,
) -> list[DeliveryRecord] | Refused:
    """The endpoint's deliveries, newest first, with their attempts: only those in `status` if
    given, and only those after the delivery `after` (the last one of the previous page)."""
    refused = _refuse_unless_admin(actor)
    if refused is None and not 1 <= first <= MAX_DELIVERIES_PAGE:
        refused = Refused.one(
            ErrorCode.VALIDATION, f"must be between 1 and {MAX_DELIVERIES_PAGE}", "first"
        )
    if refused is not None:
        return refused
    endpoint = await _own_endpoint(session, actor, endpoint_id)
    if isinstance(endpoint, Refused):
        return endpoint
    query = (
        select(Delivery, OutboxMessage.topic, OutboxMessage.organisation_id, OutboxMessage.lead_id)
        .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
        .where(Delivery.channel == Channel.WEBHOOK, Delivery.recipient == str(endpoint.id))
    )
    if status is not None:
        query = query.where(Delivery.status == status)
    if after is not None:
        cursor = await _delivery_of(session, endpoint, after, "after")
        if isinstance(cursor, Refused):
            return cursor
        query = query.where(
            tuple_(Delivery.created_at, Delivery.id) < tuple_(cursor.created_at, cursor.id)
        )
    rows = (
        await session.execute(
            query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(first)
        )
    ).all()
    return await _with_attempts(
        session, [(d, event_type_for(topic, org, endpoint), lead) for d, topic, org, lead in rows]
    )


def parse_delivery_id(raw: str, *fieldpath: str) -> int | Refused:
    """A delivery id: decimal digits that fit the table's bigint, nothing else."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return Refused.one(ErrorCode.VALIDATION, "is not a valid delivery id", *fieldpath)
    return int(text)


def event_type_for(topic: str, organisation_id: uuid.UUID | None, endpoint: WebhookEndpoint) -> str:
    """The event type the endpoint received for an outbox topic: a lead's sender receives the
    `sent_lead.*` event of its partner's lead event."""
    if organisation_id != endpoint.organisation_id:
        return SENT_LEAD_EVENTS.get(topic, topic)
    return topic


async def _with_attempts(
    session: AsyncSession, rows: list[tuple[Delivery, str, uuid.UUID | None]]
) -> list[DeliveryRecord]:
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
        DeliveryRecord(delivery, event_type, lead_id, attempts.get(delivery.id, []))
        for delivery, event_type, lead_id in rows
    ]


async def _delivery_of(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    raw_id: str,
    field_name: str,
) -> Delivery | Refused:
    """A delivery to the endpoint, by its id."""
    delivery_id = parse_delivery_id(raw_id, field_name)
    if isinstance(delivery_id, Refused):
        return delivery_id
    query = select(Delivery).where(
        Delivery.id == delivery_id,
        Delivery.channel == Channel.WEBHOOK,
        Delivery.recipient == str(endpoint.id),
    )
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such webhook delivery", field_name)
    return found


# --- operating an endpoint ------------------------------------------------------------------------


async def update_endpoint(
    session: AsyncSession,
    actor: Actor | None,
    endpoint_id: str,
    *,
    settings: Settings,
    now: datetime,
    url: str | None = None,
    events: list[str] | None = None,
    active: bool | None = None,
    resolver: Resolver = system_resolver,
) -> WebhookEndpoint | Refused:
    """Change what is given (None: unchanged): the URL, under the rules of registration; the
    subscribed events; whether it is enabled. Enabling clears the failing and disabled state;
    disabling sends nothing more until it is enabled again."""
    endpoint = await _own_endpoint(session, actor, endpoint_id, lock=True)
    if isinstance(endpoint, Refused):
        return endpoint
    checker = Checker()
    clean_url = await check_url(checker, url, settings, resolver) if url is not None else None
    assert actor is not None  # _own_endpoint refuses anonymous callers
    chosen = check_events(checker, events, events_for(actor)) if events is not None else None
    if checker.problems:
        return Refused.invalid(checker.problems)
    if clean_url is not None:
        endpoint.url = clean_url
    if chosen is not None:
        endpoint.events = chosen
    if active is True:
        endpoint.active = True
        endpoint.failing_since = None
        endpoint.disabled_at = None
    elif active is False and endpoint.active:
        endpoint.active = False
        endpoint.disabled_at = now
    await session.flush()
    return endpoint


def _refuse_unless_active(endpoint: WebhookEndpoint, field_name: str) -> Refused | None:
    if endpoint.active:
        return None
    return Refused.one(
        ErrorCode.INVALID_TRANSITION,
        "the endpoint is disabled: enable it first (updateWebhookEndpoint, active: true)",
        field_name,
    )


async def ping_endpoint(
    session: AsyncSession, actor: Actor | None, endpoint_id: str, *, now: datetime
) -> DeliveryRecord | Refused:
    """A signed `ping` event for the endpoint, delivered like any other (outbox, delivery,
    sender, after commit), so its attempt shows among the endpoint's deliveries."""
    endpoint = await _own_endpoint(session, actor, endpoint_id)
    if isinstance(endpoint, Refused):
        return endpoint
    refused = _refuse_unless_active(endpoint, "endpoint_id")
    if refused is not None:
        return refused
    event = OutboxMessage(
        topic=Topic.PING.value,
        organisation_id=endpoint.organisation_id,
        payload={
            "eventId": str(uuid.uuid4()),
            "type": Topic.PING.value,
            "organisationId": str(endpoint.organisation_id),
            "webhookEndpointId": str(endpoint.id),
            "occurredAt": now.isoformat(),
        },
        created_at=now,
    )
    session.add(event)
    await session.flush()
    delivery = Delivery(
        outbox_id=event.id,
        channel=Channel.WEBHOOK.value,
        recipient=str(endpoint.id),
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    await session.flush()
    stage(session, relay())
    return DeliveryRecord(delivery, Topic.PING.value, None, [])


async def redeliver(
    session: AsyncSession, actor: Actor | None, delivery_id: str, *, now: datetime
) -> DeliveryRecord | Refused:
    """Send a dead or skipped delivery again: one more attempt, due now (a failure after it is
    final, as the retry schedule had run out). A pending one is due now too, and stays one
    delivery however often it is asked for. A delivered one is refused."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    wanted = parse_delivery_id(delivery_id, "delivery_id")
    if isinstance(wanted, Refused):
        return wanted
    own_endpoints = select(func.cast(WebhookEndpoint.id, String)).where(
        WebhookEndpoint.organisation_id == actor.organisation_id
    )
    found = (
        await session.execute(
            select(
                Delivery,
                OutboxMessage.topic,
                OutboxMessage.organisation_id,
                OutboxMessage.lead_id,
                WebhookEndpoint,
            )
            .join(OutboxMessage, OutboxMessage.id == Delivery.outbox_id)
            .join(WebhookEndpoint, func.cast(WebhookEndpoint.id, String) == Delivery.recipient)
            .where(
                Delivery.id == wanted,
                Delivery.channel == Channel.WEBHOOK,
                Delivery.recipient.in_(own_endpoints),
            )
            .with_for_update(of=Delivery)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    if found is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such webhook delivery", "delivery_id")
    delivery, topic, organisation_id, lead_id, endpoint = found
    if delivery.status == DeliveryStatus.SENT:
        return Refused.one(
            ErrorCode.INVALID_TRANSITION,
            "this delivery was delivered already; nothing to send again",
            "delivery_id",
        )
    refused = _refuse_unless_active(endpoint, "delivery_id")
    if refused is not None:
        return refused
    if delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at > now:
        delivery.status = DeliveryStatus.PENDING.value
        delivery.next_attempt_at = now
        await session.flush()
    stage(session, relay())
    (record,) = await _with_attempts(
        session, [(delivery, event_type_for(topic, organisation_id, endpoint), lead_id)]
    )
    return record
