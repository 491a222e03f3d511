"""Many lead actions at once, all or nothing, with a dry run.

Each action goes through the same `act_on` as its single mutation, so it writes the same history
row and the same outbox rows, and stages the same jobs. The leads are loaded and locked in one
statement. The whole run happens in a savepoint of the caller's transaction: kept when every
action succeeded and it is not a dry run; otherwise rolled back, with the jobs the actions staged
dropped, so a dry run or a refused run leaves nothing behind (no history, no outbox, no job).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Lead
from app.jobs import stage, take_staged
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.leads import LeadCommand, act_on, lock_own_leads

MAX_BULK_ACTIONS = 1000


@dataclass(frozen=True, slots=True)
class BulkAction:
    """One lead command, as its single mutation would take it."""

    lead_id: str
    command: LeadCommand
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What one action did (or would do), or why it was refused. `stage`, `outcome` and
    `version` are the lead's after the action; `changes` are as its history entry records."""

    index: int
    lead_id: str
    refused: Refused | None = None
    stage: str | None = None
    outcome: str | None = None
    version: int | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.refused is None


@dataclass(frozen=True, slots=True)
class BulkResult:
    applied: bool
    results: list[ActionResult]

    @property
    def refused_count(self) -> int:
        return sum(1 for r in self.results if not r.ok)


def check_actor(actor: Actor | None) -> Refused | None:
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to work on leads")
    if not actor.manages_leads:
        return Refused.one(
            ErrorCode.FORBIDDEN, "only partner admins and referrals admins work on leads"
        )
    return None


def check_count(count: int, *path: str) -> Refused | None:
    if count > MAX_BULK_ACTIONS:
        return Refused.one(
            ErrorCode.VALIDATION, f"at most {MAX_BULK_ACTIONS} actions per call", *path
        )
    if count == 0:
        return Refused.one(ErrorCode.VALIDATION, "give at least one action", *path)
    return None


async def run_actions(
    session: AsyncSession,
    actor: Actor | None,
    actions: Sequence[BulkAction],
    *,
    dry_run: bool,
    now: datetime,
) -> BulkResult | Refused:
    """Every action in order, in one savepoint: applied only if all succeed and not `dry_run`.
    A refusal of the whole call (who is asking, how many actions) comes back as `Refused`;
    each action's own refusal is in its result."""
    refused = check_actor(actor) or check_count(len(actions), "actions")
    if refused is not None:
        return refused
    assert actor is not None
    ids: list[uuid.UUID | Refused] = [parse_id(a.lead_id, "lead_id") for a in actions]
    carried = take_staged(session)  # jobs staged before the run are not the run's to drop
    savepoint = await session.begin_nested()
    try:
        leads = await lock_own_leads(session, actor, [i for i in ids if isinstance(i, uuid.UUID)])
        results = [
            await _one(session, actor, index, action, lead_id, leads, now)
            for index, (action, lead_id) in enumerate(zip(actions, ids, strict=True))
        ]
        applied = not dry_run and all(r.ok for r in results)
        if applied:
            await savepoint.commit()
        else:
            await savepoint.rollback()
            take_staged(session)
    except BaseException:
        if savepoint.is_active:
            await savepoint.rollback()
        take_staged(session)
        raise
    finally:
        ours = take_staged(session)
        for job in (*carried, *ours):
            stage(session, job)
    return BulkResult(applied=applied, results=results)


async def _one(
    session: AsyncSession,
    actor: Actor,
    index: int,
    action: BulkAction,
    lead_id: uuid.UUID | Refused,
    leads: dict[uuid.UUID, Lead],
    now: datetime,
) -> ActionResult:
    if isinstance(lead_id, Refused):
        return ActionResult(index, action.lead_id, refused=lead_id)
    lead = leads.get(lead_id)
    if lead is None:
        # Another partner's lead does not exist for the caller, as with the single mutations.
        return ActionResult(
            index,
            action.lead_id,
            refused=Refused.one(ErrorCode.NOT_FOUND, "no such lead", "lead_id"),
        )
    outcome = await act_on(
        session, actor, lead, action.command, expected_version=action.expected_version, now=now
    )
    if isinstance(outcome, Refused):
        # A refused command may have set attributes before it found a problem: the next action
        # on this lead must see the lead as the database has it.
        await session.refresh(lead)
        return ActionResult(index, action.lead_id, refused=outcome)
    return ActionResult(
        index,
        action.lead_id,
        stage=lead.stage,
        outcome=lead.outcome,
        version=lead.version,
        changes=dict(outcome.changes),
    )


async def leads_by_crm_id(
    session: AsyncSession, actor: Actor, crm_ids: Sequence[str]
) -> dict[str, list[uuid.UUID]]:
    """The caller's leads carrying each of `crm_ids`, in one statement (a CRM id is the
    partner's own: nothing makes it unique, so one may name several leads)."""
    found: dict[str, list[uuid.UUID]] = {}
    if not crm_ids:
        return found
    rows = await session.execute(
        select(Lead.crm_id, Lead.id)
        .where(Lead.organisation_id == actor.organisation_id, Lead.crm_id.in_(set(crm_ids)))
        .order_by(Lead.id)
    )
    for crm_id, lead_id in rows.all():
        if crm_id is not None:
            found.setdefault(crm_id, []).append(lead_id)
    return found
