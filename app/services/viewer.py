"""What the signed-in user sees of themselves: their organisation, its business profile and the
profile's responsiveness score (shown only to the organisation itself)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BusinessProfile, Organisation, ResponsivenessScore
from app.services.auth import Actor


@dataclass(frozen=True, slots=True)
class OwnOrganisation:
    organisation: Organisation
    profile: BusinessProfile | None
    score: ResponsivenessScore | None


async def own_organisation(session: AsyncSession, actor: Actor) -> OwnOrganisation:
    """The actor's organisation with its profile and score, in one statement."""
    organisation, profile, score = (
        await session.execute(
            select(Organisation, BusinessProfile, ResponsivenessScore)
            .outerjoin(BusinessProfile, BusinessProfile.organisation_id == Organisation.id)
            .outerjoin(ResponsivenessScore, ResponsivenessScore.profile_id == BusinessProfile.id)
            .where(Organisation.id == actor.organisation_id)
        )
    ).one()
    return OwnOrganisation(organisation, profile, score)
