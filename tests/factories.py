"""Test data from keyword factory functions: say only what the test is about."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from app.domain.roles import Role
from app.services.seed import Partner

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
    session.add(
        models.LeadHistory(
            lead_id=lead.id,
            action="RECEIVE",
            from_stage=None,
            to_stage="RECEIVED",
            actor_kind="SYSTEM",
            at=received_at,
        )
    )
    await session.flush()
    return lead
