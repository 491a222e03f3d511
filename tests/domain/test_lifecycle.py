"""The lead lifecycle table, checked against an expected table written out by hand."""

from __future__ import annotations

import pytest

from app.domain.lifecycle import (
    ActorKind,
    LeadAction,
    LeadOutcome,
    LeadStage,
    LeadState,
    Transition,
    TransitionRefused,
    allowed_actions,
    step_for,
    transition,
    work_step,
)
from tests.domain.lifecycle_names import SYSTEM, USER, A, Out, S

# What the product says the lifecycle is (SPEC), written independently of TRANSITIONS:
# (stage before, action) -> (stage after, outcome after). Everything not listed is refused.
EXPECTED: dict[tuple[LeadStage | None, LeadAction], tuple[LeadStage, LeadOutcome | None]] = {
    (None, A.RECEIVE): (S.RECEIVED, None),
    (S.RECEIVED, A.ACCEPT): (S.ACCEPTED, None),
    (S.RECEIVED, A.DECLINE): (S.ARCHIVED, Out.DECLINED),
    (S.RECEIVED, A.EXPIRE): (S.ARCHIVED, Out.EXPIRED),
    (S.ACCEPTED, A.UPDATE): (S.ACCEPTED, None),
    (S.ACCEPTED, A.ADD_TEAM_MEMBER): (S.ACCEPTED, None),
    (S.ACCEPTED, A.REMOVE_TEAM_MEMBER): (S.ACCEPTED, None),
    (S.ACCEPTED, A.MARK_WON): (S.ARCHIVED, Out.WON),
    (S.ACCEPTED, A.MARK_LOST): (S.ARCHIVED, Out.LOST),
}
# Only the system receives (through intake) and expires leads.
EXPECTED_SYSTEM_ONLY = {A.RECEIVE, A.EXPIRE}

STAGES: list[LeadStage | None] = [None, *LeadStage]


def state_at(stage: LeadStage | None) -> LeadState | None:
    """A plausible lead state at `stage` (archived leads always carry an outcome)."""
    if stage is None:
        return None
    if stage is S.ARCHIVED:
        return LeadState(S.ARCHIVED, Out.WON)
    return LeadState(stage)


def expected_for(
    stage: LeadStage | None, action: LeadAction, actor: ActorKind
) -> tuple[LeadStage, LeadOutcome | None] | None:
    if actor is USER and action in EXPECTED_SYSTEM_ONLY:
        return None
    return EXPECTED.get((stage, action))


ALL_CASES = [
    pytest.param(stage, action, actor, id=f"{actor}-{stage or 'NEW'}-{action}")
    for actor in ActorKind
    for stage in STAGES
    for action in LeadAction
]


@pytest.mark.parametrize(("stage", "action", "actor"), ALL_CASES)
def test_every_stage_action_pair_follows_the_expected_table(
    stage: LeadStage | None, action: LeadAction, actor: ActorKind
) -> None:
    previous = state_at(stage)
    expected = expected_for(stage, action, actor)

    result = transition(previous, action, actor=actor)

    if expected is None:
        assert isinstance(result, TransitionRefused), result
        assert result.stage == stage
        assert result.action is action
        assert action.value in result.reason
    else:
        after_stage, after_outcome = expected
        assert result == Transition(previous, LeadState(after_stage, after_outcome), action)


def test_expected_table_sets_an_outcome_exactly_when_the_lead_is_archived() -> None:
    for (stage, action), (after_stage, after_outcome) in EXPECTED.items():
        assert (after_outcome is not None) == (after_stage is S.ARCHIVED), (stage, action)


@pytest.mark.parametrize(("stage", "action"), list(EXPECTED))
def test_transition_sets_an_outcome_exactly_when_the_lead_is_archived(
    stage: LeadStage | None, action: LeadAction
) -> None:
    result = transition(state_at(stage), action, actor=SYSTEM)

    assert isinstance(result, Transition)
    assert (result.current.outcome is not None) == (result.current.stage is S.ARCHIVED)


def test_default_actor_is_a_user() -> None:
    assert isinstance(transition(None, A.RECEIVE), TransitionRefused)
    assert isinstance(transition(LeadState(S.RECEIVED), A.ACCEPT), Transition)


@pytest.mark.parametrize(
    ("stage", "action"), [(None, A.RECEIVE), (S.RECEIVED, A.EXPIRE)], ids=["RECEIVE", "EXPIRE"]
)
def test_system_only_actions_are_refused_for_users_even_from_the_right_stage(
    stage: LeadStage | None, action: LeadAction
) -> None:
    result = transition(state_at(stage), action, actor=USER)

    assert isinstance(result, TransitionRefused)
    assert result.reason == f"{action.value} is done by the system only"
    # ...while the system may do exactly the same thing.
    assert isinstance(transition(state_at(stage), action, actor=SYSTEM), Transition)


@pytest.mark.parametrize("outcome", list(LeadOutcome))
@pytest.mark.parametrize("actor", list(ActorKind))
def test_archived_leads_allow_no_action(outcome: LeadOutcome, actor: ActorKind) -> None:
    archived = LeadState(S.ARCHIVED, outcome)
    for action in LeadAction:
        result = transition(archived, action, actor=actor)

        assert isinstance(result, TransitionRefused), action
        assert result.stage is S.ARCHIVED
        assert action.value in result.reason
        if not (actor is USER and action in EXPECTED_SYSTEM_ONLY):
            assert f"archived ({outcome.value})" in result.reason


def test_refusal_on_a_lead_that_does_not_exist_says_so() -> None:
    result = transition(None, A.ACCEPT, actor=SYSTEM)

    assert result == TransitionRefused(
        None, A.ACCEPT, "ACCEPT is not allowed on a lead that does not exist"
    )


def test_refusal_on_an_open_lead_names_its_stage() -> None:
    result = transition(LeadState(S.RECEIVED), A.MARK_WON)

    assert result == TransitionRefused(
        S.RECEIVED, A.MARK_WON, "MARK_WON is not allowed on a lead in stage RECEIVED"
    )


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (S.RECEIVED, [A.ACCEPT, A.DECLINE]),
        (
            S.ACCEPTED,
            [A.UPDATE, A.ADD_TEAM_MEMBER, A.REMOVE_TEAM_MEMBER, A.MARK_WON, A.MARK_LOST],
        ),
        (S.ARCHIVED, []),
    ],
)
def test_allowed_actions_for_a_user(stage: LeadStage, expected: list[LeadAction]) -> None:
    assert allowed_actions(stage) == expected
    assert allowed_actions(stage, actor=USER) == expected


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        (S.RECEIVED, [A.ACCEPT, A.DECLINE, A.EXPIRE]),
        (
            S.ACCEPTED,
            [A.UPDATE, A.ADD_TEAM_MEMBER, A.REMOVE_TEAM_MEMBER, A.MARK_WON, A.MARK_LOST],
        ),
        (S.ARCHIVED, []),
    ],
)
def test_allowed_actions_for_the_system_include_expiry(
    stage: LeadStage, expected: list[LeadAction]
) -> None:
    assert allowed_actions(stage, actor=SYSTEM) == expected


@pytest.mark.parametrize("actor", list(ActorKind))
@pytest.mark.parametrize("stage", list(LeadStage))
def test_allowed_actions_agree_with_transition(stage: LeadStage, actor: ActorKind) -> None:
    succeeding = [
        action
        for action in LeadAction
        if isinstance(transition(state_at(stage), action, actor=actor), Transition)
    ]
    assert sorted(allowed_actions(stage, actor=actor)) == sorted(succeeding)


# --- working a lead (issue 11) -------------------------------------------------------------------


@pytest.mark.parametrize("action", [A.ADD_ACTIVITY, A.CONTACT_CUSTOMER])
@pytest.mark.parametrize("stage", list(LeadStage))
def test_working_actions_are_allowed_while_open_and_move_nothing(
    action: LeadAction, stage: LeadStage
) -> None:
    previous = state_at(stage)
    assert previous is not None
    step = work_step(previous, action)
    if stage is S.ARCHIVED:
        assert step == TransitionRefused(
            S.ARCHIVED, action, f"{action.value} is not allowed on an archived (WON) lead"
        )
    else:
        assert step == Transition(previous, previous, action)
    # The same through `step_for`, which services use for any action.
    assert step_for(previous, action) == step
    # Never part of the lifecycle table, so never in allowedActions.
    assert isinstance(transition(previous, action), TransitionRefused)
    assert action not in allowed_actions(stage)


def test_work_step_is_for_working_actions_only() -> None:
    with pytest.raises(ValueError, match="not a working action"):
        work_step(LeadState(S.RECEIVED), A.ACCEPT)
    assert step_for(LeadState(S.RECEIVED), A.ACCEPT) == transition(LeadState(S.RECEIVED), A.ACCEPT)
