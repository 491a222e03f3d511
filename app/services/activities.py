"""A lead's activity log (issue 11): notes, calls, e-mails and meetings its partner logs.

Append-only: an entry is written once, with its author and time, and never changed through the
API (the table's grants and policies say so too, migration 0014). Logging one is a working step
of the lead (`ADD_ACTIVITY`): allowed while RECEIVED or ACCEPTED, recorded in the history (so
the change feed carries it) and told as a `lead.activity_added` event, in the caller's
transaction. It does not change the lead's version: a note never makes a colleague's edit
conflict.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import LeadActivity
from app.domain.activities import (
    DEFAULT_ACTIVITIES_PAGE,
    MAX_ACTIVITIES_PAGE,
    MAX_ACTIVITY_BODY,
    ActivityKind,
)
from app.domain.lifecycle import LeadAction, TransitionRefused, work_step
from app.domain.validation import Checker
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.history import record_step, snapshot
from app.services.leads import lead_state, own_lead
from app.services.paging import page_size


async def add_activity(
    session: AsyncSession,
    actor: Actor | None,
    lead_id: str,
    kind: ActivityKind,
    body: str | None,
    occurred_at: datetime | None = None,
    *,
    now: datetime,
) -> LeadActivity | Refused:
    """Log an activity on the actor's lead; `occurred_at` (default now) may be earlier, for a
    call logged after it ended, but not before the lead arrived nor in the future."""
    lead = await own_lead(session, actor, lead_id, lock=True)
    if isinstance(lead, Refused):
        return lead
    assert actor is not None
    step = work_step(lead_state(lead), LeadAction.ADD_ACTIVITY)
    if isinstance(step, TransitionRefused):
        return Refused.one(ErrorCode.INVALID_TRANSITION, step.reason)
    check = Checker()
    text = check.text("body", body, max_len=MAX_ACTIVITY_BODY, required=True)
    when = occurred_at if occurred_at is not None else now
    if when.tzinfo is None:
        check.fail("occurred_at", "must carry a time zone offset")
    elif when > now:
        check.fail("occurred_at", "must not be in the future")
    elif when < lead.received_at:
        check.fail("occurred_at", "must not be before the lead was received")
    if check.problems or text is None:
        return Refused.invalid(check.problems)
    by_key = actor.api_key_id is not None
    activity = LeadActivity(
        id=uuid.uuid4(),
        lead_id=lead.id,
        organisation_id=lead.organisation_id,
        author_user_id=None if by_key else actor.user_id,
        author_api_key_id=actor.api_key_id,
        kind=kind.value,
        body=text,
        occurred_at=when,
        created_at=now,
    )
    session.add(activity)
    before = snapshot(lead)
    if lead.last_activity_at is None or when > lead.last_activity_at:
        lead.last_activity_at = when
    entry = {"id": str(activity.id), "kind": kind.value, "occurredAt": when.isoformat()}
    # The history keeps what happened, not the text (a retention job may redact that later);
    # the event carries the text so a receiver needs no follow-up query.
    await record_step(
        session,
        lead,
        step,
        actor,
        now,
        {"activity": entry},
        before,
        event={"activity": {**entry, "body": text}},
    )
    return activity


async def activities_by_ids(
    session: AsyncSession, actor: Actor | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, LeadActivity]:
    """The activities among `ids` that a lead's `activities` would list for the caller: those
    of its organisation's leads, for its lead managers."""
    if actor is None or not actor.manages_leads or not ids:
        return {}
    rows = await session.scalars(
        select(LeadActivity).where(
            LeadActivity.id.in_(ids), LeadActivity.organisation_id == actor.organisation_id
        )
    )
    return {row.id: row for row in rows}


ActivityKey = tuple[uuid.UUID, int, uuid.UUID | None]


def activities_key(
    lead_id: uuid.UUID, first: int | None, after: str | None
) -> ActivityKey | Refused:
    """The loader key of one lead's page of activities, or why the arguments are refused."""
    size = page_size(first, default=DEFAULT_ACTIVITIES_PAGE, maximum=MAX_ACTIVITIES_PAGE)
    if isinstance(size, Refused):
        return size
    cursor = parse_id(after, "after") if after is not None else None
    if isinstance(cursor, Refused):
        return cursor
    return (lead_id, size, cursor)


async def activities_by_lead(
    session: AsyncSession, keys: Sequence[ActivityKey]
) -> dict[ActivityKey, list[LeadActivity]]:
    """Each lead's activities, newest first (`first` of them, older than the activity `after`
    of the same lead), in one statement per distinct (first, after): a page of leads asking
    alike costs one."""
    found: dict[ActivityKey, list[LeadActivity]] = defaultdict(list)
    groups: dict[tuple[int, uuid.UUID | None], list[uuid.UUID]] = defaultdict(list)
    for lead_id, first, after in keys:
        groups[(first, after)].append(lead_id)
    for (first, after), lead_ids in groups.items():
        if first == 0:
            continue
        rank = (
            func.row_number()
            .over(
                partition_by=LeadActivity.lead_id,
                order_by=(LeadActivity.occurred_at.desc(), LeadActivity.id.desc()),
            )
            .label("rank")
        )
        ranked: Any = select(LeadActivity, rank).where(LeadActivity.lead_id.in_(lead_ids))
        if after is not None:
            # The cursor is an activity of the same lead; any other id matches nothing.
            cursor = aliased(LeadActivity)
            ranked = ranked.join(
                cursor, and_(cursor.id == after, cursor.lead_id == LeadActivity.lead_id)
            ).where(
                tuple_(LeadActivity.occurred_at, LeadActivity.id)
                < tuple_(cursor.occurred_at, cursor.id)
            )
        page = ranked.subquery()
        row = aliased(LeadActivity, page)
        statement = select(row).where(page.c.rank <= first).order_by(page.c.lead_id, page.c.rank)
        for activity in await session.scalars(statement):
            found[(activity.lead_id, first, after)].append(activity)
    return found
