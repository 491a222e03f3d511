"""Who is calling. A bearer JWT names the user; the database says what they may do."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.tenancy import Tenant
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

    @cached_property
    def tenant(self) -> Tenant:
        """Whom this actor's transactions serve, behind row-level security: as
        `partner_leads_actor` makes it (migration 0007)."""
        return Tenant(
            self.organisation_id,
            self.user_id,
            platform_admin=self.organisation_kind == "PLATFORM" and self.has(Role.PLATFORM_ADMIN),
        )


class AuthenticationError(Exception):
    """The credentials were present but not acceptable (bad signature, expired, unknown user)."""


# Entries a cache keeps before it starts afresh: far more than the users of one process.
MAX_CACHED = 10_000


class TokenVerifier:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        # A token verified once is good until it expires: verifying costs more than the rest of
        # a compiled read (pyjwt prepares the key on every decode).
        self._verified: dict[str, tuple[uuid.UUID, float]] = {}

    def verify(self, token: str) -> uuid.UUID:
        known = self._verified.get(token)
        if known is not None and time.time() < known[1]:
            return known[0]
        user_id, expires = self._verify(token)
        if len(self._verified) >= MAX_CACHED:
            self._verified.clear()
        self._verified[token] = (user_id, expires)
        return user_id

    def _verify(self, token: str) -> tuple[uuid.UUID, float]:
        # `iss` is required and checked in both modes: a token another issuer signed with a
        # shared key (or for another service of ours) is not one of ours.
        options: Any = {"require": ["exp", "aud", "sub", "iss"]}
        try:
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                algorithms = ["RS256"]
            else:
                key, algorithms = self.settings.jwt_secret, ["HS256"]
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options=options,
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(_reason(exc)) from exc
        try:
            return uuid.UUID(str(claims["sub"])), float(claims["exp"])
        except (TypeError, ValueError) as exc:
            raise AuthenticationError("the token's subject is not a user id (UUID)") from exc


def _reason(error: jwt.PyJWTError) -> str:
    """Our own words for why a token was refused: PyJWT's messages name its internals (and a
    JWKS client's failures, the key server's URL)."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the token lacks the '{error.claim}' claim"
    if isinstance(error, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "the token is not valid yet"
    if isinstance(error, jwt.InvalidAudienceError):
        return "the token is for another audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "the token is from another issuer"
    if isinstance(error, jwt.InvalidSignatureError):
        return "the token's signature is invalid"
    if isinstance(error, jwt.InvalidAlgorithmError):
        return "the token is signed with an algorithm this service does not accept"
    return "the token is malformed"


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


# Who a user is, and what they may do: one statement for both read paths. The function
# (migration 0007) reads the active user past row-level security, which knows no tenant yet,
# and makes the user's tenant the transaction's (app/db/tenancy.py).
ACTOR_SQL = "SELECT id, organisation_id, kind, roles, name, email FROM partner_leads_actor($1)"


def _actor(row: Any) -> Actor | None:
    if row is None:
        return None
    user_id, organisation_id, kind, roles, name, email = row
    return Actor(
        user_id=user_id,
        organisation_id=organisation_id,
        organisation_kind=kind,
        roles=frozenset(Role(r) for r in roles if r in Role.__members__),
        name=name,
        email=email,
    )


async def load_actor(session: AsyncSession, user_id: uuid.UUID) -> Actor | None:
    row = (
        await session.execute(text(ACTOR_SQL.replace("$1", ":user_id")), {"user_id": user_id})
    ).one_or_none()
    return _actor(row)


class ActorCache:
    """Actors loaded within the last `ttl` seconds, for the compiled read path: loading the
    actor on every read costs a round trip. A removed role or a deactivated user therefore
    takes effect for reads within `ttl` seconds; writes always load the actor afresh."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._actors: dict[uuid.UUID, tuple[float, Actor | None]] = {}

    async def get(
        self, user_id: uuid.UUID, fetch: Callable[[str, Sequence[Any], None], Awaitable[Any]]
    ) -> Actor | None:
        """The cached actor, or the one `fetch(ACTOR_SQL, [user_id])` reads (None: unknown or
        inactive)."""
        now = self.clock()
        cached = self._actors.get(user_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        actor = _actor(await fetch(ACTOR_SQL, [user_id], None))
        if len(self._actors) >= MAX_CACHED:
            self._actors.clear()
        self._actors[user_id] = (now, actor)
        return actor
