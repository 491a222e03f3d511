"""Which side effects a lifecycle step causes, chosen by (previous, current) state. Pure.

Every step emits its lead event (webhooks, in-app, live subscriptions read it); some also owe a
person a message. Workers deliver both from the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.lifecycle import LeadOutcome, LeadStage, LeadState, Transition

S, O = LeadStage, LeadOutcome


@dataclass(frozen=True, slots=True)
class Effect:
    topic: str  # `lead.*` events, `notify.*` messages to a person
    audience: str | None = None  # who a `notify.*` message is for


def effects_of(step: Transition) -> list[Effect]:
    previous = step.previous.stage if step.previous is not None else None
    match (previous, step.current):
        case (None, LeadState(S.RECEIVED)):
            return [Effect("lead.received"), Effect("notify.new_lead", "partner_contacts")]
        case (S.RECEIVED, LeadState(S.ACCEPTED)):
            return [Effect("lead.accepted")]
        case (S.RECEIVED, LeadState(S.ARCHIVED, O.DECLINED)):
            # The customer is told to choose a different partner (R6).
            return [Effect("lead.declined"), Effect("notify.lead_declined", "customer")]
        case (S.RECEIVED, LeadState(S.ARCHIVED, O.EXPIRED)):
            # Whoever sent the lead hears that nobody answered (R6).
            return [Effect("lead.expired"), Effect("notify.lead_expired", "sender")]
        case (S.ACCEPTED, LeadState(S.ACCEPTED)):
            return [Effect("lead.updated")]
        case (S.ACCEPTED, LeadState(S.ARCHIVED, O.WON)):
            return [Effect("lead.won")]
        case (S.ACCEPTED, LeadState(S.ARCHIVED, O.LOST)):
            return [Effect("lead.lost")]
    raise ValueError(f"no side effects defined for {step}")
