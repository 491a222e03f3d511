"""Seeded organisations: a partner with its users, published profile, office and alert contacts;
and who sends the leads generated for partners."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.dev.catalogue import DEMO_PROFILES, GENERIC_PROFILE
from app.domain.roles import Role
from app.services.profiles import refresh_search_document


@dataclass
class Partner:
    organisation_id: uuid.UUID
    profile_id: uuid.UUID
    slug: str
    # The partner's admin and referrals admin: who works its seeded leads.
    manager_ids: list[uuid.UUID]


@dataclass
class Senders:
    """Who sends qualified leads: platform staff, or a partner referring a lead onward."""

    marketer: uuid.UUID
    seller: uuid.UUID
    platform_org: uuid.UUID
    partners: list[Partner] = field(default_factory=list)


def _profile_details(slug: str) -> dict[str, Any]:
    """A demo partner's own profile (a suffixed slug still matches), else a generic one."""
    details = next((v for k, v in DEMO_PROFILES.items() if slug.startswith(k)), None)
    if details is None:
        details = {**GENERIC_PROFILE, "website": f"https://{slug}.example"}
    # Fresh lists: the catalogue's stay untouched whatever the ORM does with them.
    return {k: list(v) if isinstance(v, list) else v for k, v in details.items()}


async def create_partner(
    session: AsyncSession,
    slug: str,
    name: str,
    profile_name: str,
    country: str,
) -> Partner:
    """A partner organisation with an admin, a referrals admin and a plain member; a published
    profile (search document included) with a head office that has one alert contact and one
    that opted out."""
    org = models.Organisation(id=uuid.uuid4(), slug=slug, name=name, kind="PARTNER")
    session.add(org)
    # (local part, name suffix, roles): an admin, a referrals admin, a member without either.
    admin, referrals, member = (
        models.User(
            id=uuid.uuid4(),
            organisation_id=org.id,
            email=f"{local}@{slug}.example",
            name=f"{name} {title}",
            roles=roles,
        )
        for local, title, roles in (
            ("admin", "Admin", [Role.PARTNER_ADMIN.value]),
            ("referrals", "Referrals", [Role.REFERRALS_ADMIN.value]),
            ("sales", "Sales", []),
        )
    )
    profile = models.BusinessProfile(
        id=uuid.uuid4(),
        organisation_id=org.id,
        name=profile_name,
        published=True,
        published_at=datetime.now(UTC),
        **_profile_details(slug),
    )
    session.add_all([admin, referrals, member])
    await session.flush()
    session.add(profile)
    await session.flush()
    location = models.ProfileLocation(
        id=uuid.uuid4(),
        profile_id=profile.id,
        name="Head office",
        address=f"1 Main Street, {name}",
        country=country,
    )
    session.add(location)
    await session.flush()
    session.add_all(
        [
            models.LocationContact(
                location_id=location.id,
                name="Lead desk",
                email=f"leads@{slug}.example",
                phone="+1 555 0100",
            ),
            models.LocationContact(
                location_id=location.id,
                name="Former desk",
                email=f"old-desk@{slug}.example",
                alerts_opted_out=True,
            ),
        ]
    )
    await refresh_search_document(session, profile.id)
    return Partner(org.id, profile.id, slug, [admin.id, referrals.id])
