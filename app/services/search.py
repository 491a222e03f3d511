"""Customer search over published business profiles (SPEC R2), weighted by responsiveness (R11)
and by similar deals (R12).

    rank       = relevance * visibility * nudge
    relevance  = ts_rank_cd(search_document, websearch_to_tsquery('english', query))
                 (1 when there is no query: every published profile, ordered by the rest)
    visibility = 0.5 + score / 100        score: the stored responsiveness score, 0..100,
                                          or the prior (PRIOR_SCORE) when none is stored
    nudge      = 0.9 + 0.2 * affinity     affinity of the partner for a customer inquiry with the
                                          customer's size, industry and solution area
                                          (`app.services.matching`), 0.5 = neutral

A profile whose size preferences are non-empty and exclude the customer's size is not shown.
The industry, solution-area and country filters are hard filters (country: the profile has a
location there). Pages are keyset pages over (rank DESC, id ASC), with an opaque cursor that is
bound to the search it came from.

Only public profile fields leave this module: no contacts, opt-outs, score parts or leads (the
affinity counts stay inside the statement; only the nudge is reported).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.lifecycle import LeadType
from app.domain.reference import CompanySize
from app.domain.responsiveness import PRIOR_SCORE
from app.services import matching
from app.services.errors import ErrorCode, Refused

MAX_QUERY = 200
MAX_PAGE = 50
DEFAULT_PAGE = 20
MAX_FILTER = 100


class PreferenceMatch(StrEnum):
    COMPANY_SIZE = "COMPANY_SIZE"  # the profile lists the customer's size band
    INDUSTRY = "INDUSTRY"
    SOLUTION_AREA = "SOLUTION_AREA"
    COUNTRY = "COUNTRY"  # the profile has a location in the customer's country


@dataclass(frozen=True, slots=True)
class PublicProfile:
    """What anyone may see of a published profile."""

    id: uuid.UUID  # the business profile id (what an inquiry is sent to)
    name: str
    description: str | None
    website: str | None
    keywords: list[str]
    industries: list[str]
    solution_areas: list[str]
    preferred_sizes: list[str]
    competencies: list[str]
    endorsements: list[str]
    countries: list[str]
    responsiveness_score: float


@dataclass(frozen=True, slots=True)
class RankReasons:
    relevance: float
    responsiveness_score: float
    visibility: float
    similar_deals: float  # the affinity nudge, 0.9..1.1
    matched_preferences: list[PreferenceMatch]
    matched_keywords: list[str]


@dataclass(frozen=True, slots=True)
class SearchHit:
    profile: PublicProfile
    rank: float
    reasons: RankReasons
    cursor: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    has_next_page: bool
    has_previous_page: bool


def _fingerprint(
    query: str | None,
    company_size: CompanySize | None,
    industry: str | None,
    country: str | None,
    solution_area: str | None,
) -> str:
    raw = json.dumps(
        [query, company_size.value if company_size else None, industry, country, solution_area]
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def encode_cursor(fingerprint: str, rank: float, profile_id: uuid.UUID) -> str:
    raw = json.dumps(["s", fingerprint, rank, str(profile_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> tuple[float, uuid.UUID] | Refused:
    bad = Refused.one(ErrorCode.VALIDATION, "is not a cursor from this search", "after")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return bad
    if not (isinstance(decoded, list) and len(decoded) == 4 and decoded[0] == "s"):
        return bad
    _, mark, rank, raw_id = decoded
    if not (
        isinstance(mark, str)
        and isinstance(rank, int | float)
        and not isinstance(rank, bool)
        and isinstance(raw_id, str)
    ):
        return bad
    if mark != fingerprint:
        return Refused.one(ErrorCode.VALIDATION, "the cursor belongs to another search", "after")
    if not math.isfinite(float(rank)):
        return bad
    try:
        return float(rank), uuid.UUID(raw_id)
    except ValueError:
        return bad


def _validate(
    query: str | None,
    industry: str | None,
    country: str | None,
    solution_area: str | None,
    first: int | None,
) -> Refused | None:
    if query is not None and len(query) > MAX_QUERY:
        return Refused.one(ErrorCode.VALIDATION, f"must be at most {MAX_QUERY} characters", "query")
    if first is not None and not 0 <= first <= MAX_PAGE:
        return Refused.one(ErrorCode.VALIDATION, f"must be between 0 and {MAX_PAGE}", "first")
    for name, value in (("industry", industry), ("solutionArea", solution_area)):
        if value is not None and len(value) > MAX_FILTER:
            return Refused.one(
                ErrorCode.VALIDATION, f"must be at most {MAX_FILTER} characters", "filter", name
            )
    if country is not None and not (len(country) == 2 and country.isascii() and country.isalpha()):
        return Refused.one(
            ErrorCode.VALIDATION, "must be an ISO 3166-1 alpha-2 code", "filter", "country"
        )
    return None


_SEARCH_SQL = """
WITH q AS (
    SELECT CASE WHEN CAST(:query AS text) IS NULL THEN NULL
                ELSE websearch_to_tsquery('english', CAST(:query AS text)) END AS query,
           tsvector_to_array(to_tsvector('english', coalesce(CAST(:query AS text), '')))
               AS lexemes
),
candidates AS (
    SELECT bp.id, bp.organisation_id, bp.name, bp.description, bp.website, bp.keywords,
           bp.industries, bp.solution_areas, bp.preferred_sizes, bp.competencies,
           bp.endorsements,
           CASE WHEN q.query IS NULL THEN 1::float8
                ELSE ts_rank_cd(bp.search_document, q.query)::float8 END AS relevance,
           ARRAY(SELECT k FROM unnest(bp.keywords) AS k
                 WHERE tsvector_to_array(to_tsvector('english', k)) && q.lexemes)
               AS matched_keywords
    FROM business_profiles AS bp CROSS JOIN q
    WHERE bp.published
      AND (q.query IS NULL OR bp.search_document @@ q.query)
      AND (CAST(:size AS text) IS NULL OR cardinality(bp.preferred_sizes) = 0
           OR CAST(:size AS text) = ANY(bp.preferred_sizes))
      AND (CAST(:industry AS text) IS NULL
           OR EXISTS (SELECT 1 FROM unnest(bp.industries) AS i
                      WHERE lower(i) = lower(CAST(:industry AS text))))
      AND (CAST(:solution_area AS text) IS NULL
           OR EXISTS (SELECT 1 FROM unnest(bp.solution_areas) AS s
                      WHERE lower(s) = lower(CAST(:solution_area AS text))))
      AND (CAST(:country AS text) IS NULL
           OR EXISTS (SELECT 1 FROM profile_locations AS pl
                      WHERE pl.profile_id = bp.id AND pl.country = CAST(:country AS text)))
),
affinity AS ({affinity}),
ranked AS (
    SELECT c.*,
           coalesce(rs.score, CAST(:prior AS float8)) AS responsiveness_score,
           0.5::float8 + coalesce(rs.score, CAST(:prior AS float8)) / 100.0::float8
               AS visibility,
           CAST(:nudge_min AS float8) + CAST(:nudge_span AS float8)
               * coalesce(a.affinity, CAST(:neutral AS float8)) AS nudge
    FROM candidates AS c
    LEFT JOIN responsiveness_scores AS rs ON rs.profile_id = c.id
    LEFT JOIN affinity AS a ON a.organisation_id = c.organisation_id
),
paged AS (
    SELECT r.*, (r.relevance * r.visibility * r.nudge)::float8 AS rank
    FROM ranked AS r
)
SELECT p.id, p.name, p.description, p.website, p.keywords, p.industries, p.solution_areas,
       p.preferred_sizes, p.competencies, p.endorsements, p.relevance, p.responsiveness_score,
       p.visibility, p.nudge, p.rank, p.matched_keywords,
       ARRAY(SELECT DISTINCT pl.country FROM profile_locations AS pl
             WHERE pl.profile_id = p.id ORDER BY pl.country) AS countries
FROM paged AS p
WHERE {keyset}
ORDER BY p.rank DESC, p.id ASC
LIMIT :limit
"""

_KEYSET = (
    "(p.rank < CAST(:after_rank AS float8)"
    " OR (p.rank = CAST(:after_rank AS float8) AND p.id > CAST(:after_id AS uuid)))"
)


async def search_partners(
    session: AsyncSession,
    *,
    query: str | None = None,
    company_size: CompanySize | None = None,
    industry: str | None = None,
    country: str | None = None,
    solution_area: str | None = None,
    first: int | None = None,
    after: str | None = None,
    now: datetime | None = None,
) -> SearchPage | Refused:
    """One page of published profiles for a customer's search, best first."""
    invalid = _validate(query, industry, country, solution_area, first)
    if invalid is not None:
        return invalid
    query = query.strip() if query and query.strip() else None
    industry = industry.strip() if industry and industry.strip() else None
    solution_area = solution_area.strip() if solution_area and solution_area.strip() else None
    country = country.upper() if country else None
    limit = DEFAULT_PAGE if first is None else first
    fingerprint = _fingerprint(query, company_size, industry, country, solution_area)
    keyset: tuple[float, uuid.UUID] | None = None
    if after is not None:
        decoded = decode_cursor(after, fingerprint)
        if isinstance(decoded, Refused):
            return decoded
        keyset = decoded

    need = matching.LeadNeed(
        industry=industry,
        company_size=company_size,
        solution_area=solution_area,
        lead_type=LeadType.CUSTOMER_INQUIRY,
    )
    aff_sql, aff_params = matching.affinity_sql(
        need,
        "SELECT organisation_id FROM candidates",
        since=now - matching.AFFINITY_WINDOW if now is not None else None,
    )
    params: dict[str, Any] = {
        **aff_params,
        "query": query,
        "size": company_size.value if company_size else None,
        "industry": industry,
        "solution_area": solution_area,
        "country": country,
        "prior": PRIOR_SCORE,
        "neutral": matching.NEUTRAL_AFFINITY,
        "nudge_min": matching.NUDGE_MIN,
        "nudge_span": matching.NUDGE_SPAN,
        "limit": limit + 1,
    }
    if keyset is not None:
        params["after_rank"], params["after_id"] = keyset
    sql = _SEARCH_SQL.format(affinity=aff_sql, keyset=_KEYSET if keyset else "true")
    rows = (await session.execute(text(sql), params)).all()
    has_next = len(rows) > limit
    hits = [_hit(row, fingerprint, company_size, industry, solution_area, country) for row in rows]
    return SearchPage(hits[:limit], has_next, after is not None)


def _hit(
    row: Any,
    fingerprint: str,
    company_size: CompanySize | None,
    industry: str | None,
    solution_area: str | None,
    country: str | None,
) -> SearchHit:
    matched: list[PreferenceMatch] = []
    if company_size is not None and company_size.value in row.preferred_sizes:
        matched.append(PreferenceMatch.COMPANY_SIZE)
    # The other filters are hard: a shown profile matches each one given.
    if industry is not None:
        matched.append(PreferenceMatch.INDUSTRY)
    if solution_area is not None:
        matched.append(PreferenceMatch.SOLUTION_AREA)
    if country is not None:
        matched.append(PreferenceMatch.COUNTRY)
    score = float(row.responsiveness_score)
    profile = PublicProfile(
        id=row.id,
        name=row.name,
        description=row.description,
        website=row.website,
        keywords=list(row.keywords),
        industries=list(row.industries),
        solution_areas=list(row.solution_areas),
        preferred_sizes=list(row.preferred_sizes),
        competencies=list(row.competencies),
        endorsements=list(row.endorsements),
        countries=list(row.countries),
        responsiveness_score=score,
    )
    reasons = RankReasons(
        relevance=float(row.relevance),
        responsiveness_score=score,
        visibility=float(row.visibility),
        similar_deals=float(row.nudge),
        matched_preferences=matched,
        matched_keywords=list(row.matched_keywords),
    )
    rank = float(row.rank)
    return SearchHit(profile, rank, reasons, encode_cursor(fingerprint, rank, row.id))
