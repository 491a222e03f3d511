"""The console script as a developer uses it, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import jwt
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import PROJECT_ROOT, Settings
from app.db.migrate import MIGRATIONS
from app.db.models import Lead, LeadHistory, Organisation, User
from tests.factories import World

CLI = str(Path(sys.executable).parent / "partner-leads")


def _cli(
    settings: Settings, *args: str, **env_overrides: str | None
) -> subprocess.CompletedProcess[str]:
    """Run the console script; an override of None unsets that variable."""
    env = dict(
        os.environ,
        DATABASE_URL=settings.database_url or "",
        REDIS_URL=settings.redis_url or "",
        APP_ENV="test",
        LOG_LEVEL="WARNING",
    )
    for name, value in env_overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [CLI, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def _subject(settings: Settings, token: str) -> uuid.UUID:
    claims = jwt.decode(
        token.strip(), settings.jwt_secret, algorithms=["HS256"], audience=settings.jwt_audience
    )
    return uuid.UUID(claims["sub"])


def test_token_for_partner_role_platform_role_and_email(settings: Settings, world: World) -> None:
    cases = [
        (["--partner", "contoso", "--role", "REFERRALS_ADMIN"], world.contoso.referrals_admin),
        (["--partner", "fabrikam"], world.fabrikam.partner_admin),
        (["--role", "SELLER"], world.seller),
        (["--role", "MARKETER"], world.marketer),
        (["--role", "PLATFORM_ADMIN"], world.platform_admin),
        (["--email", "sales@northwind.example"], world.northwind.member),
    ]
    for args, user_id in cases:
        result = _cli(settings, "token", *args)
        assert result.returncode == 0, result.stderr
        assert _subject(settings, result.stdout) == user_id, args


def test_a_cli_call_prints_no_warning(settings: Settings, world: World) -> None:
    # Without XDG_RUNTIME_DIR (containers, CI) platformdirs warned on every call.
    result = _cli(settings, "token", "--role", "SELLER", XDG_RUNTIME_DIR=None)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_migrate_prints_each_info_line_once(settings: Settings, empty_database: str) -> None:
    result = _cli(settings, "migrate", DATABASE_URL=empty_database, LOG_LEVEL="INFO")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "migrated to head\n"
    messages = Counter(
        line.split(" INFO ", 1)[1] for line in result.stderr.splitlines() if " INFO " in line
    )
    upgrades = [m for m in messages if "Running upgrade" in m]
    assert len(upgrades) == len(list(MIGRATIONS.glob("versions/*.py"))), messages
    assert set(messages.values()) == {1}, messages
    assert not [m for m in messages if "setup plugin" in m], messages


def test_token_for_unknown_user_fails_clearly(settings: Settings, world: World) -> None:
    result = _cli(settings, "token", "--email", "nobody@nowhere.example")
    assert result.returncode == 1
    assert "no such user" in result.stderr


async def test_seed_is_idempotent_and_builds_bulk_worlds(
    settings: Settings, engine: AsyncEngine, world: World
) -> None:
    async with AsyncSession(engine) as session:
        orgs_before = await session.scalar(select(func.count()).select_from(Organisation))
    result = _cli(settings, "seed", "--partners", "3", "--leads", "600")
    assert result.returncode == 0, result.stderr
    assert "demo world already present" in result.stdout

    async with AsyncSession(engine) as session:
        bulk = (
            await session.scalars(select(Organisation.id).where(Organisation.slug.like("bulk-%")))
        ).all()
        assert len(bulk) == 3
        assert await session.scalar(select(func.count()).select_from(Organisation)) == (
            (orgs_before or 0) + 3
        )
        leads = await session.scalar(
            select(func.count()).select_from(Lead).where(Lead.organisation_id.in_(bulk))
        )
        assert leads == 600
        # Every lead has its history, and its stage agrees with its last history row.
        without_history = await session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(
                Lead.organisation_id.in_(bulk),
                ~select(LeadHistory.id).where(LeadHistory.lead_id == Lead.id).exists(),
            )
        )
        assert without_history == 0
        last = (
            select(LeadHistory.to_stage)
            .where(LeadHistory.lead_id == Lead.id)
            .order_by(LeadHistory.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        mismatched = await session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.organisation_id.in_(bulk), Lead.stage != last)
        )
        assert mismatched == 0
        users = await session.scalar(
            select(func.count()).select_from(User).where(User.organisation_id.in_(bulk))
        )
        assert users == 9
