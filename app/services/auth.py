"""Who is calling. A bearer JWT names the user, or a bearer API key names the key; the database
says what they may do. `Authenticator.authenticate` is the one entry point every route uses."""

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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.tenancy import Tenant
from app.domain import api_keys
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
    # Set when the caller is an API key. A key is not a person: `user_id` is then the key's own
    # id, which names no user, so personal rows (favorites, notifications, sent leads) are
    # empty for it, and its transactions serve its organisation with no user at all.
    api_key_id: uuid.UUID | None = None

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
            None if self.api_key_id is not None else self.user_id,
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


# An API key by the HMAC of its secret, if active (neither revoked nor expired); the function
# (migration 0008) makes the key's organisation the transaction's tenant, with no user.
API_KEY_SQL = (
    "SELECT id, organisation_id, kind, roles, name, last_used_at, expires_at "
    "FROM partner_leads_api_key($1)"
)
KEY_USED_SQL = "SELECT partner_leads_api_key_used(:key_id, :at)"
# A key's last use is written at most this often (the function checks it again).
KEY_USE_RESOLUTION = timedelta(minutes=1)
INVALID_KEY = "invalid API key"

# One statement and its positional ($1) parameters -> its first row, or None.
Lookup = Callable[[str, Sequence[Any]], Awaitable[Any]]


def session_lookup(session: AsyncSession) -> Lookup:
    """Statements in `session`'s transaction: the tenant the lookup makes is the transaction's."""

    async def lookup(sql: str, params: Sequence[Any]) -> Any:
        connection = await session.connection()
        return (await connection.exec_driver_sql(sql, tuple(params))).first()

    return lookup


def _key_actor(row: Any) -> Actor:
    key_id, organisation_id, kind, roles, name, _, _ = row
    return Actor(
        user_id=key_id,
        organisation_id=organisation_id,
        organisation_kind=kind,
        roles=frozenset(Role(r) for r in roles if r in Role.__members__),
        name=name,
        email="",
        api_key_id=key_id,
    )


def bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("use 'Authorization: Bearer <token>'")
    return token.strip()


class Authenticator:
    """Who a request's `Authorization` header names: a user by a JWT, or an API key.

    User actors may be cached for reads (`ActorCache`); API key actors never are: a revoked or
    expired key is refused on its very next request, on every path and in every process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verifier = TokenVerifier(settings)
        self.users = ActorCache(settings.actor_cache_seconds)
        self._pepper = settings.api_key_hash_key

    async def authenticate(
        self,
        authorization: str | None,
        lookup: Lookup,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        cached: bool = False,
        now: datetime | None = None,
    ) -> Actor | None:
        """The caller's actor; None without credentials (anonymous). Raises
        `AuthenticationError` for credentials that are present but not acceptable.

        `lookup` runs the actor's lookup (the request's session: its transaction then serves
        the actor; or the read pool). `sessionmaker` commits a key's last use, apart from the
        request (whose own transaction may well roll back). `cached`: a user's actor may come
        from the last `actor_cache_seconds` (reads only)."""
        if not authorization:
            return None
        token = bearer_token(authorization)
        if api_keys.looks_like_key(token):
            return await self._key(token, lookup, sessionmaker, now or datetime.now(UTC))
        user_id = self.verify_token(token)
        if cached:
            actor = await self.users.get(user_id, lambda sql, params, _: lookup(sql, params))
        else:
            actor = _actor(await lookup(ACTOR_SQL, [user_id]))
        if actor is None:
            raise AuthenticationError("unknown or inactive user")
        return actor

    def verify_token(self, token: str) -> uuid.UUID:
        try:
            return self.verifier.verify(token)
        except AuthenticationError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from exc

    def check(self, authorization: str) -> None:
        """What can be refused without the database: the header's form, a JWT's signature and
        claims, a key's form and checksum. Raises `AuthenticationError`."""
        token = bearer_token(authorization)
        if api_keys.looks_like_key(token):
            if not api_keys.well_formed(token):
                raise AuthenticationError(INVALID_KEY)
        else:
            self.verify_token(token)

    async def _key(
        self,
        secret: str,
        lookup: Lookup,
        sessionmaker: async_sessionmaker[AsyncSession],
        now: datetime,
    ) -> Actor:
        # A mistyped, truncated or made-up key costs no lookup.
        if not api_keys.well_formed(secret):
            raise AuthenticationError(INVALID_KEY)
        row = await lookup(API_KEY_SQL, [api_keys.secret_hash(secret, self._pepper)])
        if row is None:
            raise AuthenticationError(INVALID_KEY)
        last_used_at = row[5]
        if last_used_at is None or now - last_used_at >= KEY_USE_RESOLUTION:
            async with sessionmaker() as session:
                await session.execute(text(KEY_USED_SQL), {"key_id": row[0], "at": now})
                await session.commit()
        return _key_actor(row)
