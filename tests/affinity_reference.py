"""Similar-deal affinity as it was computed before the counts table: one aggregate over every
answered lead of the candidates. The tests hold `matching.affinity_sql`, which reads
`affinity_counts`, to it. Holds no tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.domain.lifecycle import LeadOutcome, LeadStage
from app.services.matching import PRIOR_WEIGHT, LeadNeed, need_attributes

_ATTRIBUTES: tuple[tuple[str, str, bool], ...] = (
    ("industry", "l.industry", True),
    ("company_size", "l.company_size", False),
    ("type", "l.type", False),
    ("solution_area", "l.solution_area", True),
)


def reference_affinity_sql(
    need: LeadNeed, organisations_sql: str, *, since: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """The statement `matching.affinity_sql` was, word for word."""
    accepted = (
        f"(l.stage = '{LeadStage.ACCEPTED.value}' "
        f"OR l.outcome IN ('{LeadOutcome.WON.value}', '{LeadOutcome.LOST.value}'))"
    )
    answered = (
        f"(l.stage = '{LeadStage.ACCEPTED.value}' OR l.outcome IN ('{LeadOutcome.WON.value}', "
        f"'{LeadOutcome.LOST.value}', '{LeadOutcome.DECLINED.value}'))"
    )
    params: dict[str, Any] = {"aff_k": PRIOR_WEIGHT}
    given = dict(need_attributes(need))
    counts: list[str] = []
    shares: list[str] = []
    outer: list[str] = []
    for name, column, folded in _ATTRIBUTES:
        if name not in given:
            continue
        params[f"aff_{name}"] = given[name]
        match = (
            f"lower({column}) = lower(CAST(:aff_{name} AS text))"
            if folded
            else f"{column} = CAST(:aff_{name} AS text)"
        )
        counts.append(f"count(*) FILTER (WHERE {match}) AS n_{name}")
        counts.append(f"count(*) FILTER (WHERE {accepted} AND {match}) AS acc_{name}")
        share = (
            f"((c.acc_{name} + CAST(:aff_k AS float8) * c.p) "
            f"/ (c.n_{name} + CAST(:aff_k AS float8)))"
        )
        shares.append(share)
        outer.append(f"c.n_{name}, c.acc_{name}, {share} AS s_{name}")
    score = f"(({' + '.join(shares)}) / {len(shares)})" if shares else "c.p"
    window = ""
    if since is not None:
        window = "\n          AND l.received_at >= CAST(:aff_since AS timestamptz)"
        params["aff_since"] = since
    inner_counts = "".join(f",\n                   {c}" for c in counts)
    outer_columns = "".join(f",\n       {c}" for c in outer)
    sql = f"""
SELECT c.organisation_id, c.answered, c.accepted, c.p{outer_columns},
       {score} AS affinity
FROM (
    SELECT g.*, (g.accepted + 1)::float8 / (g.answered + 2)::float8 AS p
    FROM (
        SELECT l.organisation_id,
               count(*) AS answered,
               count(*) FILTER (WHERE {accepted}) AS accepted{inner_counts}
        FROM leads AS l
        WHERE l.organisation_id IN ({organisations_sql})
          AND {answered}{window}
        GROUP BY l.organisation_id
    ) AS g
) AS c"""
    return sql, params
