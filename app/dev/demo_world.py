"""The demo world: platform staff, the three demo partners and a few hundred leads in every
state, scored at once."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.db.session import create_engine
from app.dev.catalogue import DEMO_LEADS, DEMO_PARTNERS, PLATFORM_SLUG
from app.dev.copy_writer import LeadRows, write_lead_rows
from app.dev.lead_generator import generate_lead
from app.dev.partners import Partner, Senders, create_partner
from app.domain.roles import Role
from app.services import affinity_counts
from app.services.responsiveness import recompute_all


async def seed_demo(
    settings: Settings, *, force: bool = False, now: datetime | None = None
) -> bool:
    """Create the demo world in an empty database. Returns False if there was data already."""
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(engine) as session, session.begin():
            existing = await session.scalar(select(func.count()).select_from(models.Organisation))
            if existing and not force:
                return False
            await seed_demo_into(session, settings, now=now)
            # Scores from the seeded history at once, rather than at the workers' first run.
            await recompute_all(session, now=now or datetime.now(UTC), settings=settings)
        return True
    finally:
        await engine.dispose()


async def seed_demo_into(
    session: AsyncSession,
    settings: Settings,
    *,
    now: datetime | None = None,
    seed: int = 42,
    suffix: str = "",
) -> dict[str, Partner]:
    """The demo world inside the caller's transaction (tests pass a suffix for fresh slugs)."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    platform = models.Organisation(
        id=uuid.uuid4(), slug=PLATFORM_SLUG + suffix, name="Partner Program", kind="PLATFORM"
    )
    session.add(platform)
    await session.flush()
    staff = {}
    for role, local in (
        (Role.MARKETER, "marketer"),
        (Role.SELLER, "seller"),
        (Role.PLATFORM_ADMIN, "admin"),
    ):
        user = models.User(
            id=uuid.uuid4(),
            organisation_id=platform.id,
            email=f"{local}{suffix}@{PLATFORM_SLUG}.example",
            name=f"Platform {local.title()}",
            roles=[role.value],
        )
        session.add(user)
        staff[role] = user.id
    await session.flush()
    senders = Senders(
        marketer=staff[Role.MARKETER], seller=staff[Role.SELLER], platform_org=platform.id
    )
    partners: dict[str, Partner] = {}
    for slug, (name, profile, country) in DEMO_PARTNERS.items():
        partners[slug] = await create_partner(session, slug + suffix, name, profile, country)
        senders.partners.append(partners[slug])
    await session.flush()
    rows = LeadRows()
    for slug, count in DEMO_LEADS.items():
        for i in range(count):
            generate_lead(
                rng, partners[slug], senders, now, settings.lead_response_days, rows, index=i
            )
    await write_lead_rows(await session.connection(), rows)
    # Seeded answers never went through the lifecycle's jobs: count them here.
    await affinity_counts.refresh(session, [p.organisation_id for p in partners.values()])
    return partners
