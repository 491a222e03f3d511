"""What happens without a click: expiry of unanswered leads (R6) and reminders before the
deadline (R7). Set-based: one statement per batch writes the leads, their history and their
outbox rows together; `FOR UPDATE SKIP LOCKED` lets several workers sweep at once without
touching a lead twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import REMINDER_ACTION, REMINDER_EFFECTS, effects_of
from app.domain.lifecycle import ActorKind, LeadAction, LeadStage, LeadState, Transition, transition
from app.jobs import relay, stage
from app.services.history import SNAPSHOT_COLUMNS, SNAPSHOT_MONEY, snapshot_sql
from app.services.lead_state import LEAD_STATE_COLUMNS, lead_state_json_sql

BATCH = 500

# Expiry is the table's system step from RECEIVED; its stages, outcome and effects come from it.
EXPIRE = transition(LeadState(LeadStage.RECEIVED), LeadAction.EXPIRE, actor=ActorKind.SYSTEM)
assert isinstance(EXPIRE, Transition)
_EXPIRE_EFFECTS = effects_of(EXPIRE)
_STEP_PARAMS = {
    "action": EXPIRE.action.value,
    "from_stage": LeadStage.RECEIVED.value,
    "to_stage": EXPIRE.current.stage.value,
    "outcome": EXPIRE.current.outcome.value if EXPIRE.current.outcome else None,
    "system": ActorKind.SYSTEM.value,
    "topics": [effect.topic.value for effect in _EXPIRE_EFFECTS],
    "audiences": [effect.audience.value if effect.audience else "" for effect in _EXPIRE_EFFECTS],
}


def _outbox_cte(t: str, rows: str, *, previous: str, extra: str = "") -> str:
    """The `events` and `outbox` CTEs: a row per effect (`:topics`, `:audiences`) for each lead
    `t` of `rows`, with the payload `history.record_step` writes for a system step. `previous`
    and `extra` are over `s`: the lead's columns and `s.current`, its snapshot. Each lead's
    payload is built once (materialized) and only stamped per effect, rather than built, with
    two snapshots, for every effect."""
    return f"""events AS MATERIALIZED (
    SELECT s.id, s.organisation_id,
        jsonb_build_object(
            'leadId', s.id, 'organisationId', s.organisation_id,
            'action', CAST(:action AS text), 'occurredAt', to_jsonb(:now ::timestamptz),
            'actor', jsonb_build_object('kind', CAST(:system AS text)),
            'previous', {previous}, 'current', s.current, 'changes', '{{}}'::jsonb,
            'lead', s.lead{extra}
        ) AS payload
    FROM (
        SELECT {t}.*, {snapshot_sql(t)} AS current, {lead_state_json_sql(t)} AS lead
        FROM {rows} OFFSET 0
    ) AS s
), outbox AS (
    INSERT INTO outbox (topic, lead_id, organisation_id, payload, created_at)
    SELECT effect.topic, events.id, events.organisation_id,
        events.payload || jsonb_build_object('eventId', gen_random_uuid(), 'type', effect.topic)
        || CASE WHEN effect.audience <> '' THEN jsonb_build_object('audience', effect.audience)
                ELSE '{{}}'::jsonb END,
        :now
    FROM events
    CROSS JOIN unnest(CAST(:topics AS text[]), CAST(:audiences AS text[]))
        AS effect(topic, audience)
)"""


_EXPIRE_OUTBOX = _outbox_cte(
    "e",
    "expired AS e",
    previous="s.current || jsonb_build_object("
    "'stage', :from_stage, 'outcome', NULL, 'version', s.version - 1)",
)

# What the expiry's later steps read of an expired lead: its snapshot, ids and deadline.
_EXPIRED_COLUMNS = ", ".join(
    f"l.{column}"
    for column in dict.fromkeys(
        [
            "id",
            "organisation_id",
            "version",
            "respond_by",
            *SNAPSHOT_COLUMNS.values(),
            *(column for pair in SNAPSHOT_MONEY.values() for column in pair),
            *LEAD_STATE_COLUMNS,
        ]
    )
)

EXPIRE_SQL = text(f"""
WITH due AS (
    SELECT id FROM leads
    WHERE stage = :from_stage AND respond_by <= :now
      AND (CAST(:after AS timestamptz) IS NULL OR respond_by >= CAST(:after AS timestamptz))
    ORDER BY respond_by
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE leads AS l
    SET stage = :to_stage, outcome = :outcome, archived_at = :now, updated_at = :now,
        version = l.version + 1
    FROM due WHERE l.id = due.id
    RETURNING {_EXPIRED_COLUMNS}
), history AS (
    INSERT INTO lead_history
        (lead_id, action, from_stage, to_stage, outcome, actor_kind, changes, at, version)
    SELECT id, :action, :from_stage, :to_stage, :outcome, :system, '{{}}'::jsonb, :now, version
    FROM expired
), {_EXPIRE_OUTBOX}
SELECT count(*), max(respond_by) FROM expired
""")


@dataclass(frozen=True, slots=True)
class Expired:
    count: int
    # The latest deadline of the batch: where the next batch of the same sweep starts.
    last_deadline: datetime | None


async def expire_batch(
    session: AsyncSession, *, now: datetime, batch: int = BATCH, after: datetime | None = None
) -> Expired:
    """Archive up to `batch` RECEIVED leads past their deadline (and not before `after`) as
    EXPIRED, oldest deadline first. A sweep passes each batch's `last_deadline` on as the next
    one's `after`: the leads it expired stay in the open-deadline index until vacuum, and a
    backlog would otherwise be scanned from its start again by every batch (quadratic while
    any long transaction holds vacuum back). A lead skipped because another transaction held it
    is left to the next sweep."""
    result = await session.execute(
        EXPIRE_SQL, {"now": now, "batch": batch, "after": after, **_STEP_PARAMS}
    )
    count, last = result.one()
    if count:
        stage(session, relay())
    return Expired(int(count), last)


async def expire_overdue(session: AsyncSession, *, now: datetime, batch: int = BATCH) -> int:
    """Archive up to `batch` RECEIVED leads past their deadline as EXPIRED. Returns how many."""
    return (await expire_batch(session, now=now, batch=batch)).count


_REMIND_PARAMS = {
    "open_stage": LeadStage.RECEIVED.value,
    "action": REMINDER_ACTION,
    "system": ActorKind.SYSTEM.value,
    "topics": [effect.topic.value for effect in REMINDER_EFFECTS],
    "audiences": [effect.audience.value if effect.audience else "" for effect in REMINDER_EFFECTS],
}

_REMIND_OUTBOX = _outbox_cte(
    "l",
    "marked JOIN leads AS l ON l.id = marked.lead_id",
    previous="s.current",
    extra=", 'hoursLeft', ceil(extract(epoch FROM s.respond_by - :now) / 3600)::int, "
    "'reminderHours', :hours",
)

REMIND_SQL = text(f"""
WITH due AS (
    SELECT l.id FROM leads AS l
    WHERE l.stage = :open_stage
      AND l.respond_by > :now
      AND l.respond_by <= :now + make_interval(hours => :hours)
      AND l.respond_by > :now + make_interval(hours => :after_hours)
      AND NOT EXISTS (
          SELECT 1 FROM lead_reminders AS r WHERE r.lead_id = l.id AND r.hours_before = :hours)
    ORDER BY l.respond_by
    LIMIT :batch
    FOR UPDATE OF l SKIP LOCKED
), marked AS (
    INSERT INTO lead_reminders (lead_id, hours_before, sent_at)
    SELECT id, :hours, :now FROM due
    ON CONFLICT DO NOTHING
    RETURNING lead_id
), {_REMIND_OUTBOX}
SELECT count(*) FROM marked
""")


async def send_reminders(
    session: AsyncSession, *, now: datetime, hours: list[int], batch: int = BATCH
) -> int:
    """Queue each due reminder once per (lead, hours). A lead already closer to its deadline
    than a smaller reminder gets only that one: windows are (next smaller, hours]."""
    ordered = sorted(set(hours))
    sent = 0
    for index, h in enumerate(ordered):
        after = ordered[index - 1] if index > 0 else 0
        result = await session.execute(
            REMIND_SQL,
            {"now": now, "hours": h, "after_hours": after, "batch": batch, **_REMIND_PARAMS},
        )
        sent += int(result.scalar_one())
    if sent:
        stage(session, relay())
    return sent
