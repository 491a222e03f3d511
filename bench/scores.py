"""How long the responsiveness recompute takes on the bench world (run `make bench` first).

.venv/bin/python -m bench.scores
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import PROJECT_ROOT, AppEnv, Settings
from app.db.migrate import upgrade
from app.db.models import BusinessProfile, Lead
from app.db.session import create_engine
from app.dev.stack import DevStack
from app.services.responsiveness import recompute_all, recompute_profile


async def measure(settings: Settings) -> None:
    engine = create_engine(settings)
    async with AsyncSession(engine) as session:
        profiles = await session.scalar(select(func.count()).select_from(BusinessProfile))
        leads = await session.scalar(select(func.count()).select_from(Lead))
        busiest = await session.scalar(
            select(Lead.profile_id).group_by(Lead.profile_id).order_by(func.count().desc()).limit(1)
        )
    all_runs, one_runs = [], []
    for _ in range(7):
        async with AsyncSession(engine) as session, session.begin():
            started = time.perf_counter()
            await recompute_all(session, now=datetime.now(UTC), settings=settings)
            all_runs.append(time.perf_counter() - started)
        async with AsyncSession(engine) as session, session.begin():
            started = time.perf_counter()
            await recompute_profile(session, busiest, now=datetime.now(UTC), settings=settings)
            one_runs.append(time.perf_counter() - started)
    await engine.dispose()
    print(
        f"{profiles:,} profiles, {leads:,} leads: recompute_all median "
        f"{statistics.median(all_runs) * 1000:.0f} ms, recompute_profile (busiest) median "
        f"{statistics.median(one_runs) * 1000:.0f} ms"
    )


def main() -> None:
    stack = DevStack(
        PROJECT_ROOT / ".data" / "bench", redis_url="unused", database_name="partner_leads_bench"
    ).start()
    try:
        settings = Settings(
            app_env=AppEnv.TEST, database_url=stack.database_url, redis_url="redis://unused"
        )
        assert settings.database_url
        upgrade(settings.database_url)
        asyncio.run(measure(settings))
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
