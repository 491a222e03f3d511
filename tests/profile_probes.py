"""Set-ups and database probes shared by the business profile tests (services and GraphQL).

Holds no tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BusinessProfile, LocationContact, ProfileLocation
from app.services import locations, profiles
from app.services.auth import Actor, load_actor
from app.services.errors import ErrorCode, Refused

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def actor(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    found = await load_actor(session, user_id)
    assert found is not None
    return found


def codes(result: object) -> list[ErrorCode]:
    assert isinstance(result, Refused), result
    return [e.code for e in result.errors]


def fields(result: object) -> list[tuple[str, ...] | None]:
    assert isinstance(result, Refused), result
    return [e.field for e in result.errors]


async def matches(session: AsyncSession, profile_id: uuid.UUID, words: str) -> bool:
    found = await session.scalar(
        select(func.count())
        .select_from(BusinessProfile)
        .where(
            BusinessProfile.id == profile_id,
            BusinessProfile.search_document.op("@@")(func.plainto_tsquery("english", words)),
        )
    )
    return bool(found)


async def profile_of(session: AsyncSession, organisation_id: uuid.UUID) -> BusinessProfile:
    found = await session.scalar(
        select(BusinessProfile).where(BusinessProfile.organisation_id == organisation_id)
    )
    assert found is not None
    return found


async def first_location_id(session: AsyncSession, profile_id: uuid.UUID) -> str:
    found = await session.scalar(
        select(ProfileLocation.id).where(ProfileLocation.profile_id == profile_id)
    )
    assert found is not None
    return str(found)


async def first_contact_id(session: AsyncSession, location_id: str) -> str:
    found = await session.scalar(
        select(LocationContact.id).where(LocationContact.location_id == uuid.UUID(location_id))
    )
    assert found is not None
    return str(found)


async def snapshot(session: AsyncSession, profile_id: uuid.UUID) -> tuple[Any, ...]:
    """Everything a refused mutation must leave as it was."""
    row = (
        await session.execute(
            text(
                "SELECT name, description, website, keywords, industries, solution_areas, "
                "preferred_sizes, competencies, endorsements, published, published_at, "
                "search_document::text FROM business_profiles WHERE id = :id"
            ),
            {"id": profile_id},
        )
    ).one()
    rows = (
        await session.execute(
            text(
                "SELECT l.id, l.name, l.address, l.country, c.id, c.name, c.email, c.phone, "
                "c.alerts_opted_out FROM profile_locations l "
                "LEFT JOIN location_contacts c ON c.location_id = l.id "
                "WHERE l.profile_id = :id ORDER BY l.id, c.id"
            ),
            {"id": profile_id},
        )
    ).all()
    return (tuple(row), tuple(tuple(r) for r in rows))


async def publishable(session: AsyncSession, admin: Actor) -> BusinessProfile:
    """The admin's profile with everything publishing needs."""
    result = await profiles.update_profile(
        session,
        admin,
        fields={"description": "We migrate workloads to the cloud.", "keywords": ["kubernetes"]},
        now=NOW,
    )
    assert isinstance(result, BusinessProfile), result
    location = await locations.add_location(
        session, admin, fields={"name": "HQ", "address": "1 Road", "country": "PT"}
    )
    assert isinstance(location, ProfileLocation), location
    contact = await locations.add_contact(
        session,
        admin,
        str(location.id),
        fields={"name": "Desk", "email": "desk@adatum.example", "phone": "+351 210 000 000"},
    )
    assert isinstance(contact, LocationContact), contact
    return result
