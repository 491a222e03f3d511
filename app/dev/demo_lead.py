"""A lead arriving now, through the real RECEIVE step, to watch the workers deliver it."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import Settings
from app.db import models
from app.db.session import create_engine
from app.dev.catalogue import COMPANIES, COUNTRIES, FIRST, INDUSTRIES, LAST, NEEDS
from app.domain.lifecycle import LeadType
from app.domain.reference import CompanySize
from app.domain.roles import Role
from app.jobs import JobQueue, unit_of_work
from app.services.receive import IncomingLead, receive_lead


async def demo_lead(
    settings: Settings,
    partner: str,
    *,
    contact_me: bool,
    days_ago: float = 0.0,
    from_seller: bool = False,
) -> uuid.UUID | None:
    """One customer inquiry (or, `from_seller`, a sales-qualified lead from the demo seller)
    through the real RECEIVE step (history, outbox); its relay job is queued after commit.
    None when there is no such partner."""
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    queue = JobQueue(settings.redis_url)
    rng = random.Random()
    contact = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    company = rng.choice(COMPANIES)
    try:
        async with unit_of_work(async_sessionmaker(engine), queue) as session:
            org_id = await session.scalar(
                select(models.Organisation.id).where(models.Organisation.slug == partner)
            )
            if org_id is None:
                return None
            seller = (
                await session.scalar(
                    select(models.User)
                    .where(models.User.roles.contains([Role.SELLER.value]))
                    .order_by(models.User.email)
                    .limit(1)
                )
                if from_seller
                else None
            )
            lead = await receive_lead(
                session,
                org_id,
                IncomingLead(
                    type=LeadType.SALES_QUALIFIED if seller else LeadType.CUSTOMER_INQUIRY,
                    sender_user_id=seller.id if seller else None,
                    sender_organisation_id=seller.organisation_id if seller else None,
                    company_name=company,
                    company_size=rng.choice(list(CompanySize)).value,
                    country=rng.choice(COUNTRIES),
                    contact_name=contact,
                    contact_email=f"{contact.split()[0].lower()}@{company.split()[0].lower()}.example",
                    need=rng.choice(NEEDS),
                    industry=rng.choice(INDUSTRIES),
                    contact_phone="+1 555 0199",
                    contact_requested=contact_me,
                ),
                now=datetime.now(UTC) - timedelta(days=days_ago),
                settings=settings,
            )
            lead_id = lead.id
    finally:
        await queue.close()
        await engine.dispose()
    return lead_id
