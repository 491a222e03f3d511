"""API keys (issue 10): a partner admin gives the organisation's integrations credentials of
their own, each with a subset of the admin's roles, shown once and stored only as a keyed hash
(app/domain/api_keys.py). `app.services.auth` accepts them wherever a JWT is accepted.

Services take (session, actor, ...) and return rows or `Refused`; they flush, never commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import ApiKey
from app.domain import api_keys
from app.domain.roles import PARTNER_ROLES, Role
from app.domain.validation import Checker
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.paging import as_utc

MAX_NAME = 100
MAX_ACTIVE_KEYS_PER_ORGANISATION = 50


def _refuse_unless_admin(actor: Actor | None) -> Refused | None:
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to manage API keys")
    # A key never manages keys: a leaked one could otherwise outlive its own revocation.
    if actor.api_key_id is not None:
        return Refused.one(ErrorCode.FORBIDDEN, "API keys are managed by signed-in admins only")
    if actor.organisation_kind != "PARTNER" or not actor.has(Role.PARTNER_ADMIN):
        return Refused.one(ErrorCode.FORBIDDEN, "only partner admins manage API keys")
    return None


def _check_roles(checker: Checker, raw: list[str], actor: Actor) -> list[str]:
    chosen: list[str] = []
    if not raw:
        checker.fail("roles", "give the key at least one role")
    for index, name in enumerate(raw):
        role = (name or "").strip()
        if role not in PARTNER_ROLES:
            checker.fail(
                ("roles", str(index)),
                f"'{name}' is not a partner role; use one of {', '.join(sorted(PARTNER_ROLES))}",
            )
        elif Role(role) not in actor.roles:
            checker.fail(("roles", str(index)), f"you do not hold {role} yourself")
        elif role not in chosen:
            chosen.append(role)
    return chosen


async def create_key(
    session: AsyncSession,
    actor: Actor | None,
    *,
    name: str,
    roles: list[str],
    expires_at: datetime | None,
    settings: Settings,
    now: datetime,
) -> tuple[ApiKey, str] | Refused:
    """The new key and its secret, which is not kept anywhere: the caller shows it once."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker()
    cleaned = checker.text("name", name, max_len=MAX_NAME, required=True)
    chosen = _check_roles(checker, roles, actor)
    expires = None
    if expires_at is not None:
        expires = as_utc(expires_at)
        if expires is None:
            checker.fail("expires_at", "is out of range")
        elif expires <= now:
            checker.fail("expires_at", "must be in the future")
    if checker.problems:
        return Refused.invalid(checker.problems)
    active = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(
            ApiKey.organisation_id == actor.organisation_id,
            ApiKey.revoked_at.is_(None),
            (ApiKey.expires_at.is_(None)) | (ApiKey.expires_at > now),
        )
    )
    if (active or 0) >= MAX_ACTIVE_KEYS_PER_ORGANISATION:
        return Refused.one(
            ErrorCode.CONFLICT,
            f"an organisation has at most {MAX_ACTIVE_KEYS_PER_ORGANISATION} active API keys; "
            "revoke one first",
        )
    secret = api_keys.new_secret()
    key = ApiKey(
        organisation_id=actor.organisation_id,
        name=cleaned,
        prefix=api_keys.display_prefix(secret),
        secret_hash=api_keys.secret_hash(secret, settings.api_key_hash_key),
        roles=chosen,
        created_by=actor.user_id,
        created_at=now,
        expires_at=expires,
    )
    session.add(key)
    await session.flush()
    return key, secret


async def list_keys(session: AsyncSession, actor: Actor | None) -> list[ApiKey] | Refused:
    """The organisation's keys, revoked ones included, newest first."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.organisation_id == actor.organisation_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return list(rows)


async def keys_by_ids(
    session: AsyncSession, actor: Actor | None, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ApiKey]:
    """The keys among `ids` that `list_keys` would list for the caller."""
    if _refuse_unless_admin(actor) is not None or not ids:
        return {}
    assert actor is not None
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.id.in_(ids), ApiKey.organisation_id == actor.organisation_id)
    )
    return {row.id: row for row in rows}


async def revoke_key(
    session: AsyncSession, actor: Actor | None, raw_id: str, *, now: datetime
) -> ApiKey | Refused:
    """Refused from the key's next request on. Revoking a revoked key changes nothing."""
    refused = _refuse_unless_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    key_id = parse_id(raw_id, "key_id")
    if isinstance(key_id, Refused):
        return key_id
    key = (
        await session.execute(
            select(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.organisation_id == actor.organisation_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if key is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such API key", "key_id")
    if key.revoked_at is None:
        key.revoked_at = now
        await session.flush()
    return key
