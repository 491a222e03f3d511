"""Fan-out: turn committed outbox rows into deliveries, one per (event, channel, recipient).

The unique key (outbox_id, channel, recipient) makes this idempotent: a relay that runs twice,
or on two workers at once, creates each delivery once. Who receives what is decided here, at
event time, so a delivery retried tomorrow goes to the recipients of today."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    BusinessProfile,
    Delivery,
    Lead,
    LocationContact,
    OutboxMessage,
    ProfileLocation,
    User,
    WebhookEndpoint,
)
from app.domain.events import LEAD_EVENTS, SENT_LEAD_EVENTS, Channel, DeliveryStatus, Topic
from app.domain.roles import LEAD_MANAGER_ROLES, Role

BATCH = 500


@dataclass(frozen=True, slots=True)
class Target:
    channel: Channel
    recipient: str


async def fan_out(session: AsyncSession, *, now: datetime, batch: int = BATCH) -> list[int]:
    """Create the deliveries of up to `batch` unprocessed outbox rows; returns new delivery ids."""
    rows = list(
        (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.processed_at.is_(None))
                .order_by(OutboxMessage.id)
                .limit(batch)
                .with_for_update(skip_locked=True)
            )
        ).all()
    )
    if not rows:
        return []
    audience = await _Audience.load(session, rows)
    values: list[dict[str, Any]] = []
    for row in rows:
        for target in audience.targets(row):
            values.append(
                {
                    "outbox_id": row.id,
                    "channel": target.channel,
                    "recipient": target.recipient,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
        row.processed_at = now
    created: list[int] = []
    if values:
        result = await session.execute(
            pg_insert(Delivery)
            .values(values)
            .on_conflict_do_nothing(constraint="uq_deliveries_key")
            .returning(Delivery.id)
        )
        created = list(result.scalars().all())
    await session.flush()
    return created


@dataclass
class _Audience:
    """Everything fan-out needs about a batch's organisations, loaded in a few statements."""

    leads: dict[uuid.UUID, Lead]
    contacts: dict[uuid.UUID, list[str]]  # organisation -> alert e-mails (opt-outs removed)
    managers: dict[uuid.UUID, list[uuid.UUID]]  # organisation -> lead manager user ids
    admins: dict[uuid.UUID, list[tuple[uuid.UUID, str]]]  # organisation -> partner admins
    users: dict[uuid.UUID, User]
    endpoints: dict[uuid.UUID, list[WebhookEndpoint]]

    @classmethod
    async def load(cls, session: AsyncSession, rows: list[OutboxMessage]) -> _Audience:
        lead_ids = {r.lead_id for r in rows if r.lead_id}
        leads = {
            lead.id: lead
            for lead in await session.scalars(select(Lead).where(Lead.id.in_(lead_ids)))
        }
        orgs = {r.organisation_id for r in rows if r.organisation_id}
        sender_users = {lead.sender_user_id for lead in leads.values() if lead.sender_user_id}
        sender_orgs = {
            lead.sender_organisation_id for lead in leads.values() if lead.sender_organisation_id
        }
        contacts: dict[uuid.UUID, list[str]] = defaultdict(list)
        for org_id, email in await session.execute(
            select(BusinessProfile.organisation_id, LocationContact.email)
            .join(ProfileLocation, ProfileLocation.profile_id == BusinessProfile.id)
            .join(LocationContact, LocationContact.location_id == ProfileLocation.id)
            .where(
                BusinessProfile.organisation_id.in_(orgs),
                LocationContact.alerts_opted_out.is_(False),
            )
            .order_by(LocationContact.email)
        ):
            if email.lower() not in {c.lower() for c in contacts[org_id]}:
                contacts[org_id].append(email)
        users = {
            u.id: u
            for u in await session.scalars(
                select(User).where(
                    User.active.is_(True),
                    (User.organisation_id.in_(orgs | sender_orgs)) | User.id.in_(sender_users),
                )
            )
        }
        managers: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        admins: dict[uuid.UUID, list[tuple[uuid.UUID, str]]] = defaultdict(list)
        for user in sorted(users.values(), key=lambda u: u.email):
            roles = set(user.roles)
            if roles & {r.value for r in LEAD_MANAGER_ROLES}:
                managers[user.organisation_id].append(user.id)
            if Role.PARTNER_ADMIN.value in roles:
                admins[user.organisation_id].append((user.id, user.email))
        endpoints: dict[uuid.UUID, list[WebhookEndpoint]] = defaultdict(list)
        for endpoint in await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.organisation_id.in_(orgs | sender_orgs),
                WebhookEndpoint.active.is_(True),
            )
        ):
            endpoints[endpoint.organisation_id].append(endpoint)
        return cls(leads, contacts, managers, admins, users, endpoints)

    def targets(self, row: OutboxMessage) -> list[Target]:
        org = row.organisation_id
        lead = self.leads.get(row.lead_id) if row.lead_id else None
        if org is None:
            return []
        if row.topic in LEAD_EVENTS:
            targets = [
                Target(Channel.WEBHOOK, str(e.id))
                for e in self.endpoints.get(org, [])
                if row.topic in e.events
            ]
            targets.append(Target(Channel.LIVE, str(org)))
            return targets + self._sender_follows(row.topic, lead)
        match row.topic:
            case Topic.PING:
                endpoint = (row.payload or {}).get("webhookEndpointId")
                return [Target(Channel.WEBHOOK, str(endpoint))] if endpoint else []
            case Topic.NOTIFY_NEW_LEAD | Topic.NOTIFY_REMINDER:
                return self._lead_team(org, lead)
            case Topic.NOTIFY_LEAD_ASSIGNED:
                return self._new_owner(org, row.payload or {})
            case Topic.NOTIFY_LEAD_DECLINED:
                recipient = (row.payload or {}).get("recipient") or {}
                email = recipient.get("email") or (lead.contact_email if lead else None)
                return [Target(Channel.EMAIL, email)] if email else []
            case Topic.NOTIFY_LEAD_EXPIRED:
                return self._sender(lead)
            case Topic.NOTIFY_WEBHOOK_DISABLED:
                return self._admins(org)
        return []

    def _partner_team(self, org: uuid.UUID) -> list[Target]:
        return [Target(Channel.EMAIL, email) for email in self.contacts.get(org, [])] + [
            Target(Channel.IN_APP, str(user_id)) for user_id in self.managers.get(org, [])
        ]

    def _manager(self, org: uuid.UUID, user_id: Any) -> User | None:
        """The user if still an active lead manager of `org` (a stale owner is nobody)."""
        try:
            user = self.users.get(uuid.UUID(str(user_id)))
        except ValueError:
            return None
        if user is None or user.organisation_id != org:
            return None
        return user if user.id in self.managers.get(org, []) else None

    def _lead_team(self, org: uuid.UUID, lead: Lead | None) -> list[Target]:
        """A lead's alerts and reminders: its owner alone, by e-mail and in-app; while it has
        none (or the owner is no longer a lead manager), the whole team as before."""
        owner = self._manager(org, lead.owner_user_id) if lead and lead.owner_user_id else None
        if owner is not None:
            return _by_mail_and_in_app(owner.id, owner.email)
        return self._partner_team(org)

    def _new_owner(self, org: uuid.UUID, payload: dict[str, Any]) -> list[Target]:
        """The owner the assignment named, when someone else gave them the lead: routing's new
        owner hears of the lead by its alert, and nobody is told what they did themselves."""
        owner_id = (payload.get("lead") or {}).get("ownerId")
        actor = payload.get("actor") or {}
        if owner_id is None or actor.get("kind") == "SYSTEM" or actor.get("userId") == owner_id:
            return []
        owner = self._manager(org, owner_id)
        return _by_mail_and_in_app(owner.id, owner.email) if owner is not None else []

    def _sender(self, lead: Lead | None) -> list[Target]:
        """Platform staff who sent the lead, or the partner that referred it (R6)."""
        if lead is None:
            return []
        if lead.sender_user_id and lead.sender_user_id in self.users:
            user = self.users[lead.sender_user_id]
            return _by_mail_and_in_app(user.id, user.email)
        if lead.sender_organisation_id:
            return self._admins(lead.sender_organisation_id)
        return []  # a customer's own inquiry: the customer is not told it expired

    def _sender_follows(self, topic: str, lead: Lead | None) -> list[Target]:
        """What the organisation that sent the lead hears of it: its endpoints subscribed to
        the `sent_lead.*` event, and its sender by e-mail and in-app (expiry has its own
        message, `notify.lead_expired`; a reroute is told by the lead it becomes)."""
        sent_event = SENT_LEAD_EVENTS.get(topic)
        if sent_event is None or lead is None or lead.sender_organisation_id is None:
            return []
        if lead.sender_organisation_id == lead.organisation_id:
            return []
        targets = [
            Target(Channel.WEBHOOK, str(e.id))
            for e in self.endpoints.get(lead.sender_organisation_id, [])
            if sent_event in e.events
        ]
        if topic not in (Topic.LEAD_EXPIRED, Topic.LEAD_REROUTED):
            targets += self._sender(lead)
        return targets

    def _admins(self, org: uuid.UUID) -> list[Target]:
        return [
            t for user, email in self.admins.get(org, []) for t in _by_mail_and_in_app(user, email)
        ]


def _by_mail_and_in_app(user_id: uuid.UUID, email: str) -> list[Target]:
    return [Target(Channel.EMAIL, email), Target(Channel.IN_APP, str(user_id))]


async def due_deliveries(session: AsyncSession, *, now: datetime, limit: int = 200) -> list[int]:
    found = await session.scalars(
        select(Delivery.id)
        .where(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    return list(found.all())
