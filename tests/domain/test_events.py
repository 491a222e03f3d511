"""Which side effects each lifecycle step causes."""

from __future__ import annotations

import pytest

from app.domain.events import Effect, effects_of
from app.domain.lifecycle import (
    LeadAction,
    LeadStage,
    LeadState,
    Transition,
    transition,
    work_step,
)
from tests.domain.lifecycle_names import SYSTEM, A, Out, S

# Every step of the lifecycle table and the effects it must cause, written out by hand.
EXPECTED_EFFECTS: list[tuple[LeadStage | None, LeadAction, list[Effect]]] = [
    (None, A.RECEIVE, [Effect("lead.received"), Effect("notify.new_lead", "partner_contacts")]),
    (S.RECEIVED, A.ACCEPT, [Effect("lead.accepted")]),
    (
        S.RECEIVED,
        A.DECLINE,
        [Effect("lead.declined"), Effect("notify.lead_declined", "customer")],
    ),
    (S.RECEIVED, A.EXPIRE, [Effect("lead.expired"), Effect("notify.lead_expired", "sender")]),
    (S.ACCEPTED, A.UPDATE, [Effect("lead.updated")]),
    (S.ACCEPTED, A.ADD_TEAM_MEMBER, [Effect("lead.updated")]),
    (S.ACCEPTED, A.REMOVE_TEAM_MEMBER, [Effect("lead.updated")]),
    (S.ACCEPTED, A.MARK_WON, [Effect("lead.won")]),
    (S.ACCEPTED, A.MARK_LOST, [Effect("lead.lost")]),
]


@pytest.mark.parametrize(
    ("stage", "action", "expected"),
    [pytest.param(*case, id=f"{case[0] or 'NEW'}-{case[1]}") for case in EXPECTED_EFFECTS],
)
def test_each_lifecycle_step_causes_its_effects(
    stage: LeadStage | None, action: LeadAction, expected: list[Effect]
) -> None:
    previous = LeadState(stage) if stage is not None else None
    step = transition(previous, action, actor=SYSTEM)
    assert isinstance(step, Transition)

    assert effects_of(step) == expected


def test_every_step_emits_exactly_one_lead_event_first() -> None:
    for _, _, effects in EXPECTED_EFFECTS:
        assert effects[0].topic.startswith("lead.")
        assert effects[0].audience is None
        assert all(e.topic.startswith("notify.") for e in effects[1:])


@pytest.mark.parametrize(
    "step",
    [
        Transition(None, LeadState(S.ACCEPTED), A.ACCEPT),
        Transition(LeadState(S.RECEIVED), LeadState(S.RECEIVED), A.UPDATE),
        Transition(LeadState(S.ACCEPTED), LeadState(S.ARCHIVED, Out.DECLINED), A.DECLINE),
        Transition(LeadState(S.RECEIVED), LeadState(S.ARCHIVED, Out.WON), A.MARK_WON),
        Transition(LeadState(S.ARCHIVED, Out.WON), LeadState(S.ACCEPTED), A.ACCEPT),
        Transition(LeadState(S.RECEIVED), LeadState(S.ARCHIVED), A.DECLINE),
    ],
    ids=[
        "new-to-accepted",
        "received-to-received",
        "accepted-declined",
        "received-won",
        "archived-reopened",
        "archived-without-outcome",
    ],
)
def test_a_step_outside_the_lifecycle_has_no_effects_and_raises(step: Transition) -> None:
    with pytest.raises(ValueError, match="no side effects defined"):
        effects_of(step)


@pytest.mark.parametrize("stage", [S.RECEIVED, S.ACCEPTED])
def test_working_steps_leave_the_stage_and_say_what_they_did(stage: LeadStage) -> None:
    """Issue 11: a logged activity is its own event; contacting the customer is an update."""
    state = LeadState(stage)
    noted = work_step(state, A.ADD_ACTIVITY)
    contacted = work_step(state, A.CONTACT_CUSTOMER)
    assert isinstance(noted, Transition) and isinstance(contacted, Transition)
    assert noted.current == contacted.current == state
    assert effects_of(noted) == [Effect("lead.activity_added")]
    assert effects_of(contacted) == [Effect("lead.updated")]
