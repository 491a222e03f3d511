"""/healthz: the process answers (no I/O). /readyz: Postgres and Redis answer and the database's
schema is the code's (Alembic's head, read once per process); 503 naming what is not ready.
The API and the worker serve the same two."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse

from app.db.migrate import head_revision

CHECK_SECONDS = 2.0
# What a check finds: per name, None when ready, else why not in a few words.
Findings = dict[str, str | None]


@dataclass(frozen=True)
class Check:
    names: tuple[str, ...]  # what it answers for, all "unreachable" when it fails
    run: Callable[[], Awaitable[Findings]]


@lru_cache(maxsize=1)
def code_revision() -> str | None:
    return head_revision()


def database_check(sessionmaker: Callable[[], async_sessionmaker[AsyncSession] | None]) -> Check:
    """Postgres reachable, and at the code's migration: one statement."""

    async def run() -> Findings:
        maker = sessionmaker()
        if maker is None:
            return {"postgres": "not connected yet", "migrations": "unknown"}
        async with maker() as session:
            revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
        needed = code_revision()
        migrations = None if revision == needed else f"database at {revision}, code needs {needed}"
        return {"postgres": None, "migrations": migrations}

    return Check(("postgres", "migrations"), run)


def redis_check(redis_url: str | None) -> Check:
    async def run() -> Findings:
        if not redis_url:
            return {"redis": "REDIS_URL is not set"}
        client = Redis.from_url(
            redis_url, socket_connect_timeout=CHECK_SECONDS, socket_timeout=CHECK_SECONDS
        )
        try:
            await client.ping()
        finally:
            await client.aclose()
        return {"redis": None}

    return Check(("redis",), run)


async def _findings(check: Check) -> Findings:
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return await check.run()
    except TimeoutError:
        problem = f"no answer within {CHECK_SECONDS:g}s"
    except Exception as exc:  # unreachable, refused, ...: its kind, never its details
        problem = f"unreachable ({type(exc).__name__})"
    return dict.fromkeys(check.names, problem)


async def readiness(checks: list[Check]) -> tuple[bool, dict[str, str]]:
    results: dict[str, str] = {}
    for findings in await asyncio.gather(*(_findings(check) for check in checks)):
        results.update({name: problem or "ok" for name, problem in findings.items()})
    return all(value == "ok" for value in results.values()), results


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


def readyz_route(checks: list[Check]) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def readyz(request: Request) -> JSONResponse:
        ready, results = await readiness(checks)
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    return readyz
