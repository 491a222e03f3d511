"""Similar-deal counts (SPEC R12): what each partner answered, kept beside the leads so that
affinity (`app.services.matching`) reads a few rows per partner instead of every answered lead.

`affinity_counts` holds, per organisation, attribute, value and calendar month (UTC) of
`received_at`, how many of its leads it answered and how many of those it accepted:

    attribute       value                      one row per lead, for each attribute it has
    all             ''                         every answered lead (the partner's overall rate)
    industry        lower(industry)            compared case-insensitively, like the formula
    company_size    company_size
    type            type
    solution_area   lower(solution_area)

accepted = still ACCEPTED, or archived WON or LOST; answered = those and archived DECLINED.

Why months: the window (`matching.AFFINITY_WINDOW`) ages answers out at query time, without
rewriting counts: the months that lie wholly inside the window are summed, and the one month the
window starts in is corrected from the leads themselves (`window_split`), from whichever side of
that month is shorter (at most half a month of one partner's leads, through
`ix_leads_org_received`). The result is exactly the count over `received_at >= since`. Every
month is kept, so affinity without a window (suggestions) is the sum of all of them.

Who keeps it: a step that changes what a lead counts as (accept, decline) stages
`app.jobs.refresh_affinity` for its organisation (`history.record_step`); the job recomputes
that organisation's rows from its leads, so a job run twice, or late, writes the same rows. A
cron rebuilds every organisation's rows, for what a lost job (Redis down) or a change outside the
lifecycle (a restore, a manual fix) left behind. Refreshes take one advisory lock, so each
computes from a snapshot taken after the previous one committed and none overwrites a newer
count with an older one. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadOutcome, LeadStage, LeadState, Transition

# The overall row's attribute (its value is '').
ALL = "all"
# (attribute, lead column, compared case-insensitively), in the formula's order.
ATTRIBUTES: tuple[tuple[str, str, bool], ...] = (
    ("industry", "industry", True),
    ("company_size", "company_size", False),
    ("type", "type", False),
    ("solution_area", "solution_area", True),
)

_ACCEPTED_OUTCOMES = (LeadOutcome.WON, LeadOutcome.LOST)
_ANSWERED_OUTCOMES = (*_ACCEPTED_OUTCOMES, LeadOutcome.DECLINED)
# A key of pg_advisory_xact_lock that serialises refreshes ("affinity" in ASCII).
_LOCK_KEY = 0x616666696E697479


def _outcomes(outcomes: Sequence[LeadOutcome]) -> str:
    return ", ".join(f"'{o.value}'" for o in outcomes)


def accepted_sql(alias: str) -> str:
    """The lead `alias` counts as accepted."""
    return (
        f"({alias}.stage = '{LeadStage.ACCEPTED.value}' "
        f"OR {alias}.outcome IN ({_outcomes(_ACCEPTED_OUTCOMES)}))"
    )


def answered_sql(alias: str) -> str:
    """The lead `alias` counts as answered."""
    return (
        f"({alias}.stage = '{LeadStage.ACCEPTED.value}' "
        f"OR {alias}.outcome IN ({_outcomes(_ANSWERED_OUTCOMES)}))"
    )


def _counts_as(state: LeadState | None) -> tuple[bool, bool]:
    """(answered, accepted) of a lead in `state`, as `answered_sql` / `accepted_sql` read it."""
    if state is None:
        return False, False
    accepted = state.stage is LeadStage.ACCEPTED or state.outcome in _ACCEPTED_OUTCOMES
    return accepted or state.outcome in _ANSWERED_OUTCOMES, accepted


def answers_changed(step: Transition) -> bool:
    """Whether `step` changes what its lead counts as in the partner's affinity."""
    return _counts_as(step.previous) != _counts_as(step.current)


def month_of(moment: datetime) -> date:
    """The bucket of a lead received at `moment`: its calendar month in UTC."""
    return moment.astimezone(UTC).date().replace(day=1)


def _next_month(month: date) -> date:
    if month.month == 12:
        return month.replace(year=month.year + 1, month=1)
    return month.replace(month=month.month + 1)


def window_split(since: datetime) -> tuple[date, datetime, datetime, int]:
    """How to count the leads received at or after `since` from month buckets: (first month to
    sum, start and end of the correction range, its sign). Early in a month: sum from that
    month and subtract what came before `since`; late: sum from the next month and add what
    came from `since` on."""
    month = month_of(since)
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    following = _next_month(month)
    end = datetime(following.year, following.month, 1, tzinfo=UTC)
    if since - start <= end - since:
        return month, start, since, -1
    return following, since, end, 1


def key_values(given: Mapping[str, str]) -> list[tuple[str, str]]:
    """The (attribute, SQL value) keys a need reads: the overall row and each given attribute,
    binding `:aff_<attribute>`."""
    keys = [(ALL, "''")]
    for name, _, folded in ATTRIBUTES:
        if name in given:
            bound = f"CAST(:aff_{name} AS text)"
            keys.append((name, f"lower({bound})" if folded else bound))
    return keys


def counts_sql(
    given: Mapping[str, str], organisations_sql: str, *, since: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """A SELECT of (organisation_id, answered, accepted, n_<attr>, acc_<attr> for each attribute
    in `given`) for the organisations `organisations_sql` yields that answered a lead (received
    at or after `since`, when given). Binds are prefixed `aff_`."""
    params: dict[str, Any] = {f"aff_{name}": value for name, value in given.items()}
    keys = key_values(given)
    key_rows = ", ".join(f"('{name}', {value})" for name, value in keys)
    parts = [
        f"""SELECT ac.organisation_id, ac.attribute, ac.answered, ac.accepted
        FROM (VALUES {key_rows}) AS k(attribute, value)
        JOIN affinity_counts AS ac ON ac.attribute = k.attribute AND ac.value = k.value
        WHERE ac.organisation_id IN ({organisations_sql}){
            " AND ac.month >= CAST(:aff_from_month AS date)" if since else ""
        }"""
    ]
    if since is not None:
        from_month, fix_from, fix_to, sign = window_split(since)
        params.update(
            aff_from_month=from_month, aff_fix_from=fix_from, aff_fix_to=fix_to, aff_sign=sign
        )
        hits = [f"('{ALL}', true)"]
        for name, column, folded in ATTRIBUTES:
            if name in given:
                lead_value = f"lower(l.{column})" if folded else f"l.{column}"
                hits.append(f"('{name}', {lead_value} = {dict(keys)[name]})")
        parts.append(
            f"""SELECT l.organisation_id, k.attribute, CAST(:aff_sign AS int),
               CASE WHEN {accepted_sql("l")} THEN CAST(:aff_sign AS int) ELSE 0 END
        FROM leads AS l
        CROSS JOIN LATERAL (VALUES {", ".join(hits)}) AS k(attribute, hit)
        WHERE l.organisation_id IN ({organisations_sql})
          AND l.received_at >= CAST(:aff_fix_from AS timestamptz)
          AND l.received_at < CAST(:aff_fix_to AS timestamptz)
          AND {answered_sql("l")} AND k.hit"""
        )
    sums = [
        f"sum(u.answered) FILTER (WHERE u.attribute = '{ALL}') AS answered",
        f"sum(u.accepted) FILTER (WHERE u.attribute = '{ALL}') AS accepted",
    ]
    for name, _ in keys[1:]:
        sums.append(
            f"coalesce(sum(u.answered) FILTER (WHERE u.attribute = '{name}'), 0) AS n_{name}"
        )
        sums.append(
            f"coalesce(sum(u.accepted) FILTER (WHERE u.attribute = '{name}'), 0) AS acc_{name}"
        )
    union = "\n        UNION ALL\n        ".join(parts)
    sql = f"""
        SELECT u.organisation_id, {", ".join(sums)}
        FROM (
        {union}
        ) AS u(organisation_id, attribute, answered, accepted)
        GROUP BY u.organisation_id
        HAVING sum(u.answered) FILTER (WHERE u.attribute = '{ALL}') > 0"""
    return sql, params


def _refresh_sql(*, some: bool) -> str:
    """The upsert of every organisation's rows (or, `some`, those in :organisation_ids) as the
    leads say now, deleting rows of values and months no longer answered."""
    among = "organisation_id = ANY(CAST(:organisation_ids AS uuid[]))"
    key_rows = ", ".join(
        [f"('{ALL}', '')"]
        + [
            f"('{name}', {f'lower(l.{column})' if folded else f'l.{column}'})"
            for name, column, folded in ATTRIBUTES
        ]
    )
    return f"""
WITH fresh AS (
    SELECT l.organisation_id, k.attribute, k.value,
           CAST(date_trunc('month', l.received_at AT TIME ZONE 'UTC') AS date) AS month,
           count(*) AS answered,
           count(*) FILTER (WHERE {accepted_sql("l")}) AS accepted
    FROM leads AS l
    CROSS JOIN LATERAL (VALUES {key_rows}) AS k(attribute, value)
    WHERE {answered_sql("l")} AND k.value IS NOT NULL{f" AND l.{among}" if some else ""}
    GROUP BY l.organisation_id, k.attribute, k.value, month
), written AS (
    INSERT INTO affinity_counts AS ac (organisation_id, attribute, value, month, answered, accepted)
    SELECT organisation_id, attribute, value, month, answered, accepted FROM fresh
    ON CONFLICT (organisation_id, attribute, value, month) DO UPDATE
        SET answered = excluded.answered, accepted = excluded.accepted
        WHERE (ac.answered, ac.accepted) IS DISTINCT FROM (excluded.answered, excluded.accepted)
    RETURNING 1
), removed AS (
    DELETE FROM affinity_counts AS ac
    WHERE {f"ac.{among} AND " if some else ""}NOT EXISTS (
        SELECT 1 FROM fresh AS f
        WHERE f.organisation_id = ac.organisation_id AND f.attribute = ac.attribute
          AND f.value = ac.value AND f.month = ac.month)
    RETURNING 1
)
SELECT (SELECT count(*) FROM written) + (SELECT count(*) FROM removed)
"""


_REFRESH_SOME = text(_refresh_sql(some=True))
_REFRESH_ALL = text(_refresh_sql(some=False))


async def refresh(
    session: AsyncSession, organisation_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Bring the counts of `organisation_ids` (of every organisation when None) in line with
    their leads; the number of rows written or deleted."""
    await session.flush()
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    if organisation_ids is None:
        result = await session.execute(_REFRESH_ALL)
    else:
        ids = sorted(set(organisation_ids))
        if not ids:
            return 0
        result = await session.execute(_REFRESH_SOME, {"organisation_ids": ids})
    return int(result.scalar_one())
