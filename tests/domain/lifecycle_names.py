"""The lifecycle's enums under the short names the domain tests' tables use. Holds no tests."""

from __future__ import annotations

from app.domain.lifecycle import ActorKind, LeadAction, LeadOutcome, LeadStage

S, A, Out = LeadStage, LeadAction, LeadOutcome
USER, SYSTEM = ActorKind.USER, ActorKind.SYSTEM
