"""Which seeded user a dev token is for."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.db.session import create_engine
from app.dev.catalogue import PLATFORM_SLUG
from app.domain.roles import Role


async def find_user(
    settings: Settings,
    *,
    partner: str | None = None,
    role: Role | None = None,
    email: str | None = None,
) -> uuid.UUID | None:
    """The demo user a token is for: by e-mail, or the first user of the partner (or of the
    platform, for platform roles) holding the role."""
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        async with AsyncSession(engine) as session:
            statement = select(models.User.id).join(models.Organisation)
            if email:
                statement = statement.where(func.lower(models.User.email) == email.lower())
            else:
                slug = partner or PLATFORM_SLUG
                wanted = role or (Role.PARTNER_ADMIN if partner else Role.PLATFORM_ADMIN)
                statement = statement.where(
                    models.Organisation.slug == slug, models.User.roles.contains([wanted.value])
                )
            return (await session.scalars(statement.order_by(models.User.email).limit(1))).first()
    finally:
        await engine.dispose()
