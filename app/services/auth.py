"""Who is calling. A bearer JWT names the user; the database says what they may do."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Organisation, User
from app.domain.roles import LEAD_MANAGER_ROLES, Role


@dataclass(frozen=True)
class Actor:
    """An authenticated, active user with the roles the database gives them."""

    user_id: uuid.UUID
    organisation_id: uuid.UUID
    organisation_kind: str
    roles: frozenset[Role]
    name: str
    email: str

    @cached_property
    def manages_leads(self) -> bool:
        return self.organisation_kind == "PARTNER" and bool(self.roles & LEAD_MANAGER_ROLES)

    def has(self, role: Role) -> bool:
        return role in self.roles


class AuthenticationError(Exception):
    """The credentials were present but not acceptable (bad signature, expired, unknown user)."""


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None

    def verify(self, token: str) -> uuid.UUID:
        options: Any = {"require": ["exp", "aud", "sub"]}
        try:
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=["RS256"],
                    audience=self.settings.jwt_audience,
                    options=options,
                )
            else:
                claims = jwt.decode(
                    token,
                    self.settings.jwt_secret,
                    algorithms=["HS256"],
                    audience=self.settings.jwt_audience,
                    options=options,
                )
            return uuid.UUID(str(claims["sub"]))
        except (jwt.PyJWTError, ValueError) as exc:
            raise AuthenticationError(str(exc)) from exc


def issue_token(
    settings: Settings,
    user_id: uuid.UUID,
    *,
    ttl: timedelta = timedelta(hours=12),
    now: datetime | None = None,
) -> str:
    """An HS256 token for `user_id` (dev, test, and deployments that sign their own tokens)."""
    issued = now or datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "iat": int(issued.timestamp()),
        "exp": int((issued + ttl).timestamp()),
    }
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


async def load_actor(session: AsyncSession, user_id: uuid.UUID) -> Actor | None:
    row = (
        await session.execute(
            select(
                User.id, User.organisation_id, Organisation.kind, User.roles, User.name, User.email
            )
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(User.id == user_id, User.active.is_(True))
        )
    ).one_or_none()
    if row is None:
        return None
    return Actor(
        user_id=row.id,
        organisation_id=row.organisation_id,
        organisation_kind=row.kind,
        roles=frozenset(Role(r) for r in row.roles if r in Role.__members__),
        name=row.name,
        email=row.email,
    )
