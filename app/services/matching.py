"""Similar deals (SPEC R12): what each partner accepts and declines, used to route new leads.

Affinity of a partner for a need, learned from the partner's answered leads (accepted: still
ACCEPTED, or archived WON/LOST; declined: archived DECLINED; expired leads are responsiveness,
R11, not taste):

    p       = (accepted + 1) / (answered + 2)                 overall accept rate, Laplace-smoothed
    share_a = (accepted_a + K * p) / (answered_a + K)         K = 5, for each attribute a of the
                                                              need (industry, company size, lead
                                                              type, solution area) that is given,
                                                              over the leads with the same value
    affinity = mean(share_a)     (p when the need gives no attribute)   0..1
    nudge    = 0.9 + 0.2 * affinity                                      0.9..1.1

A partner with no history has affinity 0.5 and nudge 1.0: unknown is neutral. Few answered leads
with a value barely move the share away from the partner's own rate; many do. Industry and
solution area compare case-insensitively.

The counts come from `affinity_counts` (per partner, attribute value and month, kept by the
workers: `app.services.affinity_counts`), so a suggestion reads a few rows per partner rather
than every answered lead; with the formula they are one SQL statement for all candidate
organisations. Customer search (`app.services.search`) embeds the same statement, so the nudge
it applies is exactly the one `affinity()` reports.

`suggest_partners` ranks published profiles for a new lead, for platform sellers and marketers:

    score = 0.45 * text + 0.25 * preferences + 0.15 * responsiveness / 100 + 0.15 * affinity

text = ts_rank_cd of the need's description (any of its words) against the profile's search
document, normalised to 0..1 (rank / (rank + 1)); preferences = share of the need's given
attributes (industry, solution area, country, company size) the profile lists; responsiveness
= the stored score (the prior when none). Profiles whose size preferences exclude the need's
company size are dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadType
from app.domain.reference import CompanySize
from app.domain.responsiveness import PRIOR_SCORE
from app.domain.roles import Role
from app.domain.validation import Checker
from app.services import affinity_counts
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused
from app.services.public_profiles import (
    PublicProfile,
    profile_columns,
    public_columns,
    public_profile,
)

PRIOR_WEIGHT = 5.0
NEUTRAL_AFFINITY = 0.5
NUDGE_MIN = 0.9
NUDGE_SPAN = 0.2
# Taste changes: only leads received in the last year count, when the caller gives `now`.
AFFINITY_WINDOW = timedelta(days=365)

MAX_SUGGESTIONS = 20
MAX_DESCRIPTION = 2000
MAX_ATTRIBUTE = 100

W_TEXT = 0.45
W_PREFERENCES = 0.25
W_RESPONSIVENESS = 0.15
W_AFFINITY = 0.15

SIZE_LABELS: dict[str, str] = {
    "SIZE_1_9": "1-9 employee",
    "SIZE_10_50": "10-50 employee",
    "SIZE_51_250": "51-250 employee",
    "SIZE_251_1000": "251-1000 employee",
    "SIZE_1001_5000": "1001-5000 employee",
    "SIZE_5001_10000": "5001-10000 employee",
    "SIZE_10001_20000": "10001-20000 employee",
    "SIZE_20000_PLUS": "20000+ employee",
}
TYPE_LABELS: dict[str, str] = {
    "CUSTOMER_INQUIRY": "customer inquiry",
    "MARKETING_QUALIFIED": "marketing-qualified",
    "SALES_QUALIFIED": "sales-qualified",
}


@dataclass(frozen=True, slots=True)
class LeadNeed:
    """What a new lead is about. Every attribute is optional."""

    description: str | None = None
    industry: str | None = None
    company_size: CompanySize | None = None
    country: str | None = None
    solution_area: str | None = None
    lead_type: LeadType | None = None


@dataclass(frozen=True, slots=True)
class AttributeRecord:
    attribute: str  # "industry", "company_size", "type", "solution_area"
    value: str
    accepted: int
    answered: int
    share: float  # smoothed toward the partner's overall rate

    @property
    def label(self) -> str:
        if self.attribute == "company_size":
            return f"{SIZE_LABELS.get(self.value, self.value)}"
        if self.attribute == "type":
            return TYPE_LABELS.get(self.value, self.value)
        return self.value

    @property
    def reason(self) -> str:
        return f"accepted {self.accepted} of {self.answered} {self.label} leads"


@dataclass(frozen=True, slots=True)
class Affinity:
    organisation_id: uuid.UUID
    accepted: int
    answered: int
    overall_rate: float  # smoothed
    score: float  # 0..1
    attributes: tuple[AttributeRecord, ...] = ()

    @property
    def nudge(self) -> float:
        return NUDGE_MIN + NUDGE_SPAN * self.score

    @property
    def reasons(self) -> list[str]:
        """Like "accepted 8 of 10 Retail leads", for each attribute with history."""
        return [a.reason for a in self.attributes if a.answered > 0]

    @classmethod
    def neutral(cls, organisation_id: uuid.UUID) -> Affinity:
        return cls(organisation_id, 0, 0, NEUTRAL_AFFINITY, NEUTRAL_AFFINITY)


def need_attributes(need: LeadNeed) -> list[tuple[str, str]]:
    """The need's given (attribute, value) pairs, in a fixed order."""
    values = {
        "industry": need.industry,
        "company_size": need.company_size.value if need.company_size else None,
        "type": need.lead_type.value if need.lead_type else None,
        "solution_area": need.solution_area,
    }
    return [(name, v.strip()) for name, v in values.items() if v is not None and v.strip()]


def affinity_sql(
    need: LeadNeed, organisations_sql: str, *, since: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """A SELECT of (organisation_id, answered, accepted, p, n_<attr>, acc_<attr>, s_<attr>,
    affinity) for the organisations that `organisations_sql` (a SELECT of ids) yields and that
    have answered leads; others are neutral. Binds are prefixed `aff_`."""
    given = dict(need_attributes(need))
    counts, params = affinity_counts.counts_sql(given, organisations_sql, since=since)
    params["aff_k"] = PRIOR_WEIGHT
    shares: list[str] = []
    outer: list[str] = []
    for name, _, _ in affinity_counts.ATTRIBUTES:
        if name not in given:
            continue
        share = (
            f"((c.acc_{name} + CAST(:aff_k AS float8) * c.p) "
            f"/ (c.n_{name} + CAST(:aff_k AS float8)))"
        )
        shares.append(share)
        outer.append(f"c.n_{name}, c.acc_{name}, {share} AS s_{name}")
    score = f"(({' + '.join(shares)}) / {len(shares)})" if shares else "c.p"
    outer_columns = "".join(f",\n       {c}" for c in outer)
    sql = f"""
SELECT c.organisation_id, c.answered, c.accepted, c.p{outer_columns},
       {score} AS affinity
FROM (
    SELECT g.*, (g.accepted + 1)::float8 / (g.answered + 2)::float8 AS p
    FROM ({counts}
    ) AS g
) AS c"""
    return sql, params


def _affinity_from_row(row: Any, need: LeadNeed) -> Affinity:
    records = tuple(
        AttributeRecord(
            attribute=name,
            value=value,
            accepted=int(getattr(row, f"acc_{name}")),
            answered=int(getattr(row, f"n_{name}")),
            share=float(getattr(row, f"s_{name}")),
        )
        for name, value in need_attributes(need)
    )
    return Affinity(
        organisation_id=row.organisation_id,
        accepted=int(row.accepted),
        answered=int(row.answered),
        overall_rate=float(row.p),
        score=float(row.affinity),
        attributes=records,
    )


async def affinity(
    session: AsyncSession,
    organisation_ids: Sequence[uuid.UUID],
    *,
    need: LeadNeed,
    now: datetime | None = None,
) -> dict[uuid.UUID, Affinity]:
    """Every given organisation's affinity for `need`, in one statement; organisations without
    answered leads are neutral (0.5). With `now`, only the last year's leads count."""
    ids = list(dict.fromkeys(organisation_ids))
    if not ids:
        return {}
    sql, params = affinity_sql(
        need,
        "SELECT unnest(CAST(:aff_ids AS uuid[]))",
        since=now - AFFINITY_WINDOW if now is not None else None,
    )
    params["aff_ids"] = ids
    rows = (await session.execute(text(sql), params)).all()
    found = {row.organisation_id: _affinity_from_row(row, need) for row in rows}
    neutral_records = tuple(
        AttributeRecord(name, value, 0, 0, NEUTRAL_AFFINITY)
        for name, value in need_attributes(need)
    )
    return {
        org: found.get(org)
        or Affinity(org, 0, 0, NEUTRAL_AFFINITY, NEUTRAL_AFFINITY, neutral_records)
        for org in ids
    }


# --- suggestions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Suggestion:
    profile: PublicProfile
    score: float
    text_match: float
    preference_fit: float
    affinity: Affinity
    reasons: list[str] = field(default_factory=list)


def validate_need(need: LeadNeed, *path: str) -> Refused | None:
    """Refused (naming `path` + the attribute) unless the need's attributes are of a size and
    shape to rank by."""
    check = Checker()
    check.text((*path, "description"), need.description, max_len=MAX_DESCRIPTION)
    check.text((*path, "industry"), need.industry, max_len=MAX_ATTRIBUTE)
    check.text((*path, "solution_area"), need.solution_area, max_len=MAX_ATTRIBUTE)
    if need.country is not None:
        # Any case is fine: the country is compared in capitals.
        check.country((*path, "country"), need.country.upper(), required=True)
    return Refused.invalid(check.problems) if check.problems else None


_SUGGEST_SQL = """
WITH q AS (
    SELECT CASE WHEN numnode(pq) > 0 THEN replace(pq::text, ' & ', ' | ')::tsquery END AS query,
           tsvector_to_array(to_tsvector('english', coalesce(CAST(:description AS text), '')))
               AS lexemes
    FROM (SELECT plainto_tsquery('english', coalesce(CAST(:description AS text), '')) AS pq) AS p
),
candidates AS (
    SELECT {profile},
           CASE WHEN q.query IS NOT NULL AND bp.search_document @@ q.query
                THEN ts_rank_cd(bp.search_document, q.query, 32)::float8 ELSE 0 END AS text_match,
           ARRAY(SELECT k FROM unnest(bp.keywords) AS k
                 WHERE tsvector_to_array(to_tsvector('english', k)) && q.lexemes)
               AS matched_keywords,
           CAST(:size AS text) = ANY(bp.preferred_sizes) AS size_match,
           EXISTS (SELECT 1 FROM unnest(bp.industries) AS i
                   WHERE lower(i) = lower(CAST(:industry AS text))) AS industry_match,
           EXISTS (SELECT 1 FROM unnest(bp.solution_areas) AS s
                   WHERE lower(s) = lower(CAST(:solution_area AS text))) AS solution_area_match,
           EXISTS (SELECT 1 FROM profile_locations AS pl
                   WHERE pl.profile_id = bp.id AND pl.country = CAST(:country AS text))
               AS country_match
    FROM business_profiles AS bp CROSS JOIN q
    WHERE bp.published
      AND NOT (bp.organisation_id = ANY(CAST(:exclude AS uuid[])))
      AND (CAST(:size AS text) IS NULL OR cardinality(bp.preferred_sizes) = 0
           OR CAST(:size AS text) = ANY(bp.preferred_sizes))
),
affinity AS ({affinity}),
scored AS (
    SELECT c.*,
           coalesce(rs.score, CAST(:prior AS float8)) AS responsiveness_score,
           CASE WHEN CAST(:asked AS int) = 0 THEN 0::float8
                ELSE (coalesce(c.size_match, false)::int + c.industry_match::int
                      + c.solution_area_match::int + c.country_match::int)::float8
                     / CAST(:asked AS int) END AS preference_fit,
           coalesce(a.affinity, CAST(:neutral AS float8)) AS affinity
    FROM candidates AS c
    LEFT JOIN responsiveness_scores AS rs ON rs.profile_id = c.id
    LEFT JOIN affinity AS a ON a.organisation_id = c.organisation_id
)
SELECT {public}, s.text_match, s.matched_keywords, s.size_match, s.industry_match,
       s.solution_area_match, s.country_match, s.responsiveness_score, s.preference_fit,
       s.affinity,
       round((CAST(:w_text AS float8) * s.text_match
              + CAST(:w_pref AS float8) * s.preference_fit
              + CAST(:w_resp AS float8) * s.responsiveness_score / 100.0
              + CAST(:w_aff AS float8) * s.affinity)::numeric, 6)::float8 AS score
FROM scored AS s
ORDER BY score DESC, s.id
LIMIT :first
"""


async def suggest_partners(
    session: AsyncSession, actor: Actor | None, *, need: LeadNeed, first: int = 5
) -> list[Suggestion] | Refused:
    """Published profiles ranked for a new lead (R12), best first, each with its reasons."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to ask for suggestions")
    if not (actor.has(Role.MARKETER) or actor.has(Role.SELLER)):
        return Refused.one(ErrorCode.FORBIDDEN, "only marketers and sellers route leads")
    if not 1 <= first <= MAX_SUGGESTIONS:
        return Refused.one(
            ErrorCode.VALIDATION, f"must be between 1 and {MAX_SUGGESTIONS}", "first"
        )
    invalid = validate_need(need, "need")
    if invalid is not None:
        return invalid
    return await rank_partners(
        session,
        need
        if need.lead_type is not None
        else replace(
            need,
            lead_type=LeadType.SALES_QUALIFIED
            if actor.has(Role.SELLER)
            else LeadType.MARKETING_QUALIFIED,
        ),
        first=first,
    )


async def rank_partners(
    session: AsyncSession,
    need: LeadNeed,
    *,
    first: int = 5,
    exclude: Sequence[uuid.UUID] = (),
) -> list[Suggestion]:
    """The ranking behind suggestPartners, without the caller's checks: also used by the
    reroute worker, which excludes the partners a lead was already offered to."""
    country = need.country.upper() if need.country else None
    given = {
        "industry": need.industry,
        "solution_area": need.solution_area,
        "country": country,
        "size": need.company_size,
    }
    asked = [name for name, value in given.items() if value]
    aff_sql, aff_params = affinity_sql(need, "SELECT organisation_id FROM candidates")
    rows = (
        await session.execute(
            text(
                _SUGGEST_SQL.format(
                    profile=profile_columns("bp"), public=public_columns("s"), affinity=aff_sql
                )
            ),
            {
                **aff_params,
                "description": need.description or None,
                "size": need.company_size.value if need.company_size else None,
                "industry": need.industry,
                "solution_area": need.solution_area,
                "country": country,
                "asked": len(asked),
                "prior": PRIOR_SCORE,
                "neutral": NEUTRAL_AFFINITY,
                "w_text": W_TEXT,
                "w_pref": W_PREFERENCES,
                "w_resp": W_RESPONSIVENESS,
                "w_aff": W_AFFINITY,
                "first": first,
                "exclude": list(exclude),
            },
        )
    ).all()
    # The reasons of the few suggested: their history, per attribute (one more statement).
    affinities = await affinity(session, [r.organisation_id for r in rows], need=need)
    return [_suggestion(row, need, asked, affinities[row.organisation_id]) for row in rows]


def _suggestion(row: Any, need: LeadNeed, asked: list[str], aff: Affinity) -> Suggestion:
    matched = {name for name in asked if getattr(row, f"{name}_match")}
    reasons: list[str] = []
    if row.matched_keywords:
        reasons.append("keywords match: " + ", ".join(row.matched_keywords))
    elif row.text_match > 0:
        reasons.append("profile text matches the description")
    if "industry" in matched:
        reasons.append(f"serves the {need.industry} industry")
    if "solution_area" in matched:
        reasons.append(f"works in {need.solution_area}")
    if "country" in matched and need.country:
        reasons.append(f"has a location in {need.country.upper()}")
    if "size" in matched and need.company_size:
        reasons.append(f"prefers {SIZE_LABELS[need.company_size.value]} companies")
    reasons.append(f"responsiveness score {float(row.responsiveness_score):g}")
    reasons.extend(aff.reasons)
    return Suggestion(
        profile=public_profile(row),
        score=float(row.score),
        text_match=float(row.text_match),
        preference_fit=float(row.preference_fit),
        affinity=aff,
        reasons=reasons,
    )
