"""Recomputing responsiveness scores (SPEC R11) in Postgres, set-based.

One statement counts every profile's leads, applies the formula of
`app.domain.responsiveness` in SQL and upserts `responsiveness_scores`. The single-profile
recompute is the same statement with one more WHERE: `_recompute_statement` builds both, so they
cannot drift, and the tests hold both to the pure function. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, TextClause, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.domain import responsiveness as r
from app.domain.lifecycle import LeadOutcome, LeadStage

# Which leads count, what each one is, and the record per profile. Every profile gets a row
# (LEFT JOIN from business_profiles): one with nothing counted gets the prior score. The leads
# are aggregated by profile before the join, so the aggregate reads them in the order of
# `ix_leads_profile_received` (an index-only scan) and never sorts them all.
_RECORD_SQL = """
WITH counted AS (
    SELECT l.profile_id,
           l.responded_at IS NOT NULL AS answered,
           l.responded_at IS NOT NULL AND l.responded_at <= l.respond_by AS on_time,
           l.responded_at IS NULL AS expired,
           -- Only answers have a response time (the median reads no other); skipping the
           -- numeric arithmetic for the rest saves a third of the recompute.
           CASE WHEN l.responded_at IS NOT NULL THEN
               greatest(extract(epoch FROM l.responded_at - l.received_at), 0)::float8 / 3600.0
           END AS hours
    FROM leads AS l
    WHERE l.profile_id IS NOT NULL{lead_filter}
      AND l.received_at >= CAST(:window_start AS timestamptz)
      AND l.received_at <= CAST(:now AS timestamptz)
      AND (
          l.responded_at IS NOT NULL
          OR l.outcome = '{EXPIRED}'
          OR (l.stage = '{RECEIVED}' AND l.respond_by < CAST(:now AS timestamptz))
      )
),
per_profile AS (
    SELECT c.profile_id,
           count(*) AS leads,
           count(*) FILTER (WHERE c.on_time) AS on_time,
           count(*) FILTER (WHERE c.expired) AS expired,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY c.hours) FILTER (WHERE c.answered)
               AS median_hours
    FROM counted AS c
    GROUP BY c.profile_id
),
record AS (
    SELECT bp.id AS profile_id,
           coalesce(pp.leads, 0) AS leads,
           coalesce(pp.on_time, 0) AS on_time,
           coalesce(pp.expired, 0) AS expired,
           pp.median_hours,
           CAST(:k AS float8) AS k
    FROM business_profiles AS bp
    LEFT JOIN per_profile AS pp ON pp.profile_id = bp.id
    {profile_filter}
),
smoothed AS (
    SELECT record.*,
           coalesce((on_time + k * {P_ON}) / nullif(leads + k, 0), {P_ON}) AS on_time_s,
           coalesce((expired + k * {P_EX}) / nullif(leads + k, 0), {P_EX}) AS expired_s,
           coalesce(
               ((1.0::float8 / (1.0::float8 + median_hours / 24.0::float8)) * (leads - expired)
                + k * {P_SP}) / nullif((leads - expired) + k, 0),
               {P_SP}
           ) AS speed_s
    FROM record
)
INSERT INTO responsiveness_scores AS s (
    profile_id, score, answered_on_time_share, median_response_hours, expired_share,
    leads_considered, computed_at
)
SELECT profile_id,
       round((100 * ({W_ON} * on_time_s + {W_SP} * speed_s
                     + {W_NE} * (1 - expired_s)))::numeric, 2)::float8,
       coalesce(on_time::float8 / nullif(leads, 0), 0),
       median_hours,
       coalesce(expired::float8 / nullif(leads, 0), 0),
       leads,
       CAST(:now AS timestamptz)
FROM smoothed
ON CONFLICT (profile_id) DO UPDATE SET
    score = excluded.score,
    answered_on_time_share = excluded.answered_on_time_share,
    median_response_hours = excluded.median_response_hours,
    expired_share = excluded.expired_share,
    leads_considered = excluded.leads_considered,
    computed_at = excluded.computed_at
"""

_RETURNING = """
RETURNING s.score, s.answered_on_time_share, s.median_response_hours, s.expired_share,
          s.leads_considered
"""


def _float8(value: float) -> str:
    # repr() round-trips, so Postgres reads exactly the double Python uses.
    return f"{value!r}::float8"


def _recompute_statement(*, one_profile: bool) -> TextClause:
    """The recompute for every profile, or (one_profile) only for :profile_id, returning it.
    The formula's constants are written in from the domain module; binds are :now,
    :window_start, :k (and :profile_id)."""
    sql = _RECORD_SQL.format(
        lead_filter="\n      AND l.profile_id = :profile_id" if one_profile else "",
        profile_filter="WHERE bp.id = :profile_id" if one_profile else "",
        EXPIRED=LeadOutcome.EXPIRED.value,
        RECEIVED=LeadStage.RECEIVED.value,
        P_ON=_float8(r.P_ON_TIME),
        P_EX=_float8(r.P_EXPIRED),
        P_SP=_float8(r.PRIOR_SPEED),
        W_ON=_float8(r.W_ON_TIME),
        W_SP=_float8(r.W_SPEED),
        W_NE=_float8(r.W_NOT_EXPIRED),
    )
    return text(sql + _RETURNING if one_profile else sql)


_RECOMPUTE_ALL = _recompute_statement(one_profile=False)
_RECOMPUTE_ONE = _recompute_statement(one_profile=True)


def _parameters(now: datetime, settings: Settings) -> dict[str, Any]:
    if settings.score_prior_weight < 0:
        raise ValueError("score_prior_weight must not be negative")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return {
        "now": now,
        "window_start": now - timedelta(days=settings.score_window_days),
        "k": float(settings.score_prior_weight),
    }


async def recompute_all(session: AsyncSession, *, now: datetime, settings: Settings) -> int:
    """Recompute and store every profile's score in one statement; the number of rows written
    (one per business profile)."""
    await session.flush()
    result = await session.execute(_RECOMPUTE_ALL, _parameters(now, settings))
    assert isinstance(result, CursorResult)  # a statement's result, with its row count
    return int(result.rowcount)


async def recompute_profile(
    session: AsyncSession, profile_id: uuid.UUID, *, now: datetime, settings: Settings
) -> r.Responsiveness | None:
    """Recompute and store one profile's score; None when there is no such profile."""
    await session.flush()
    row = (
        await session.execute(
            _RECOMPUTE_ONE, {**_parameters(now, settings), "profile_id": profile_id}
        )
    ).one_or_none()
    if row is None:
        return None
    return r.Responsiveness(**{f.name: getattr(row, f.name) for f in fields(r.Responsiveness)})


async def get_score(
    session: AsyncSession, profile_id: uuid.UUID
) -> models.ResponsivenessScore | None:
    """The stored score, fresh from the database (a recompute in this session is raw SQL, so an
    instance already in the session could be stale)."""
    return await session.scalar(
        select(models.ResponsivenessScore)
        .where(models.ResponsivenessScore.profile_id == profile_id)
        .execution_options(populate_existing=True)
    )
