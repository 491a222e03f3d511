"""Deliver one delivery: lock it, send it on its channel, record the attempt.

The row stays locked (`FOR UPDATE SKIP LOCKED`) while it is being sent, so two workers never
send the same delivery; a worker killed mid-send releases the lock and the delivery is retried.
Receivers can deduplicate the rare resend after a crash between send and commit: e-mails carry
a stable Message-ID per delivery, webhooks a stable webhook-id per event."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import (
    Delivery,
    DeliveryAttempt,
    Lead,
    Notification,
    Organisation,
    OutboxMessage,
    User,
    WebhookEndpoint,
)
from app.domain.events import SENT_LEAD_EVENTS, Audience, Channel, DeliveryStatus, Topic
from app.domain.retry import next_attempt_at
from app.i18n import DEFAULT_LOCALE, DEFAULT_TIME_ZONE
from app.notify import live
from app.notify.in_app import render_in_app
from app.notify.mailer import EmailMessage, MailError, send_email
from app.notify.messages import LeadFacts, MessageContext, MessageKind, render_email
from app.notify.webhook_sender import destination_problem, post_event
from app.services.lead_state import sender_state_json

log = logging.getLogger(__name__)

SENT_LEAD_KINDS: dict[str, MessageKind] = {
    Topic.LEAD_ACCEPTED: MessageKind.SENT_LEAD_ACCEPTED,
    Topic.LEAD_DECLINED: MessageKind.SENT_LEAD_DECLINED,
    Topic.LEAD_WON: MessageKind.SENT_LEAD_WON,
    Topic.LEAD_LOST: MessageKind.SENT_LEAD_LOST,
}


@dataclass
class Deps:
    settings: Settings
    http: httpx.AsyncClient
    redis: live.Publisher | None


class SendFailed(Exception):
    def __init__(self, message: str, *, retryable: bool = True, status_code: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code


LIVE_NOTIFICATIONS = "live_notifications"


async def published_after_commit(session: AsyncSession, deps: Deps) -> None:
    """Publish the in-app notifications a committed delivery transaction wrote, to their users'
    live subscriptions. Best effort: the notification is stored either way, and a subscriber
    that missed one (Redis down) finds it in `notifications`."""
    queued = session.info.pop(LIVE_NOTIFICATIONS, [])
    if not queued or deps.redis is None:
        return
    try:
        for user_id, note in queued:
            await live.publish_notification(deps.redis, user_id, note)
    except Exception as exc:  # Redis down: the stored notification is what counts
        log.warning("live notifications not published: %s", exc)


def _kind(topic: str, lead: Lead | None) -> MessageKind | None:
    match topic:
        case Topic.NOTIFY_NEW_LEAD:
            # A partner that already reached the customer is not urged to (a delayed alert).
            urgent = lead and lead.contact_requested and lead.customer_contacted_at is None
            return MessageKind.URGENT_CONTACT if urgent else MessageKind.NEW_LEAD
        case Topic.NOTIFY_REMINDER:
            return MessageKind.REMINDER
        case Topic.NOTIFY_LEAD_DECLINED:
            return MessageKind.LEAD_DECLINED
        case Topic.NOTIFY_LEAD_EXPIRED:
            return MessageKind.LEAD_EXPIRED
        case Topic.NOTIFY_WEBHOOK_DISABLED:
            return MessageKind.WEBHOOK_DISABLED
        case Topic.NOTIFY_LEAD_ASSIGNED:
            return MessageKind.LEAD_ASSIGNED
    # A lead event reaches people only as news for its sender (fan-out's `_sender_follows`).
    return SENT_LEAD_KINDS.get(topic)


def _facts(lead: Lead) -> LeadFacts:
    known = {f.name: getattr(lead, f.name) for f in fields(LeadFacts) if f.name != "id"}
    return LeadFacts(id=str(lead.id), **known)


async def deliver(session: AsyncSession, delivery_id: int, deps: Deps, *, now: datetime) -> str:
    """Try one delivery inside the caller's transaction. Returns what happened: 'sent',
    'retry', 'dead', 'skipped' or 'not-due' (sent already, locked by another worker, or not
    yet due — a job that runs twice does nothing the second time)."""
    delivery = (
        await session.execute(
            select(Delivery)
            .where(
                Delivery.id == delivery_id,
                Delivery.status == DeliveryStatus.PENDING,
                Delivery.next_attempt_at <= now,
            )
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    if delivery is None:
        return "not-due"
    event = await session.get(OutboxMessage, delivery.outbox_id)
    assert event is not None
    lead = await session.get(Lead, event.lead_id) if event.lead_id else None
    started = time.monotonic()
    status_code: int | None = None
    try:
        outcome = await _send(session, delivery, event, lead, deps, now)
    except ValueError as exc:  # a message that cannot be rendered will never render
        return await _failed(
            session, delivery, event, f"cannot render: {exc}", False, None, started, deps, now
        )
    except SendFailed as exc:
        status_code = exc.status_code
        return await _failed(
            session, delivery, event, str(exc), exc.retryable, status_code, started, deps, now
        )
    except Exception as exc:
        log.exception("delivery %s failed unexpectedly", delivery.id)
        return await _failed(
            session, delivery, event, f"{type(exc).__name__}: {exc}", True, None, started, deps, now
        )
    _record_attempt(session, delivery, now, started, error=None, status_code=status_code)
    delivery.status = DeliveryStatus.SKIPPED if outcome == "skipped" else DeliveryStatus.SENT
    delivery.sent_at = now if outcome != "skipped" else None
    return outcome


def _record_attempt(
    session: AsyncSession,
    delivery: Delivery,
    now: datetime,
    started: float,
    *,
    error: str | None,
    status_code: int | None,
) -> None:
    """Count the try on the delivery and keep it as an attempt (R13: failures are inspected)."""
    delivery.attempts += 1
    delivery.last_error = error
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            at=now,
            succeeded=error is None,
            status_code=status_code,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    )


async def _failed(
    session: AsyncSession,
    delivery: Delivery,
    event: OutboxMessage,
    error: str,
    retryable: bool,
    status_code: int | None,
    started: float,
    deps: Deps,
    now: datetime,
) -> str:
    _record_attempt(session, delivery, now, started, error=error[:2000], status_code=status_code)
    retry_at = next_attempt_at(delivery.attempts, now) if retryable else None
    if delivery.channel == Channel.WEBHOOK:
        await _track_endpoint_failure(session, delivery, now, deps, disable=not retryable)
    if retry_at is None:
        delivery.status = DeliveryStatus.DEAD
        log.warning("delivery %s dead after %s attempts: %s", delivery.id, delivery.attempts, error)
        return "dead"
    delivery.next_attempt_at = retry_at
    return "retry"


async def _send(
    session: AsyncSession,
    delivery: Delivery,
    event: OutboxMessage,
    lead: Lead | None,
    deps: Deps,
    now: datetime,
) -> str:
    match delivery.channel:
        case Channel.LIVE:
            if deps.redis is None:
                raise SendFailed("no Redis connection for live events")
            await live.publish(deps.redis, delivery.recipient, event.payload)
            return "sent"
        case Channel.WEBHOOK:
            return await _send_webhook(session, delivery, event, deps, now)
        case Channel.IN_APP:
            context = await _message_context(session, event, lead, delivery.recipient, deps)
            if context is None:
                return "skipped"
            content = render_in_app(context)
            note = (
                await session.execute(
                    pg_insert(Notification)
                    .values(
                        user_id=uuid.UUID(delivery.recipient),
                        outbox_id=event.id,
                        lead_id=event.lead_id,
                        kind=context.kind.value,
                        title=content.title,
                        body=content.body,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(constraint="uq_notifications_event_user")
                    .returning(Notification.id)
                )
            ).scalar_one_or_none()
            if note is not None:
                # Published once committed (see `published_after_commit`), so a subscriber
                # that then reads its notifications finds this one.
                session.info.setdefault(LIVE_NOTIFICATIONS, []).append(
                    (
                        delivery.recipient,
                        {
                            "id": note,
                            "kind": context.kind.value,
                            "title": content.title,
                            "body": content.body,
                            "leadId": event.lead_id,
                            "createdAt": now.isoformat(),
                        },
                    )
                )
            return "sent"
        case Channel.EMAIL:
            context = await _message_context(session, event, lead, delivery.recipient, deps)
            if context is None:
                return "skipped"
            rendered = render_email(context)
            message = EmailMessage(
                to=delivery.recipient,
                to_name=context.recipient_name,
                subject=rendered.subject,
                text=rendered.text,
                html=rendered.html,
                message_id=f"<delivery-{delivery.id}@partner-leads>",
                headers={
                    "X-Partner-Leads-Event": str((event.payload or {}).get("eventId", "")),
                    "Content-Language": rendered.locale,
                },
            )
            try:
                await send_email(deps.settings, message)
            except MailError as exc:
                raise SendFailed(str(exc), retryable=not exc.permanent) from exc
            return "sent"
    raise SendFailed(f"unknown channel {delivery.channel}", retryable=False)


async def _message_context(
    session: AsyncSession, event: OutboxMessage, lead: Lead | None, recipient: str, deps: Deps
) -> MessageContext | None:
    kind = _kind(event.topic, lead)
    if kind is None:
        return None
    partner = (
        await session.get(Organisation, event.organisation_id) if event.organisation_id else None
    )
    # Each recipient reads in their own language and zone: the customer as the inquiry form
    # said, staff as their user's preferences say; an alert contact who is no user in English.
    recipient_name: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    if kind is MessageKind.LEAD_DECLINED and lead is not None:
        recipient_name = lead.contact_name
        locale, time_zone = lead.customer_locale, lead.customer_time_zone
    else:
        user = await _user(session, recipient)
        if user is not None:
            recipient_name, locale, time_zone = user.name, user.locale, user.time_zone
    payload = event.payload or {}
    return MessageContext(
        locale=locale or DEFAULT_LOCALE,
        time_zone=time_zone or DEFAULT_TIME_ZONE,
        urgent_hours=deps.settings.contact_alert_urgent_hours,
        kind=kind,
        partner_name=partner.name if partner else "the partner",
        lead=_facts(lead) if lead else None,
        recipient_name=recipient_name,
        app_base_url=deps.settings.app_base_url,
        hours_left=payload.get("hoursLeft"),
        webhook_url=payload.get("webhookUrl"),
    )


async def _user(session: AsyncSession, recipient: str) -> User | None:
    try:
        return await session.get(User, uuid.UUID(recipient))
    except ValueError:
        return await session.scalar(select(User).where(User.email == recipient))


async def _send_webhook(
    session: AsyncSession, delivery: Delivery, event: OutboxMessage, deps: Deps, now: datetime
) -> str:
    endpoint = await session.get(WebhookEndpoint, uuid.UUID(delivery.recipient))
    if endpoint is None or not endpoint.active:
        return "skipped"
    # Checked again at delivery: the rules may be stricter here than where it was registered.
    problem = destination_problem(urlsplit(endpoint.url), deps.settings)
    if problem is not None:
        raise SendFailed(f"the endpoint's URL {problem}", retryable=False)
    event_type, payload = webhook_body(event, endpoint)
    occurred = payload.get("occurredAt")
    result = await post_event(
        deps.http,
        endpoint,
        occurred_at=datetime.fromisoformat(occurred) if isinstance(occurred, str) else None,
        message_id=str(payload.get("eventId") or f"evt_{event.id}"),
        event_type=event_type,
        payload=payload,
        now=datetime.now(UTC),  # signed with the wall clock: receivers check freshness
        timeout=deps.settings.webhook_timeout_seconds,
        allow_private=deps.settings.allows_private_webhook_urls,
    )
    if not result.ok:
        raise SendFailed(
            result.error or f"HTTP {result.status_code}",
            retryable=result.retryable,
            status_code=result.status_code,
        )
    if endpoint.failing_since is not None:
        endpoint.failing_since = None
    return "sent"


def webhook_body(event: OutboxMessage, endpoint: WebhookEndpoint) -> tuple[str, dict[str, Any]]:
    """The event type and `data` an endpoint receives for an event: the event itself for the
    lead's partner; for the organisation that sent the lead, its `sent_lead.*` event with only
    what a sender may see (the lead's stage and outcome, never the partner's deal or notes)."""
    payload = event.payload or {}
    sent_event = SENT_LEAD_EVENTS.get(event.topic)
    if sent_event is None or endpoint.organisation_id == event.organisation_id:
        return event.topic, payload
    lead = payload.get("lead")
    return sent_event, {
        "eventId": payload.get("eventId"),
        "type": sent_event,
        "leadId": payload.get("leadId"),
        "partnerOrganisationId": payload.get("organisationId"),
        "action": payload.get("action"),
        "occurredAt": payload.get("occurredAt"),
        "lead": sender_state_json(lead) if isinstance(lead, dict) else None,
    }


async def _track_endpoint_failure(
    session: AsyncSession, delivery: Delivery, now: datetime, deps: Deps, *, disable: bool
) -> None:
    """An endpoint failing for days (or answering 410 Gone) is disabled and its owner told."""
    endpoint = await session.get(WebhookEndpoint, uuid.UUID(delivery.recipient))
    if endpoint is None or not endpoint.active:
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    too_long = now - endpoint.failing_since >= timedelta(
        hours=deps.settings.webhook_disable_after_hours
    )
    if not (disable or too_long):
        return
    endpoint.active = False
    endpoint.disabled_at = now
    await session.execute(
        update(Delivery)
        .where(
            Delivery.channel == Channel.WEBHOOK,
            Delivery.recipient == str(endpoint.id),
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.id != delivery.id,
        )
        .values(status=DeliveryStatus.SKIPPED, last_error="endpoint disabled")
    )
    session.add(
        OutboxMessage(
            topic=Topic.NOTIFY_WEBHOOK_DISABLED,
            organisation_id=endpoint.organisation_id,
            payload={
                "eventId": str(uuid.uuid4()),
                "type": Topic.NOTIFY_WEBHOOK_DISABLED,
                "organisationId": str(endpoint.organisation_id),
                "webhookEndpointId": str(endpoint.id),
                "webhookUrl": endpoint.url,
                "occurredAt": now.isoformat(),
                "audience": Audience.PARTNER_ADMINS,
            },
            created_at=now,
        )
    )
