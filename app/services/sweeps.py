"""What happens without a click: expiry of unanswered leads (R6) and reminders before the
deadline (R7). Set-based: one statement per batch writes the leads, their history and their
outbox rows together; `FOR UPDATE SKIP LOCKED` lets several workers sweep at once without
touching a lead twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import effects_of
from app.domain.lifecycle import ActorKind, LeadAction, LeadStage, LeadState, Transition, transition
from app.jobs import relay, stage

BATCH = 500

_EXPIRE = transition(LeadState(LeadStage.RECEIVED), LeadAction.EXPIRE, actor=ActorKind.SYSTEM)
assert isinstance(_EXPIRE, Transition)
EXPIRE_TOPICS = [effect.topic for effect in effects_of(_EXPIRE)]
EXPIRE_AUDIENCES = [effect.audience or "" for effect in effects_of(_EXPIRE)]

# The same event shape as app.services.leads.record_step, built in SQL.
_SNAPSHOT = """jsonb_build_object(
    'stage', {t}.stage, 'outcome', {t}.outcome, 'version', {t}.version,
    'deal_name', {t}.deal_name, 'estimated_value', NULL,
    'estimated_purchase_date', {t}.estimated_purchase_date, 'notes', {t}.notes,
    'crm_id', {t}.crm_id, 'campaign_id', {t}.campaign_id)"""

EXPIRE_SQL = text(f"""
WITH due AS (
    SELECT id FROM leads
    WHERE stage = 'RECEIVED' AND respond_by <= :now
    ORDER BY respond_by
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE leads AS l
    SET stage = 'ARCHIVED', outcome = 'EXPIRED', archived_at = :now, updated_at = :now,
        version = l.version + 1
    FROM due WHERE l.id = due.id
    RETURNING l.*
), history AS (
    INSERT INTO lead_history
        (lead_id, action, from_stage, to_stage, outcome, actor_kind, changes, at)
    SELECT id, 'EXPIRE', 'RECEIVED', 'ARCHIVED', 'EXPIRED', 'SYSTEM', '{{}}'::jsonb, :now
    FROM expired
), outbox AS (
    INSERT INTO outbox (topic, lead_id, organisation_id, payload, created_at)
    SELECT effect.topic, e.id, e.organisation_id,
        jsonb_build_object(
            'event_id', gen_random_uuid(), 'type', effect.topic, 'lead_id', e.id,
            'organisation_id', e.organisation_id, 'action', 'EXPIRE',
            'occurred_at', to_jsonb(:now ::timestamptz),
            'actor', jsonb_build_object('kind', 'SYSTEM'),
            'previous', {_SNAPSHOT.format(t="e")} || jsonb_build_object(
                'stage', 'RECEIVED', 'outcome', NULL, 'version', e.version - 1),
            'current', {_SNAPSHOT.format(t="e")},
            'changes', '{{}}'::jsonb
        ) || CASE WHEN effect.audience <> '' THEN jsonb_build_object('audience', effect.audience)
                  ELSE '{{}}'::jsonb END,
        :now
    FROM expired AS e
    CROSS JOIN unnest(CAST(:topics AS text[]), CAST(:audiences AS text[]))
        AS effect(topic, audience)
)
SELECT count(*) FROM expired
""")


async def expire_overdue(session: AsyncSession, *, now: datetime, batch: int = BATCH) -> int:
    """Archive up to `batch` RECEIVED leads past their deadline as EXPIRED. Returns how many."""
    result = await session.execute(
        EXPIRE_SQL,
        {"now": now, "batch": batch, "topics": EXPIRE_TOPICS, "audiences": EXPIRE_AUDIENCES},
    )
    expired = int(result.scalar_one())
    if expired:
        stage(session, relay())
    return expired


REMIND_SQL = text(f"""
WITH due AS (
    SELECT l.id FROM leads AS l
    WHERE l.stage = 'RECEIVED'
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
), outbox AS (
    INSERT INTO outbox (topic, lead_id, organisation_id, payload, created_at)
    SELECT topic, l.id, l.organisation_id,
        jsonb_build_object(
            'event_id', gen_random_uuid(), 'type', topic, 'lead_id', l.id,
            'organisation_id', l.organisation_id, 'action', 'REMIND',
            'occurred_at', to_jsonb(:now ::timestamptz),
            'actor', jsonb_build_object('kind', 'SYSTEM'),
            'hours_left', ceil(extract(epoch FROM l.respond_by - :now) / 3600)::int,
            'reminder_hours', :hours,
            'previous', {_SNAPSHOT.format(t="l")}, 'current', {_SNAPSHOT.format(t="l")},
            'changes', '{{}}'::jsonb
        ) || CASE WHEN topic LIKE 'notify.%' THEN
                 jsonb_build_object('audience', 'partner_contacts') ELSE '{{}}'::jsonb END,
        :now
    FROM marked JOIN leads AS l ON l.id = marked.lead_id
    CROSS JOIN unnest(ARRAY['lead.reminder', 'notify.reminder']) AS topic
)
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
            REMIND_SQL, {"now": now, "hours": h, "after_hours": after, "batch": batch}
        )
        sent += int(result.scalar_one())
    if sent:
        stage(session, relay())
    return sent
