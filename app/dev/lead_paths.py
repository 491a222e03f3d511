"""The paths through the lifecycle that seeded leads take, and how often. Each path is walked
through `transition()` once, when the module loads: a path the table does not allow fails
there, and a seeded lead's state is where its path ends."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.lifecycle import (
    SYSTEM_ONLY,
    ActorKind,
    LeadAction,
    LeadState,
    LeadType,
    Transition,
    TransitionRefused,
    transition,
)

A = LeadAction


def actor_of(action: LeadAction) -> ActorKind:
    """Who takes `action` on a seeded lead: the system where only it may, else a person."""
    return ActorKind.SYSTEM if action in SYSTEM_ONLY else ActorKind.USER


def walk(actions: tuple[LeadAction, ...]) -> tuple[Transition, ...]:
    """The lifecycle's steps along `actions` from a lead not yet received."""
    steps: list[Transition] = []
    state: LeadState | None = None
    for action in actions:
        step = transition(state, action, actor=actor_of(action))
        if isinstance(step, TransitionRefused):
            raise ValueError(f"not a path through the lifecycle: {step.reason}")
        steps.append(step)
        state = step.current
    return tuple(steps)


@dataclass(frozen=True)
class SeededPath:
    steps: tuple[Transition, ...]
    weight: int

    @property
    def end(self) -> LeadState:
        return self.steps[-1].current


# How seeded leads get where they are, and how often: mostly open work, every archived outcome
# present. The order and weights fix the random stream, so bench worlds stay comparable.
SEEDED_PATHS: tuple[SeededPath, ...] = (
    SeededPath(walk((A.RECEIVE,)), 35),
    SeededPath(walk((A.RECEIVE, A.ACCEPT)), 25),
    SeededPath(walk((A.RECEIVE, A.ACCEPT, A.MARK_WON)), 12),
    SeededPath(walk((A.RECEIVE, A.ACCEPT, A.MARK_LOST)), 10),
    SeededPath(walk((A.RECEIVE, A.DECLINE)), 10),
    SeededPath(walk((A.RECEIVE, A.EXPIRE)), 8),
)
# The first leads of an inbox take every path with every type, in order; the rest draw both.
COVERING_LEADS = len(SEEDED_PATHS) * len(LeadType)
