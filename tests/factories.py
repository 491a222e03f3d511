"""Test data from keyword factory functions: say only what the test is about."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import Settings
from app.db import models
from app.dev.partners import Partner
from app.domain import api_keys
from app.domain.lifecycle import LeadStage, LeadType
from app.domain.reference import CompanySize
from app.domain.roles import Role
from app.services.profiles import refresh_search_document
from app.services.receive import IncomingLead

_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}-{next(_seq)}"


@dataclass
class WorldPartner:
    organisation_id: uuid.UUID
    slug: str
    partner_admin: uuid.UUID
    referrals_admin: uuid.UUID
    member: uuid.UUID  # a user of the partner with no referrals role


@dataclass
class World:
    contoso: WorldPartner
    fabrikam: WorldPartner
    northwind: WorldPartner
    seller: uuid.UUID
    marketer: uuid.UUID
    platform_admin: uuid.UUID

    @classmethod
    async def load(cls, engine: AsyncEngine, partners: dict[str, Partner]) -> World:
        async with AsyncSession(engine) as session:
            users = (await session.execute(select(models.User.email, models.User.id))).all()
            by_email = dict(users)

        def partner(slug: str) -> WorldPartner:
            return WorldPartner(
                organisation_id=partners[slug].organisation_id,
                slug=slug,
                partner_admin=by_email[f"admin@{slug}.example"],
                referrals_admin=by_email[f"referrals@{slug}.example"],
                member=by_email[f"sales@{slug}.example"],
            )

        return cls(
            contoso=partner("contoso"),
            fabrikam=partner("fabrikam"),
            northwind=partner("northwind"),
            seller=by_email["seller@platform.example"],
            marketer=by_email["marketer@platform.example"],
            platform_admin=by_email["admin@platform.example"],
        )


async def make_partner(
    session: AsyncSession, *, slug: str | None = None, name: str = "Test Partner"
) -> WorldPartner:
    slug = slug or unique("partner")
    org = models.Organisation(id=uuid.uuid4(), slug=slug, name=name, kind="PARTNER")
    session.add(org)
    await session.flush()
    users = {}
    for key, roles in (
        ("partner_admin", [Role.PARTNER_ADMIN.value]),
        ("referrals_admin", [Role.REFERRALS_ADMIN.value]),
        ("member", []),
    ):
        user = models.User(
            id=uuid.uuid4(),
            organisation_id=org.id,
            roles=roles,
            email=f"{key}@{slug}.example",
            name=f"{name} {key}",
        )
        session.add(user)
        users[key] = user.id
    await session.flush()
    return WorldPartner(organisation_id=org.id, slug=slug, **users)


async def make_lead(
    session: AsyncSession,
    *,
    organisation_id: uuid.UUID,
    type: LeadType = LeadType.CUSTOMER_INQUIRY,
    stage: LeadStage = LeadStage.RECEIVED,
    received_at: datetime | None = None,
    response_days: int = 14,
    **fields: Any,
) -> models.Lead:
    """A lead in `stage`, with its RECEIVE history row; ACCEPTED leads get a deal."""
    received_at = received_at or datetime.now(UTC) - timedelta(hours=1)
    values: dict[str, Any] = {
        "company_name": "Adatum Corp",
        "company_size": "SIZE_51_250",
        "industry": "Retail",
        "country": "US",
        "contact_name": "Ana Silva",
        "contact_email": "ana@adatum.example",
        "need": "Cloud migration",
        "contact_requested": False,
        "consent_to_contact": True,
    }
    if stage is LeadStage.ACCEPTED:
        values.update(
            deal_name="Adatum migration",
            estimated_value_amount=Decimal("50000"),
            estimated_value_currency="USD",
            estimated_purchase_date=(received_at + timedelta(days=60)).date(),
            responded_at=received_at + timedelta(hours=2),
        )
    values.update(fields)
    lead = models.Lead(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        type=type.value,
        stage=stage.value,
        received_at=received_at,
        respond_by=received_at + timedelta(days=response_days),
        version=1,
        created_at=received_at,
        updated_at=received_at,
        **values,
    )
    session.add(lead)
    await session.flush()
    session.add(history_entry(lead, "RECEIVE", None, "RECEIVED", at=received_at))
    await session.flush()
    return lead


def history_entry(
    lead: models.Lead,
    action: str,
    from_stage: str | None,
    to_stage: str,
    *,
    at: datetime,
    actor: uuid.UUID | None = None,
    **fields: Any,
) -> models.LeadHistory:
    """A history row of `lead`: by the user `actor`, or by the system when there is none."""
    return models.LeadHistory(
        lead_id=lead.id,
        action=action,
        from_stage=from_stage,
        to_stage=to_stage,
        actor_kind="USER" if actor else "SYSTEM",
        actor_user_id=actor,
        at=at,
        **fields,
    )


def incoming_lead(**overrides: Any) -> IncomingLead:
    """A customer inquiry as intake hands it to receive_lead, asking to be contacted."""
    values: dict[str, Any] = {
        "type": LeadType.CUSTOMER_INQUIRY,
        "company_name": "Adatum",
        "company_size": "SIZE_10_50",
        "country": "US",
        "contact_name": "Ana Silva",
        "contact_email": "ana@adatum.example",
        "need": "Move to the cloud",
        "contact_requested": True,
    }
    values.update(overrides)
    return IncomingLead(**values)


async def make_profile(
    session: AsyncSession,
    *,
    name: str,
    keywords: Sequence[str] = (),
    description: str | None = None,
    industries: Sequence[str] = (),
    solution_areas: Sequence[str] = (),
    preferred_sizes: Sequence[CompanySize] = (),
    competencies: Sequence[str] = (),
    countries: Sequence[str] = ("US",),
    published: bool = True,
    score: float | None = None,
) -> models.BusinessProfile:
    partner = await make_partner(session, name=name)
    profile = models.BusinessProfile(
        id=uuid.uuid4(),
        organisation_id=partner.organisation_id,
        name=name,
        description=description,
        website=f"https://{partner.slug}.example",
        keywords=list(keywords),
        industries=list(industries),
        solution_areas=list(solution_areas),
        preferred_sizes=[s.value for s in preferred_sizes],
        competencies=list(competencies),
        endorsements=["Gold partner"],
        published=published,
    )
    session.add(profile)
    await session.flush()
    for country in countries:
        location = models.ProfileLocation(
            id=uuid.uuid4(), profile_id=profile.id, name=f"{country} office", country=country
        )
        session.add(location)
        await session.flush()
        # Private: who receives the alerts, and whether they opted out.
        session.add(
            models.LocationContact(
                location_id=location.id,
                name="Private Person",
                email=f"private-{partner.slug}@secret.example",
                phone="+1 555 0199",
                alerts_opted_out=True,
            )
        )
    await session.flush()
    await refresh_search_document(session, profile.id)
    if score is not None:
        await set_score(session, profile, score)
    return profile


async def set_score(session: AsyncSession, profile: models.BusinessProfile, score: float) -> None:
    await session.execute(
        text(
            "INSERT INTO responsiveness_scores (profile_id, score, answered_on_time_share, "
            "median_response_hours, expired_share, leads_considered, computed_at) "
            "VALUES (:id, :score, 0.123, 45.6, 0.789, 42, now()) "
            "ON CONFLICT (profile_id) DO UPDATE SET score = excluded.score"
        ),
        {"id": profile.id, "score": score},
    )


async def make_api_key(
    session: AsyncSession,
    settings: Settings,
    *,
    organisation_id: uuid.UUID,
    roles: tuple[Role, ...] = (Role.PARTNER_ADMIN,),
    name: str | None = None,
    expires_at: datetime | None = None,
    revoked_at: datetime | None = None,
) -> tuple[models.ApiKey, str]:
    """A key of the organisation and its secret, hashed as `settings` hash keys."""
    secret = api_keys.new_secret()
    key = models.ApiKey(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        name=name or unique("key"),
        prefix=api_keys.display_prefix(secret),
        secret_hash=api_keys.secret_hash(secret, settings.api_key_hash_key),
        roles=[r.value for r in roles],
        expires_at=expires_at,
        revoked_at=revoked_at,
    )
    session.add(key)
    await session.flush()
    return key, secret
