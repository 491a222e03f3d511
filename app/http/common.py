"""What the CSV routes share: who is calling (the same credentials as GraphQL), the request's
session behind the tenancy wall, and typed JSON errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.jobs import JobQueue
from app.services.auth import (
    Actor,
    AuthenticationError,
    Lookup,
    bearer_token,
    session_lookup,
)
from app.services.errors import Refused


class Edge(Protocol):
    """What the GraphQL view holds and these routes share with it (the view is one)."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    queue: JobQueue | None
    clock: Callable[[], datetime]

    async def authenticate(
        self, header: str | None, lookup: Lookup, now: datetime, *, cached: bool = False
    ) -> Actor | None: ...

    async def wrote(self, header: str | None) -> None:
        """After a commit: the writer's next reads see it (app/db/replica.py)."""


class HttpError(Exception):
    """A refused request: its status, a stable code, the offending parameter or column."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers or {}

    def response(self) -> Response:
        error = {"code": self.code, "field": self.field, "message": self.message}
        return error_response(self.status, [error], self.headers)

    @classmethod
    def refused(
        cls, status: int, refused: Refused, field: Callable[[tuple[str, ...]], list[str]]
    ) -> HttpError:
        first = refused.errors[0]
        return cls(
            status,
            first.code.value,
            first.message,
            field(first.field) if first.field is not None else None,
        )


def error_response(
    status: int, errors: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps({"errors": errors}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def request_session(edge: Edge, actor: Callable[[], Actor | None]) -> AsyncSession:
    """A session whose transactions serve the caller (app/db/tenancy.py), as GraphQL's."""

    def tenant() -> Any:
        known = actor()
        return None if known is None else known.tenant

    return edge.sessionmaker(info={"tenant": tenant})


async def authenticate(edge: Edge, request: Request, session: AsyncSession) -> Actor:
    """The caller, from `Authorization: Bearer <credential>` as the GraphQL view reads it; its
    lookup is the session's first statement and makes the transaction the caller's tenant.
    401 when missing or not acceptable."""
    header = bearer_header(request)
    try:
        # As GraphQL authenticates (a JWT's user or an API key), in the route's own session.
        actor = await edge.authenticate(header, session_lookup(session), edge.clock())
    except AuthenticationError as exc:
        raise _unauthenticated(str(exc)) from exc
    if actor is None:
        raise _unauthenticated("unknown or inactive user")
    return actor


def bearer_header(request: Request) -> str:
    """The `Authorization` header when it has the form `Bearer <credential>` (the credential
    not yet checked); 401 otherwise."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthenticated("send 'Authorization: Bearer <token>'")
    try:
        bearer_token(header)
    except AuthenticationError as exc:
        raise _unauthenticated(str(exc)) from exc
    return header


def allow(request: Request, *methods: str) -> None:
    """A typed 405 for any other method (Starlette's own is plain text)."""
    if request.method not in methods:
        raise HttpError(
            405,
            "METHOD_NOT_ALLOWED",
            f"{request.method} is not allowed here",
            headers={"Allow": ", ".join(methods)},
        )


def require_lead_manager(actor: Actor) -> None:
    if not actor.manages_leads:
        raise HttpError(403, "FORBIDDEN", "only partner admins and referrals admins work on leads")


def _unauthenticated(message: str) -> HttpError:
    return HttpError(
        401,
        "UNAUTHENTICATED",
        message,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
