"""Big worlds for benchmarks: M more partners and N leads spread over them, COPY'd in batches
beside the demo world."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.db.session import create_engine
from app.dev.catalogue import PLATFORM_SLUG
from app.dev.copy_writer import LEAD_TABLES, LeadRows, write_lead_rows
from app.dev.lead_generator import generate_lead
from app.dev.partners import Senders, create_partner
from app.domain.roles import Role
from app.services import affinity_counts


async def _platform_senders(session: AsyncSession) -> Senders:
    """The demo world's platform staff, who send the bulk partners' qualified leads."""
    platform_org = await session.scalar(
        select(models.Organisation.id).where(models.Organisation.slug == PLATFORM_SLUG)
    )
    assert platform_org is not None, "seed the demo world first"
    staff: dict[str, uuid.UUID] = dict(
        (
            await session.execute(
                select(models.User.roles[1], models.User.id).where(
                    models.User.organisation_id == platform_org
                )
            )
        ).all()
    )
    return Senders(
        marketer=staff[Role.MARKETER.value],
        seller=staff[Role.SELLER.value],
        platform_org=platform_org,
    )


async def seed_bulk(
    settings: Settings,
    *,
    partners: int,
    leads: int,
    progress: bool = False,
    now: datetime | None = None,
    seed: int = 7,
    batch: int = 20_000,
) -> None:
    """M partners and N leads spread over them, COPY'd in batches (benchmarks)."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    run_id = uuid.uuid4().hex[:6]
    try:
        async with AsyncSession(engine) as session, session.begin():
            senders = await _platform_senders(session)
            for i in range(partners):
                slug = f"bulk-{run_id}-{i:05d}"
                senders.partners.append(
                    await create_partner(
                        session, slug, f"Bulk Partner {i}", f"Bulk Profile {i}", "US"
                    )
                )
        # rich's bar, or nothing when not asked for.
        with Progress(disable=not progress) as bar:
            task = bar.add_task("leads", total=leads)
            done = 0
            while done < leads:
                size = min(batch, leads - done)
                rows = LeadRows()
                for n in range(size):
                    partner = senders.partners[(done + n) % len(senders.partners)]
                    generate_lead(rng, partner, senders, now, settings.lead_response_days, rows)
                async with engine.begin() as conn:
                    await write_lead_rows(conn, rows)
                done += size
                bar.advance(task, size)
        # Seeded answers never went through the lifecycle's jobs: count them here.
        async with AsyncSession(engine) as session, session.begin():
            await affinity_counts.refresh(
                session, [partner.organisation_id for partner in senders.partners]
            )
        # Fresh statistics and visibility maps, so the planner and index-only scans see the
        # world as it is rather than as an empty table.
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in (*LEAD_TABLES, "affinity_counts"):
                await conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    finally:
        await engine.dispose()
