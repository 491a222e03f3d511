"""The lead lifecycle as data.

One table maps (stage, action) to (next stage, outcome). `transition()` is the only place that
reads it; services, the database's CHECK constraints, `allowedActions` and the schema's docs all
follow from it. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LeadType(StrEnum):
    CUSTOMER_INQUIRY = "CUSTOMER_INQUIRY"
    MARKETING_QUALIFIED = "MARKETING_QUALIFIED"
    SALES_QUALIFIED = "SALES_QUALIFIED"


class LeadStage(StrEnum):
    RECEIVED = "RECEIVED"
    ACCEPTED = "ACCEPTED"
    ARCHIVED = "ARCHIVED"


class LeadOutcome(StrEnum):
    WON = "WON"
    LOST = "LOST"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


class LeadAction(StrEnum):
    RECEIVE = "RECEIVE"
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
    EXPIRE = "EXPIRE"
    UPDATE = "UPDATE"
    ADD_TEAM_MEMBER = "ADD_TEAM_MEMBER"
    REMOVE_TEAM_MEMBER = "REMOVE_TEAM_MEMBER"
    MARK_WON = "MARK_WON"
    MARK_LOST = "MARK_LOST"
    # Not a stage change: the system offered an archived lead to the next partner (return to
    # pool). Recorded in history only, so it is not in TRANSITIONS.
    REROUTE = "REROUTE"
    # Working a lead without moving it (issue 11): recorded in history and the change feed,
    # allowed at WORKING_STAGES, never in TRANSITIONS (allowedActions lists what the table does).
    ADD_ACTIVITY = "ADD_ACTIVITY"
    CONTACT_CUSTOMER = "CONTACT_CUSTOMER"
    # Not a stage change either: the customer's personal data was redacted (retention or an
    # erasure request, app/services/privacy.py).
    REDACT = "REDACT"
    # Not a stage change either: the lead's owner changed (a person, or routing as it arrived).
    ASSIGN = "ASSIGN"


class ActorKind(StrEnum):
    USER = "USER"
    SYSTEM = "SYSTEM"
    # A partner's integration, acting with an API key (its permissions are a user's).
    API_KEY = "API_KEY"


class LeadTab(StrEnum):
    """The three top-level tabs (R5): two by where a lead came from, one personal."""

    MARKETPLACE = "MARKETPLACE"
    QUALIFIED = "QUALIFIED"
    FAVORITES = "FAVORITES"


def tab_of(lead_type: LeadType) -> LeadTab:
    """The tab a lead lives in by type (R5); the database derives the same column."""
    return LeadTab.MARKETPLACE if lead_type is LeadType.CUSTOMER_INQUIRY else LeadTab.QUALIFIED


@dataclass(frozen=True, slots=True)
class LeadState:
    stage: LeadStage
    outcome: LeadOutcome | None = None


S, A, O = LeadStage, LeadAction, LeadOutcome

# (stage before, action) -> state after. `None` as the stage before is a lead not yet received.
TRANSITIONS: dict[tuple[LeadStage | None, LeadAction], LeadState] = {
    (None, A.RECEIVE): LeadState(S.RECEIVED),
    (S.RECEIVED, A.ACCEPT): LeadState(S.ACCEPTED),
    (S.RECEIVED, A.DECLINE): LeadState(S.ARCHIVED, O.DECLINED),
    (S.RECEIVED, A.EXPIRE): LeadState(S.ARCHIVED, O.EXPIRED),
    (S.ACCEPTED, A.UPDATE): LeadState(S.ACCEPTED),
    (S.ACCEPTED, A.ADD_TEAM_MEMBER): LeadState(S.ACCEPTED),
    (S.ACCEPTED, A.REMOVE_TEAM_MEMBER): LeadState(S.ACCEPTED),
    (S.ACCEPTED, A.MARK_WON): LeadState(S.ARCHIVED, O.WON),
    (S.ACCEPTED, A.MARK_LOST): LeadState(S.ARCHIVED, O.LOST),
}

# Actions no person may take: the system receives leads (through intake) and expires them.
SYSTEM_ONLY: frozenset[LeadAction] = frozenset({A.RECEIVE, A.EXPIRE})

# Every state the table can put a lead in; the database's CHECK constraints accept exactly
# these (tests/db/test_lifecycle_constraints.py proves it).
REACHABLE_STATES: frozenset[LeadState] = frozenset(TRANSITIONS.values())

# Archived without the partner ever working it: the customer may be offered to another partner
# (return to pool).
UNWORKED_OUTCOMES: frozenset[LeadOutcome] = frozenset({O.DECLINED, O.EXPIRED})


@dataclass(frozen=True, slots=True)
class Transition:
    previous: LeadState | None
    current: LeadState
    action: LeadAction


@dataclass(frozen=True, slots=True)
class TransitionRefused:
    stage: LeadStage | None
    action: LeadAction
    reason: str


def transition(
    previous: LeadState | None, action: LeadAction, *, actor: ActorKind = ActorKind.USER
) -> Transition | TransitionRefused:
    """Apply `action` to a lead in state `previous`, or say why it cannot be applied."""
    stage = previous.stage if previous is not None else None
    if actor is ActorKind.USER and action in SYSTEM_ONLY:
        return TransitionRefused(stage, action, f"{action.value} is done by the system only")
    current = TRANSITIONS.get((stage, action))
    if current is None:
        where = f"a lead in stage {stage.value}" if stage else "a lead that does not exist"
        if previous is not None and previous.outcome is not None:
            where = f"an archived ({previous.outcome.value}) lead"
        return TransitionRefused(stage, action, f"{action.value} is not allowed on {where}")
    return Transition(previous, current, action)


# Where a person may work a lead without moving it: partners may call the customer before they
# accept (Partner Center's advice for contact-me leads); an archived lead is closed. A lead
# changes hands while the partner still has something to do with it: an archived lead keeps
# the owner it had, as a record of who worked it.
WORKING_STAGES: dict[LeadAction, frozenset[LeadStage]] = {
    A.ADD_ACTIVITY: frozenset({S.RECEIVED, S.ACCEPTED}),
    A.CONTACT_CUSTOMER: frozenset({S.RECEIVED, S.ACCEPTED}),
    A.ASSIGN: frozenset({S.RECEIVED, S.ACCEPTED}),
}


def work_step(previous: LeadState, action: LeadAction) -> Transition | TransitionRefused:
    """A working action (WORKING_STAGES) on a lead in state `previous`: the lead stays where it
    is, or the refusal says why."""
    stages = WORKING_STAGES.get(action)
    if stages is None:
        raise ValueError(f"{action.value} is not a working action")
    if previous.stage not in stages:
        where = f"a lead in stage {previous.stage.value}"
        if previous.outcome is not None:
            where = f"an archived ({previous.outcome.value}) lead"
        return TransitionRefused(
            previous.stage, action, f"{action.value} is not allowed on {where}"
        )
    return Transition(previous, previous, action)


def step_for(
    previous: LeadState | None, action: LeadAction, *, actor: ActorKind = ActorKind.USER
) -> Transition | TransitionRefused:
    """`transition`, or `work_step` for a working action."""
    if action in WORKING_STAGES and previous is not None:
        return work_step(previous, action)
    return transition(previous, action, actor=actor)


def allowed_actions(stage: LeadStage, *, actor: ActorKind = ActorKind.USER) -> list[LeadAction]:
    """The actions `actor` may take on a lead at `stage`, in table order."""
    return [
        action
        for (from_stage, action) in TRANSITIONS
        if from_stage is stage and not (actor is ActorKind.USER and action in SYSTEM_ONLY)
    ]
