"""Which side effects a lifecycle step causes, chosen by (previous, current) state; and the
vocabularies of delivering them: topics, audiences, channels, delivery statuses. Pure.

Every step emits its lead event (webhooks, in-app, live subscriptions read it); some also owe a
person a message. Workers deliver both from the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.lifecycle import LeadAction, LeadOutcome, LeadStage, LeadState, Transition

S, O = LeadStage, LeadOutcome


class Topic(StrEnum):
    """What an outbox row is about: `lead.*` events (webhooks, live), `notify.*` messages owed
    to a person (e-mail, in-app)."""

    LEAD_RECEIVED = "lead.received"
    LEAD_ACCEPTED = "lead.accepted"
    LEAD_DECLINED = "lead.declined"
    LEAD_UPDATED = "lead.updated"
    LEAD_WON = "lead.won"
    LEAD_LOST = "lead.lost"
    LEAD_EXPIRED = "lead.expired"
    LEAD_REMINDER = "lead.reminder"
    # Declined or expired and offered to the next partner (return to pool).
    LEAD_REROUTED = "lead.rerouted"
    # A note, call, e-mail or meeting logged on the lead (`addLeadNote`).
    LEAD_ACTIVITY_ADDED = "lead.activity_added"
    # The lead's owner changed (assignLead, or routing as the lead arrived).
    LEAD_ASSIGNED = "lead.assigned"
    # A test event an admin sends to one endpoint (`pingWebhookEndpoint`).
    PING = "ping"
    NOTIFY_NEW_LEAD = "notify.new_lead"
    NOTIFY_REMINDER = "notify.reminder"
    NOTIFY_LEAD_DECLINED = "notify.lead_declined"
    NOTIFY_LEAD_EXPIRED = "notify.lead_expired"
    NOTIFY_WEBHOOK_DISABLED = "notify.webhook_disabled"
    # The new owner is told a colleague gave them the lead.
    NOTIFY_LEAD_ASSIGNED = "notify.lead_assigned"

    @property
    def is_lead_event(self) -> bool:
        return self.value.startswith("lead.")


# The events partner tooling may subscribe to over webhooks: every lead event.
LEAD_EVENTS: tuple[Topic, ...] = tuple(t for t in Topic if t.is_lead_event)

# What the organisation that sent a lead hears of it: the partner's lead event it follows from
# -> the event its webhooks receive. Derived when a lead event is fanned out, so each is one
# outbox row with one id, whoever it is delivered to.
SENT_LEAD_EVENTS: dict[str, str] = {
    Topic.LEAD_ACCEPTED: "sent_lead.accepted",
    Topic.LEAD_DECLINED: "sent_lead.declined",
    Topic.LEAD_WON: "sent_lead.won",
    Topic.LEAD_LOST: "sent_lead.lost",
    Topic.LEAD_EXPIRED: "sent_lead.expired",
    Topic.LEAD_REROUTED: "sent_lead.rerouted",
}
# Every event a webhook endpoint may subscribe to.
WEBHOOK_EVENTS: tuple[str, ...] = (*LEAD_EVENTS, *SENT_LEAD_EVENTS.values())


class Audience(StrEnum):
    """Who a `notify.*` message is for; resolved to recipients when it is fanned out."""

    PARTNER_CONTACTS = "partner_contacts"  # the profile's alert contacts and lead managers
    CUSTOMER = "customer"
    SENDER = "sender"
    PARTNER_ADMINS = "partner_admins"
    OWNER = "owner"  # the lead's owner named by the event (`lead.ownerId`)


class Channel(StrEnum):
    EMAIL = "EMAIL"
    WEBHOOK = "WEBHOOK"
    IN_APP = "IN_APP"
    LIVE = "LIVE"


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    DEAD = "DEAD"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True, slots=True)
class Effect:
    topic: Topic
    audience: Audience | None = None  # who a `notify.*` message is for


# A reminder is not a lifecycle step: the sweep emits these while a lead waits for an answer,
# with this as the event's action.
REMINDER_ACTION = "REMIND"
REMINDER_EFFECTS: tuple[Effect, ...] = (
    Effect(Topic.LEAD_REMINDER),
    Effect(Topic.NOTIFY_REMINDER, Audience.PARTNER_CONTACTS),
)


def effects_of(step: Transition) -> list[Effect]:
    # Working actions leave the stage as it is; they are told apart by what they did.
    if step.action is LeadAction.ADD_ACTIVITY:
        return [Effect(Topic.LEAD_ACTIVITY_ADDED)]
    if step.action is LeadAction.CONTACT_CUSTOMER:
        return [Effect(Topic.LEAD_UPDATED)]
    if step.action is LeadAction.ASSIGN:
        # The relay tells the new owner only when someone else gave them the lead.
        return [Effect(Topic.LEAD_ASSIGNED), Effect(Topic.NOTIFY_LEAD_ASSIGNED, Audience.OWNER)]
    previous = step.previous.stage if step.previous is not None else None
    match (previous, step.current):
        case (None, LeadState(S.RECEIVED)):
            return [
                Effect(Topic.LEAD_RECEIVED),
                Effect(Topic.NOTIFY_NEW_LEAD, Audience.PARTNER_CONTACTS),
            ]
        case (S.RECEIVED, LeadState(S.ACCEPTED)):
            return [Effect(Topic.LEAD_ACCEPTED)]
        case (S.RECEIVED, LeadState(S.ARCHIVED, O.DECLINED)):
            # The customer is told to choose a different partner (R6).
            return [
                Effect(Topic.LEAD_DECLINED),
                Effect(Topic.NOTIFY_LEAD_DECLINED, Audience.CUSTOMER),
            ]
        case (S.RECEIVED, LeadState(S.ARCHIVED, O.EXPIRED)):
            # Whoever sent the lead hears that nobody answered (R6).
            return [Effect(Topic.LEAD_EXPIRED), Effect(Topic.NOTIFY_LEAD_EXPIRED, Audience.SENDER)]
        case (S.ACCEPTED, LeadState(S.ACCEPTED)):
            return [Effect(Topic.LEAD_UPDATED)]
        case (S.ACCEPTED, LeadState(S.ARCHIVED, O.WON)):
            return [Effect(Topic.LEAD_WON)]
        case (S.ACCEPTED, LeadState(S.ARCHIVED, O.LOST)):
            return [Effect(Topic.LEAD_LOST)]
    raise ValueError(f"no side effects defined for {step}")
