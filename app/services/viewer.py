"""What the signed-in user sees of themselves: their organisation, its business profile and the
profile's responsiveness score (shown only to the organisation itself), and their own language
and time zone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BusinessProfile, Organisation, ResponsivenessScore, User
from app.i18n import DEFAULT_LOCALE, DEFAULT_TIME_ZONE
from app.services.auth import Actor


@dataclass(frozen=True, slots=True)
class OwnOrganisation:
    organisation: Organisation
    profile: BusinessProfile | None
    score: ResponsivenessScore | None
    # An API key is no user: it reads as the defaults.
    locale: str = DEFAULT_LOCALE
    time_zone: str = DEFAULT_TIME_ZONE


async def own_organisation(session: AsyncSession, actor: Actor) -> OwnOrganisation:
    """The actor's organisation with its profile and score, in one statement."""
    organisation, profile, score, locale, time_zone = (
        await session.execute(
            select(Organisation, BusinessProfile, ResponsivenessScore, User.locale, User.time_zone)
            .outerjoin(BusinessProfile, BusinessProfile.organisation_id == Organisation.id)
            .outerjoin(ResponsivenessScore, ResponsivenessScore.profile_id == BusinessProfile.id)
            .outerjoin(
                User, and_(User.id == actor.user_id, User.organisation_id == Organisation.id)
            )
            .where(Organisation.id == actor.organisation_id)
        )
    ).one()
    return OwnOrganisation(
        organisation,
        profile,
        score,
        locale or DEFAULT_LOCALE,
        time_zone or DEFAULT_TIME_ZONE,
    )
