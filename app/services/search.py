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

import hashlib
import json
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
from app.domain.validation import Checker
from app.services import matching
from app.services.errors import Refused
from app.services.paging import Page, decode_cursor, encode_cursor, page_size
from app.services.public_profiles import (
    PublicProfile,
    profile_columns,
    public_columns,
    public_profile,
)

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
class SearchFilter:
    """The customer's attributes; each one given narrows the results."""

    company_size: CompanySize | None = None
    industry: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, any case
    solution_area: str | None = None


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


def _fingerprint(query: str | None, customer: SearchFilter) -> str:
    """Names the search a cursor belongs to: a cursor from another search is refused."""
    size = customer.company_size
    raw = json.dumps(
        [
            query,
            size.value if size else None,
            customer.industry,
            customer.country,
            customer.solution_area,
        ]
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _clean_filter(customer: SearchFilter) -> SearchFilter | Refused:
    check = Checker()
    industry = check.text(("filter", "industry"), customer.industry, max_len=MAX_FILTER)
    solution_area = check.text(
        ("filter", "solution_area"), customer.solution_area, max_len=MAX_FILTER
    )
    country = customer.country
    if country is not None:
        # Any case is fine here: a customer types "de"; only blanks and other shapes are not.
        country = check.country(("filter", "country"), country.upper(), required=True)
    if check.problems:
        return Refused.invalid(check.problems)
    return SearchFilter(customer.company_size, industry, country, solution_area)


_SEARCH_SQL = """
WITH q AS (
    SELECT CASE WHEN CAST(:query AS text) IS NULL THEN NULL
                ELSE websearch_to_tsquery('english', CAST(:query AS text)) END AS query,
           tsvector_to_array(to_tsvector('english', coalesce(CAST(:query AS text), '')))
               AS lexemes
),
candidates AS (
    SELECT {profile},
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
SELECT {public}, p.relevance, p.responsiveness_score, p.visibility, p.nudge, p.rank,
       p.matched_keywords
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
    filter: SearchFilter | None = None,
    first: int | None = None,
    after: str | None = None,
    now: datetime | None = None,
) -> Page[SearchHit] | Refused:
    """One page of published profiles for a customer's search, best first."""
    check = Checker()
    query = check.text("query", query, max_len=MAX_QUERY)
    if check.problems:
        return Refused.invalid(check.problems)
    limit = page_size(first, default=DEFAULT_PAGE, maximum=MAX_PAGE)
    if isinstance(limit, Refused):
        return limit
    customer = _clean_filter(filter or SearchFilter())
    if isinstance(customer, Refused):
        return customer
    fingerprint = _fingerprint(query, customer)
    keyset: tuple[float, uuid.UUID] | None = None
    if after is not None:
        decoded = decode_cursor(after, fingerprint, float)
        if isinstance(decoded, Refused):
            return decoded
        rank, profile_id = decoded
        assert isinstance(rank, float)
        keyset = rank, profile_id

    need = matching.LeadNeed(
        industry=customer.industry,
        company_size=customer.company_size,
        solution_area=customer.solution_area,
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
        "size": customer.company_size.value if customer.company_size else None,
        "industry": customer.industry,
        "solution_area": customer.solution_area,
        "country": customer.country,
        "prior": PRIOR_SCORE,
        "neutral": matching.NEUTRAL_AFFINITY,
        "nudge_min": matching.NUDGE_MIN,
        "nudge_span": matching.NUDGE_SPAN,
        "limit": limit + 1,
    }
    if keyset is not None:
        params["after_rank"], params["after_id"] = keyset
    sql = _SEARCH_SQL.format(
        profile=profile_columns("bp"),
        public=public_columns("p"),
        affinity=aff_sql,
        keyset=_KEYSET if keyset else "true",
    )
    rows = (await session.execute(text(sql), params)).all()
    hits = [_hit(row, customer) for row in rows[:limit]]
    return Page(
        items=hits,
        cursors=[encode_cursor(fingerprint, hit.rank, hit.profile.id) for hit in hits],
        has_next_page=len(rows) > limit,
        has_previous_page=after is not None,
    )


def _hit(row: Any, customer: SearchFilter) -> SearchHit:
    matched: list[PreferenceMatch] = []
    size = customer.company_size
    if size is not None and size.value in row.preferred_sizes:
        matched.append(PreferenceMatch.COMPANY_SIZE)
    # The other filters are hard: a shown profile matches each one given.
    if customer.industry is not None:
        matched.append(PreferenceMatch.INDUSTRY)
    if customer.solution_area is not None:
        matched.append(PreferenceMatch.SOLUTION_AREA)
    if customer.country is not None:
        matched.append(PreferenceMatch.COUNTRY)
    profile = public_profile(row)
    reasons = RankReasons(
        relevance=float(row.relevance),
        responsiveness_score=profile.responsiveness_score,
        visibility=float(row.visibility),
        similar_deals=float(row.nudge),
        matched_preferences=matched,
        matched_keywords=list(row.matched_keywords),
    )
    return SearchHit(profile, float(row.rank), reasons)
