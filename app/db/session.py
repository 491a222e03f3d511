"""Engine and session factory. Services never commit: the caller (a resolver, a job, a CLI
command) owns the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.config import Settings
from app.db.urls import with_driver


def create_engine(settings: Settings, url: str | None = None, **kwargs: object) -> AsyncEngine:
    database_url = url or settings.database_url
    if not database_url:
        raise RuntimeError("DATABASE_URL is not set and no embedded Postgres was started")
    options: dict[str, Any] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_pre_ping": True,
        "connect_args": {
            "server_settings": {
                "application_name": "partner-leads",
                "statement_timeout": str(settings.db_statement_timeout_ms),
                # asyncpg prepares every statement; after five runs Postgres may switch to a
                # generic plan that ignores the actual partner and search words (measured: a
                # 4 ms inbox search became 20 ms). Plan each execution for its parameters.
                "plan_cache_mode": "force_custom_plan",
            }
        },
    }
    options.update(kwargs)
    return create_async_engine(with_driver(database_url), **options)


# A write's statements find their rows by key (lock the lead, update it, insert its history and
# outbox rows), so a plan made once per connection serves every execution; forcing a custom
# plan each time (the engine's default, for the reads above) cost an accept 0.6-1.2 ms of
# planning, a third of its Postgres time, most of it growing with the indexes on `leads`
# (bench/RESULTS.md, issue 12). Transaction-local: the pooled connection goes back as it was.
_WRITE_PLANS = text("SELECT set_config('plan_cache_mode', 'auto', true)")


async def plan_for_writes(session: AsyncSession) -> None:
    """Let the rest of `session`'s transaction reuse its statements' generic plans."""
    await session.execute(_WRITE_PLANS)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with sessionmaker() as session, session.begin():
        yield session


async def refuse_to_bypass_the_wall(engine: AsyncEngine, who: str) -> None:
    """Stop at start-up, with the reason, when `engine` connects as a role that row-level
    security does not apply to: the API and the workers must never run as the owner."""
    from app.db.tenancy import role_problem

    async with engine.connect() as conn:
        problem = await role_problem(conn)
    if problem is not None:
        await engine.dispose()
        raise RuntimeError(
            f"{who} {problem}: connect as partner_leads_app / partner_leads_worker "
            "(APP_DATABASE_URL / WORKER_DATABASE_URL; see the README's Security section)"
        )
