"""GraphQL over HTTP: authenticate, build the request context, give every error a code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from app.config import Settings
from app.graphql.context import Context
from app.graphql.fast_path import FastPath
from app.graphql.schema import schema
from app.jobs import JobQueue
from app.ratelimit import RateLimiter
from app.services import compiled_reads
from app.services.auth import (
    Actor,
    ActorCache,
    AuthenticationError,
    TokenVerifier,
    load_actor,
)

log = logging.getLogger(__name__)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _unauthenticated(message: str) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        settings: Settings,
        sessionmaker: Any,
        queue: JobQueue | None = None,
        limiter: RateLimiter | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(schema, graphql_ide="graphiql" if settings.is_dev else None)
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.queue = queue
        self.limiter = limiter
        self.verifier = TokenVerifier(settings)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.fast_path = FastPath(schema, settings)
        self.actors = ActorCache(settings.actor_cache_seconds)
        # Set by the app's lifespan when the compiled read path is on.
        self.fetch: compiled_reads.Fetch | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self.fetch is not None and scope["method"] == "POST":
            unanswered = await self._compiled(scope, receive, send, self.fetch)
            if unanswered is None:
                return
            receive = unanswered
        # One session per request, from authentication to the last resolver.
        context = self._context(scope.get("client"))
        try:
            header = Request(scope).headers.get("authorization")
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    await _unauthenticated("use 'Authorization: Bearer <token>'")(
                        scope, receive, send
                    )
                    return
                try:
                    user_id = self.verifier.verify(token.strip())
                except AuthenticationError as exc:
                    await _unauthenticated(f"invalid token: {exc}")(scope, receive, send)
                    return
                context.actor = await load_actor(context.session, user_id)
                if context.actor is None:
                    await _unauthenticated("unknown or inactive user")(scope, receive, send)
                    return
            scope.setdefault("state", {})["context"] = context
            await super().__call__(scope, receive, send)
        finally:
            await context.close()

    def _context(self, client: Any) -> Context:
        return Context(
            settings=self.settings,
            sessionmaker=self.sessionmaker,
            actor=None,
            queue=self.queue,
            limiter=self.limiter,
            client_ip=str(client[0]) if client else "unknown",
            now=self.clock(),
        )

    async def _compiled(
        self, scope: Scope, receive: Receive, send: Send, fetch: compiled_reads.Fetch
    ) -> Receive | None:
        """Answer a compiled query, or hand the request on: the `receive` that replays its body
        to strawberry (None when answered)."""
        headers = dict(scope["headers"])
        body = await _read_body(receive)

        async def replay() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            return replay
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            return replay
        user_id = None
        header = headers.get(b"authorization")
        if header is not None:
            scheme, _, token = header.decode("latin-1").partition(" ")
            try:
                if scheme.lower() != "bearer":
                    return replay
                user_id = self.verifier.verify(token.strip())
            except AuthenticationError:
                return replay  # strawberry's path answers 401 with the reason
        if not isinstance(request, dict):
            return replay

        async def reader() -> Actor | None:
            if user_id is None:
                return None
            return await self.actors.get(user_id, lambda sql, user: fetch(sql, [user]))

        client = scope.get("client")
        answered = await self.fast_path.answer(
            request,
            user_id=user_id,
            reader=reader,
            fetch=fetch,
            context=lambda: self._context(client),
            now=self.clock(),
        )
        if answered is None:
            return replay
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"x-execution-path", b"compiled"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answered})
        return None

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = getattr(request.state, "context", None)
        if isinstance(context, Context):
            return context
        return Context(
            settings=self.settings,
            sessionmaker=self.sessionmaker,
            actor=None,
            queue=self.queue,
            limiter=self.limiter,
            now=self.clock(),
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Websockets authenticate in connection_init: {"Authorization": "Bearer <token>"}."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if not header:
            return UNSET
        scheme, _, token = str(header).partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise AuthenticationError("use 'Bearer <token>'")
            user_id = self.verifier.verify(token.strip())
        except AuthenticationError as exc:
            raise ConnectionRejectionError({"message": f"invalid token: {exc}"}) from exc
        async with self.sessionmaker() as session:
            context.actor = await load_actor(session, user_id)
        if context.actor is None:
            raise ConnectionRejectionError({"message": "unknown or inactive user"})
        return UNSET

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            errors: list[object] = []
            for error in result.errors:
                formatted = error.formatted
                extensions = dict(formatted.get("extensions") or {})
                if "code" not in extensions:
                    # Masked bugs carry INTERNAL already; what has no code is a document error
                    # (syntax, unknown fields or enum values, wrong types): the client's input.
                    extensions["code"] = "VALIDATION"
                formatted["extensions"] = extensions
                errors.append(formatted)
            data["errors"] = errors
        if result.extensions:
            data["extensions"] = result.extensions
        return data
