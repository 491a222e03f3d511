"""A partner's pipeline (SPEC R14): counts by stage and outcome, acceptance and win rates,
response times and values per currency, overall and per group, in one statement.

Definitions (also in the README and the schema):
- received: every lead received in the range; accepted: leads the partner accepted, whatever
  became of them since (ACCEPTED, WON, LOST); declined, expired, won, lost: archived outcomes.
- acceptance rate = accepted / (accepted + declined). An expired lead was never answered, so it
  is neither accepted nor declined: Partner Center archives it as its own outcome ("if you don't
  respond within the allotted time, we'll archive it as Expired") and tells partners to be
  choosy with the deals they accept and decline. Counting it as "not accepted" would mix being
  slow with being selective; `expired` is reported beside the rate instead.
- win rate = won / (won + lost); open accepted leads count in neither.
- response time = responded_at - received_at of answered (accepted or declined) leads, in hours.
- values per currency, never summed across currencies: the estimated value of accepted leads,
  the final value of won leads.

One statement: the filtered leads once (`base`), counts and percentiles by GROUPING SETS (the
overall figures and the groups together), and money per currency by the same sets, folded into
one JSON array per group. It reads only the partner's leads through the indexes that lead with
organisation_id (a sender's: `ix_leads_sender_user`, over received_at); most of its time is the
aggregation, not the read (README, "Pipeline").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadTab, LeadType
from app.domain.roles import Role
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused
from app.services.paging import as_utc

MAX_RANGE = timedelta(days=731)  # two years (a leap day included)
DEFAULT_RANGE = timedelta(days=365)
# A bounded answer (R20): more groups than this is refused, not truncated. Two years by month,
# type and company size (24 x 3 x 9 = 648) fit; a grouping by campaign over years may not.
MAX_GROUPS = 1000


class PipelineAudience(StrEnum):
    RECEIVED = "RECEIVED"  # the leads the caller's partner received (lead managers)
    SENT = "SENT"  # the leads the caller sent (platform marketers and sellers, referrers)


class PipelineGrouping(StrEnum):
    TYPE = "TYPE"
    MONTH = "MONTH"
    INDUSTRY = "INDUSTRY"
    COMPANY_SIZE = "COMPANY_SIZE"
    SENDER_ORGANISATION = "SENDER_ORGANISATION"
    CAMPAIGN = "CAMPAIGN"
    PARTNER = "PARTNER"


# The only SQL a grouping contributes: a fixed expression per name, never the caller's text.
# Months are UTC months for now.
KEY_SQL: dict[PipelineGrouping, str] = {
    PipelineGrouping.TYPE: "l.type",
    PipelineGrouping.MONTH: "to_char(l.received_at AT TIME ZONE 'UTC', 'YYYY-MM')",
    PipelineGrouping.INDUSTRY: "l.industry",
    PipelineGrouping.COMPANY_SIZE: "l.company_size",
    PipelineGrouping.SENDER_ORGANISATION: "l.sender_organisation_id::text",
    PipelineGrouping.CAMPAIGN: "l.campaign_id",
    PipelineGrouping.PARTNER: "l.organisation_id::text",
}
SENDER_ROLES = frozenset({Role.MARKETER, Role.SELLER})


@dataclass(frozen=True, slots=True)
class PipelineFilter:
    received_from: datetime | None = None
    received_to: datetime | None = None
    types: list[LeadType] | None = None
    sources: list[LeadTab] | None = None
    audience: PipelineAudience | None = None


@dataclass(frozen=True, slots=True)
class Amount:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Figures:
    received: int
    accepted: int
    declined: int
    expired: int
    won: int
    lost: int
    median_response_hours: float | None
    p90_response_hours: float | None
    estimated_value: list[Amount] = field(default_factory=list)
    won_value: list[Amount] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float | None:
        answered = self.accepted + self.declined
        return self.accepted / answered if answered else None

    @property
    def win_rate(self) -> float | None:
        closed = self.won + self.lost
        return self.won / closed if closed else None


@dataclass(frozen=True, slots=True)
class PipelineGroup:
    key: dict[PipelineGrouping, str | None]
    figures: Figures


@dataclass(frozen=True, slots=True)
class Pipeline:
    overall: Figures
    groups: list[PipelineGroup]


_SQL = """
WITH base AS (
    SELECT {keys},
           l.stage, l.outcome,
           CASE WHEN l.responded_at IS NOT NULL AND (l.stage = 'ACCEPTED'
                     OR l.outcome IN ('WON', 'LOST', 'DECLINED'))
                THEN greatest(extract(epoch FROM l.responded_at - l.received_at), 0)::float8
                     / 3600.0 END AS hours,
           l.estimated_value_amount, l.estimated_value_currency,
           l.final_value_amount, l.final_value_currency
    FROM leads AS l
    WHERE {scope}
      AND l.received_at >= :received_from AND l.received_at < :received_to
      AND l.type = ANY(:types) AND l.tab = ANY(:tabs)
),
counts AS (
    SELECT {grouping} AS g, {selected},
           count(*) AS received,
           count(*) FILTER (WHERE stage = 'ACCEPTED' OR outcome IN ('WON', 'LOST')) AS accepted,
           count(*) FILTER (WHERE outcome = 'DECLINED') AS declined,
           count(*) FILTER (WHERE outcome = 'EXPIRED') AS expired,
           count(*) FILTER (WHERE outcome = 'WON') AS won,
           count(*) FILTER (WHERE outcome = 'LOST') AS lost,
           -- The filters keep unanswered leads out of the sorts (nulls would be ignored anyway).
           percentile_cont(0.5) WITHIN GROUP (ORDER BY hours) FILTER (WHERE hours IS NOT NULL)
               AS median_hours,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY hours) FILTER (WHERE hours IS NOT NULL)
               AS p90_hours
    FROM base
    GROUP BY {sets}
),
amounts AS (
    SELECT {key_names}, 'E' AS kind, estimated_value_currency AS currency,
           estimated_value_amount AS amount
    FROM base
    WHERE estimated_value_currency IS NOT NULL
      AND (stage = 'ACCEPTED' OR outcome IN ('WON', 'LOST'))
    UNION ALL
    SELECT {key_names}, 'W', final_value_currency, final_value_amount
    FROM base
    WHERE final_value_currency IS NOT NULL AND outcome = 'WON'
),
money AS (
    SELECT {grouping} AS g, {selected}, kind, currency, sum(amount) AS amount
    FROM amounts
    GROUP BY {money_sets}
),
folded AS (
    SELECT g, {key_names},
           jsonb_agg(jsonb_build_array(kind, currency, amount::text) ORDER BY kind, currency)
               AS amounts
    FROM money
    GROUP BY g, {key_names}
)
SELECT c.*, f.amounts
FROM counts AS c
LEFT JOIN folded AS f ON f.g = c.g AND {join}
ORDER BY c.g DESC, {order}
LIMIT :limit
"""


def _validate(
    actor: Actor | None, filter: PipelineFilter, group_by: list[PipelineGrouping], now: datetime
) -> tuple[PipelineAudience, datetime, datetime] | Refused:
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to see a pipeline")
    sender = bool(actor.roles & SENDER_ROLES) or actor.manages_leads
    audience = filter.audience or (
        PipelineAudience.RECEIVED if actor.manages_leads else PipelineAudience.SENT
    )
    allowed = actor.manages_leads if audience is PipelineAudience.RECEIVED else sender
    if not allowed:
        return Refused.one(ErrorCode.FORBIDDEN, "your roles do not show this pipeline")
    if len(set(group_by)) != len(group_by):
        return Refused.one(ErrorCode.VALIDATION, "names a grouping twice", "group_by")
    if audience is PipelineAudience.RECEIVED and PipelineGrouping.PARTNER in group_by:
        return Refused.one(
            ErrorCode.VALIDATION, "grouping by partner is for the leads you sent", "group_by"
        )
    bounds: dict[str, datetime | None] = {}
    for name, value in (("from", filter.received_from), ("to", filter.received_to)):
        bounds[name] = as_utc(value) if value is not None else None
        if value is not None and bounds[name] is None:
            return Refused.one(ErrorCode.VALIDATION, "is out of range", "filter", name)
    received_to = bounds["to"] or now
    received_from = bounds["from"] or received_to - DEFAULT_RANGE
    if received_from > received_to:
        return Refused.one(ErrorCode.VALIDATION, "is after `to`", "filter", "from")
    if received_to - received_from > MAX_RANGE:
        return Refused.one(
            ErrorCode.VALIDATION, "the range may span at most two years", "filter", "to"
        )
    if filter.types == [] or filter.sources == []:
        field_name = "types" if filter.types == [] else "sources"
        return Refused.one(ErrorCode.VALIDATION, "names nothing", "filter", field_name)
    if filter.sources and LeadTab.FAVORITES in filter.sources:
        return Refused.one(
            ErrorCode.VALIDATION, "a source is MARKETPLACE or QUALIFIED", "filter", "sources"
        )
    return audience, received_from, received_to


async def pipeline(
    session: AsyncSession,
    actor: Actor | None,
    filter: PipelineFilter | None = None,
    group_by: list[PipelineGrouping] | None = None,
    *,
    now: datetime | None = None,
) -> Pipeline | Refused:
    """The caller's pipeline over leads received in [from, to) (default: the last year)."""
    filter = filter or PipelineFilter()
    group_by = list(group_by or [])
    checked = _validate(actor, filter, group_by, now or datetime.now(UTC))
    if isinstance(checked, Refused):
        return checked
    assert actor is not None
    audience, received_from, received_to = checked
    if audience is PipelineAudience.RECEIVED:
        # The wall allows a partner's leads and the ones its organisation sent; the pipeline
        # is the partner's own.
        scope, who = "l.organisation_id = :who", actor.organisation_id
    else:
        scope, who = "l.sender_user_id = :who", actor.user_id
    statement = text(_statement(scope, group_by)).bindparams(
        who=who,
        received_from=received_from,
        received_to=received_to,
        types=[t.value for t in (filter.types or list(LeadType))],
        tabs=[t.value for t in (filter.sources or [LeadTab.MARKETPLACE, LeadTab.QUALIFIED])],
        # The overall row, MAX_GROUPS groups, and one more to tell that there are too many.
        limit=MAX_GROUPS + 2,
    )
    rows = (await session.execute(statement)).mappings().all()
    if len(rows) > MAX_GROUPS + 1:
        return Refused.one(
            ErrorCode.VALIDATION,
            f"more than {MAX_GROUPS} groups: narrow the filter or group by less",
            "group_by",
        )
    return _pipeline(rows, group_by)


def _statement(scope: str, group_by: list[PipelineGrouping]) -> str:
    names = [f"k{i}" for i in range(len(group_by))] or ["k0"]
    keys = ", ".join(f"{KEY_SQL[g]} AS k{i}" for i, g in enumerate(group_by)) or "NULL::text AS k0"
    key_names = ", ".join(names)
    if group_by:
        grouping = "GROUPING(k0)"
        sets = f"GROUPING SETS ((), ({key_names}))"
        money_sets = f"GROUPING SETS ((kind, currency), ({key_names}, kind, currency))"
    else:
        # The overall figures alone: one group, no sort by a key.
        grouping, sets, money_sets = "1", "()", "kind, currency"
    return _SQL.format(
        keys=keys,
        scope=scope,
        grouping=grouping,
        key_names=key_names,
        selected=key_names if group_by else "NULL::text AS k0",
        sets=sets,
        money_sets=money_sets,
        join=" AND ".join(f"f.{k} IS NOT DISTINCT FROM c.{k}" for k in names),
        order=", ".join(f"c.{k} NULLS LAST" for k in names),
    )


def _figures(row: Any) -> Figures:
    estimated: list[Amount] = []
    won: list[Amount] = []
    amounts = row["amounts"] or []
    for kind, currency, amount in json.loads(amounts) if isinstance(amounts, str) else amounts:
        (estimated if kind == "E" else won).append(Amount(Decimal(amount), currency))
    return Figures(
        received=row["received"],
        accepted=row["accepted"],
        declined=row["declined"],
        expired=row["expired"],
        won=row["won"],
        lost=row["lost"],
        median_response_hours=row["median_hours"],
        p90_response_hours=row["p90_hours"],
        estimated_value=estimated,
        won_value=won,
    )


def _pipeline(rows: Any, group_by: list[PipelineGrouping]) -> Pipeline:
    overall = Figures(0, 0, 0, 0, 0, 0, None, None)
    groups: list[PipelineGroup] = []
    for row in rows:
        if row["g"] == 1:
            overall = _figures(row)
        else:
            key = {g: row[f"k{i}"] for i, g in enumerate(group_by)}
            groups.append(PipelineGroup(key=key, figures=_figures(row)))
    return Pipeline(overall=overall, groups=groups)
