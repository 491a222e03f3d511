"""What anyone may see of a published business profile, as customer search (R2) and partner
suggestions (R12) both show it: one list of columns for their statements, one builder.

No contacts, opt-outs, score parts or leads: only these columns are read, so nothing else can
leave by mistake. `organisation_id` is kept for routing a lead, never shown."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.responsiveness import PRIOR_SCORE
from app.services.profiles import PROFILE_FIELDS


@dataclass(frozen=True, slots=True)
class PublicProfile:
    id: uuid.UUID  # the business profile id (what an inquiry is sent to)
    organisation_id: uuid.UUID
    responsiveness_score: float  # the stored score, or the prior when none is stored
    # What the partner writes about itself: who it is, what it knows, whom it serves.
    name: str
    website: str | None
    description: str | None
    keywords: list[str]
    solution_areas: list[str]
    industries: list[str]
    preferred_sizes: list[str]  # CompanySize values; empty means every size
    # The membership data the platform maintains, and where the partner has locations.
    competencies: list[str]
    endorsements: list[str]
    countries: list[str]


# What the partner writes about itself, and the membership data the platform maintains.
_COLUMNS = ("id", "organisation_id", *PROFILE_FIELDS, "competencies", "endorsements")


def profile_columns(profile: str) -> str:
    """The public columns of the business_profiles row aliased `profile` (for a statement's
    candidates: the search document and the rest stay behind)."""
    return ", ".join(f"{profile}.{column}" for column in _COLUMNS)


def public_columns(profile: str) -> str:
    """What `public_profile` reads, from a row aliased `profile` that has `profile_columns`:
    those and the countries of the profile's locations. Select it for the page only, after the
    ranking, so countries are looked up for the rows shown. `responsiveness_score` is the
    statement's own."""
    return (
        f"{profile_columns(profile)}, ARRAY(SELECT DISTINCT pl.country FROM profile_locations "
        f"AS pl WHERE pl.profile_id = {profile}.id ORDER BY pl.country) AS countries"
    )


def public_profile(row: Any) -> PublicProfile:
    """The public profile from a row that has the `public_columns` and a responsiveness_score
    (the database's arrays are lists and its float8 a float already)."""
    return PublicProfile(
        **{column.name: getattr(row, column.name) for column in fields(PublicProfile)}
    )


async def published_profile(session: AsyncSession, profile_id: str) -> PublicProfile | None:
    """A partner's page: the published profile with this id, as search shows it; None when
    there is none (unknown, unpublished, or not an id at all)."""
    try:
        wanted = uuid.UUID(profile_id)
    except ValueError:
        return None
    row = (
        await session.execute(
            text(
                f"SELECT {public_columns('p')}, "
                "coalesce(rs.score, CAST(:prior AS float8)) AS responsiveness_score "
                f"FROM (SELECT {profile_columns('bp')} FROM business_profiles AS bp "
                "WHERE bp.id = :id AND bp.published) AS p "
                "LEFT JOIN responsiveness_scores AS rs ON rs.profile_id = p.id"
            ),
            {"id": wanted, "prior": PRIOR_SCORE},
        )
    ).one_or_none()
    return public_profile(row) if row is not None else None


async def published_profiles(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PublicProfile]:
    """Partners' pages by id, as `published_profile` shows each, in one statement."""
    if not ids:
        return {}
    rows = (
        await session.execute(
            text(
                f"SELECT {public_columns('p')}, "
                "coalesce(rs.score, CAST(:prior AS float8)) AS responsiveness_score "
                f"FROM (SELECT {profile_columns('bp')} FROM business_profiles AS bp "
                "WHERE bp.id = ANY(:ids) AND bp.published) AS p "
                "LEFT JOIN responsiveness_scores AS rs ON rs.profile_id = p.id"
            ),
            {"ids": list(ids), "prior": PRIOR_SCORE},
        )
    ).all()
    return {row.id: public_profile(row) for row in rows}
