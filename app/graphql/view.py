"""GraphQL over HTTP: authenticate, build the request context, give every error a code."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.websocket_origin import normalize_origin
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from app.config import Settings
from app.db.replica import CONNECTION_ERRORS, ReplicaReads, RoutedFetch, consistency_key
from app.graphql.context import Context
from app.graphql.fast_path import FastPath
from app.graphql.graphiql import offline_graphiql_html
from app.graphql.http_edge import (
    GRAPHQL_RESPONSE,
    JSON,
    EdgeError,
    GraphQLRequest,
    check_content_type,
    graphql_request,
    load_json,
    query_string_params,
    read_body,
    response_media_type,
)
from app.graphql.operation_type import operation_of, operation_type
from app.graphql.posture import error_code, is_bug
from app.graphql.schema import INTERNAL_MESSAGE, schema
from app.jobs import JobQueue
from app.observability import metrics
from app.observability.requests import current as current_request
from app.persisted_queries import PersistedQueries
from app.ratelimit import RateLimiter
from app.services import compiled_reads
from app.services.auth import (
    Actor,
    AuthenticationError,
    Authenticator,
    Lookup,
    session_lookup,
)

log = logging.getLogger(__name__)

ALLOWED_METHODS = "GET, POST, OPTIONS"
# What a request's first statement on the replica may raise that the primary answers instead.
REPLICA_FALLBACK: tuple[type[BaseException], ...] = (
    AuthenticationError,
    DBAPIError,
    *CONNECTION_ERRORS,
)


def _unauthenticated(message: str) -> Response:
    log.info("UNAUTHENTICATED: %s", message)
    metrics.count_errors(("UNAUTHENTICATED",))
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _respond(body: bytes, status: int, media_type: str, **headers: str) -> Response:
    return Response(
        body,
        status_code=status,
        headers=headers,
        media_type=f"{media_type}; charset=utf-8",
    )


def _name_operation(graphql: GraphQLRequest, path: str) -> None:
    """The request's operation (it parsed and validated) for its metrics and log lines; the
    document is in the parser's cache by now."""
    info = current_request()
    if info is None:
        return
    name = graphql.operation_name
    if name is None:
        operation = operation_of(graphql.query, None)  # the only one, if there is one
        if operation is not None and operation.name is not None:
            name = operation.name.value
    info.name_operation(metrics.OPERATION_NAMES.label(name), path)


def _name_actor(actor: Actor | None) -> Actor | None:
    info = current_request()
    if actor is not None and info is not None:
        info.name_actor(actor.user_id, actor.organisation_id, actor.api_key_id)
    return actor


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        settings: Settings,
        sessionmaker: Any,
        queue: JobQueue | None = None,
        limiter: RateLimiter | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        persisted: PersistedQueries | None = None,
    ) -> None:
        protocols = [GRAPHQL_TRANSPORT_WS_PROTOCOL]
        if settings.graphql_ws_legacy:
            protocols.append(GRAPHQL_WS_PROTOCOL)
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.is_dev else None,
            allow_queries_via_get=settings.get_enabled,
            subscription_protocols=tuple(protocols),
        )
        # Strawberry refuses a cross-origin websocket handshake (403) from any other origin;
        # same-origin pages and clients that send no Origin (not browsers) are let in.
        self.allowed_origins = frozenset(
            normalized
            for origin in settings.allowed_origins
            if (normalized := normalize_origin(origin)) is not None
        )
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.queue = queue
        self.limiter = limiter
        self.persisted = persisted
        self.auth = Authenticator(settings)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.fast_path = FastPath(schema, settings)
        # Set by the app's lifespan when the compiled read path is on.
        self.fetch: compiled_reads.Fetch | None = None
        # Set by the app's lifespan when DATABASE_REPLICA_URL is.
        self.replica: ReplicaReads | None = None

    @property
    def graphql_ide_html(self) -> str:
        return offline_graphiql_html()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if request.method == "GET" and not request.query_params:
            await super().__call__(scope, receive, send)  # GraphiQL in dev, 404 otherwise
            return
        media_type = response_media_type(request.headers.get("accept")) or JSON
        try:
            response = await self._answer(request, scope, receive)
        except EdgeError as refused:
            log.info("%s: %s", refused.code, refused.message)
            metrics.count_errors((refused.code,))
            response = _respond(
                refused.body(), refused.status_for(media_type), media_type, **refused.headers
            )
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        """Websocket messages (HTTP bodies are read by `_answer`): nested deeper than
        MAX_JSON_DEPTH, or not JSON, strawberry closes the socket with 4400."""
        try:
            return load_json(data, self.settings.max_json_depth, "the message")
        except EdgeError as exc:
            text = data if isinstance(data, str) else data.decode("utf-8", "replace")
            raise json.JSONDecodeError(exc.message, text[:100], 0) from exc

    async def _persisted(self, params: Any) -> Any:
        if self.persisted is None:
            return params
        return await self.persisted.complete(params)

    def _allowed_methods(self) -> str:
        return ALLOWED_METHODS if self.settings.get_enabled else "POST, OPTIONS"

    async def _answer(self, request: Request, scope: Scope, receive: Receive) -> Response:
        media_type = response_media_type(request.headers.get("accept"))
        if media_type is None:
            raise EdgeError(
                "accept application/graphql-response+json or application/json",
                "NOT_ACCEPTABLE",
                406,
            )
        if request.method == "GET":
            if not self.settings.get_enabled:
                raise EdgeError("send queries by POST", "METHOD_NOT_ALLOWED", 405, Allow="POST")
            params = query_string_params(request.query_params, self.settings.max_json_depth)
            graphql = graphql_request(await self._persisted(params))
        elif request.method == "POST":
            check_content_type(request.headers.get("content-type"))
            body = await read_body(receive, request.headers, self.settings.max_body_bytes)
            if not body.strip():
                raise EdgeError("the request has no body")
            params = load_json(body, self.settings.max_json_depth)
            graphql = graphql_request(await self._persisted(params))
        elif request.method == "OPTIONS":
            # Not a CORS preflight (the middleware answers those): what may be sent here.
            return Response(status_code=204, headers={"Allow": self._allowed_methods()})
        else:
            raise EdgeError(
                f"{request.method} is not allowed here",
                "METHOD_NOT_ALLOWED",
                405,
                Allow=self._allowed_methods(),
            )
        header = request.headers.get("authorization") or None
        if header is not None:
            try:
                self.auth.check(header)
            except AuthenticationError as exc:
                return _unauthenticated(str(exc))
        key = consistency_key(self.auth, header) if self.replica is not None else None
        if self.fetch is not None and request.method == "POST":
            answered = await self._compiled(scope, graphql, header, self.fetch, key)
            if answered is not None:
                _name_operation(graphql, metrics.COMPILED)
                return _respond(answered, 200, media_type, **{"x-execution-path": "compiled"})
        return await self._execute(request, scope, graphql, header, media_type, key)

    async def authenticate(
        self, header: str | None, lookup: Lookup, now: datetime, *, cached: bool = False
    ) -> Actor | None:
        """The actor `header` names (None: anonymous); raises AuthenticationError."""
        return await self.auth.authenticate(
            header, lookup, self.sessionmaker, cached=cached, now=now
        )

    async def wrote(self, header: str | None) -> None:
        """After a commit outside a request's Context (the CSV import): the writer's reads
        wait for the replica to replay it."""
        if self.replica is not None:
            await self.replica.wrote(consistency_key(self.auth, header))

    async def _execute(
        self,
        request: Request,
        scope: Scope,
        graphql: GraphQLRequest,
        header: str | None,
        media_type: str,
        key: str | None = None,
    ) -> Response:
        """Strawberry answers: one session per request, from the actor's lookup to the last
        resolver. A query may read on the replica (app/db/replica.py); a mutation, its
        payload and whatever the operation is when it cannot be told, on the primary."""
        replica = self.replica
        on_replica = (
            replica is not None
            and operation_type(graphql.query, graphql.operation_name) is OperationType.QUERY
            and await replica.reads_replica(key)
        )
        context = self._context(
            scope.get("client"),
            sessionmaker=replica.sessionmaker if replica is not None and on_replica else None,
            key=key,
        )
        allowed = (
            {OperationType.QUERY}
            if request.method == "GET"
            else {OperationType.QUERY, OperationType.MUTATION}
        )
        try:
            try:
                context.actor = await self._actor(context, header, on_replica)
            except AuthenticationError as exc:
                return _unauthenticated(str(exc))
            _name_actor(context.actor)
            try:
                result = await self.schema.execute(
                    graphql.query,
                    variable_values=graphql.variables,
                    context_value=context,
                    operation_name=graphql.operation_name,
                    allowed_operation_types=allowed,
                )
            except InvalidOperationTypeError as exc:
                if request.method == "GET":
                    raise EdgeError(
                        "mutations are sent by POST", "METHOD_NOT_ALLOWED", 405, Allow="POST"
                    ) from exc
                raise EdgeError("subscriptions are served over the websocket") from exc
            except CannotGetOperationTypeError as exc:
                raise EdgeError(exc.as_http_error_reason()) from exc
        finally:
            await context.close(final=True)
        return self._result_response(result, media_type, graphql)

    def _result_response(
        self, result: ExecutionResult, media_type: str, graphql: GraphQLRequest
    ) -> Response:
        payload = dict(self._format(result))
        errors = result.errors or []
        # A request error (the document, its variables): no field ran, nothing has a path.
        request_error = result.data is None and bool(errors) and all(e.path is None for e in errors)
        codes = [error_code(e) for e in errors]
        metrics.count_errors(codes)
        if not request_error or set(codes) == {"TIMEOUT"}:
            _name_operation(graphql, metrics.GENERAL)  # the document was valid
        status = 200
        if request_error and media_type == GRAPHQL_RESPONSE:
            payload.pop("data", None)
            # Not the client's fault: the request deadline (TIMEOUT) or a bug.
            status = 504 if "TIMEOUT" in codes else 500 if "INTERNAL" in codes else 400
        return _respond(orjson.dumps(payload, default=str), status, media_type)

    async def _actor(self, context: Context, header: str | None, on_replica: bool) -> Actor | None:
        """The caller, looked up in the context's session. On the replica, credentials it does
        not know yet (a key created a moment ago) or a replica gone away are asked of the
        primary, whose session then serves the request."""
        try:
            return await self.authenticate(header, session_lookup(context.session), context.now)
        except REPLICA_FALLBACK as exc:
            if not on_replica or self.replica is None:
                raise
            if not isinstance(exc, AuthenticationError):
                self.replica.went_away(exc)
            await context.close()
            context.sessionmaker = self.sessionmaker
            return await self.authenticate(header, session_lookup(context.session), context.now)

    def _context(
        self,
        client: Any,
        *,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        key: str | None = None,
    ) -> Context:
        replica = self.replica

        async def wrote() -> None:
            if replica is not None:
                await replica.wrote(key)

        return Context(
            settings=self.settings,
            sessionmaker=sessionmaker or self.sessionmaker,
            actor=None,
            queue=self.queue,
            limiter=self.limiter,
            client_ip=str(client[0]) if client else "unknown",
            now=self.clock(),
            after_commit=wrote if replica is not None and key is not None else None,
        )

    async def _compiled(
        self,
        scope: Scope,
        graphql: GraphQLRequest,
        header: str | None,
        primary: compiled_reads.Fetch,
        key: str | None = None,
    ) -> bytes | None:
        """The compiled answer, or None for strawberry to answer (and to refuse credentials
        the database does not accept). With a replica, queries read where `RoutedFetch` says;
        a mutation reads its lead back on the primary."""
        now = self.clock()
        fetch: compiled_reads.Fetch = primary
        routed = None
        if self.replica is not None:
            fetch = routed = RoutedFetch(self.replica, primary, key)

        async def read_pool(sql: str, params: Sequence[Any]) -> Any:
            return await fetch(sql, params, None)

        async def reader() -> Actor | None:
            try:
                return _name_actor(await self.authenticate(header, read_pool, now, cached=True))
            except AuthenticationError:
                if routed is None or not routed.on_replica:
                    raise
                # Credentials the replica does not know yet: the primary decides.
                routed.use_primary()
                return _name_actor(await self.authenticate(header, read_pool, now))

        async def loader(context: Context) -> Actor | None:
            return _name_actor(
                await self.authenticate(header, session_lookup(context.session), context.now)
            )

        client = scope.get("client")
        return await self.fast_path.answer(
            graphql.as_body(),
            reader=reader,
            loader=loader,
            fetch=fetch,
            context=lambda: self._context(client, key=key),
            now=now,
            primary=primary,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        context = getattr(request.state, "context", None)
        if isinstance(context, Context):
            return context
        # A websocket's own context: its client is the peer (or what a trusted proxy said).
        return self._context(request.scope.get("client"))

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """Websockets authenticate in connection_init: {"Authorization": "Bearer <token>"}."""
        params = context.connection_params or {}
        header = params.get("Authorization") or params.get("authorization")
        if not header:
            return UNSET
        try:
            async with self.sessionmaker() as session:
                context.actor = await self.authenticate(
                    str(header), session_lookup(session), self.clock()
                )
        except AuthenticationError as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        return UNSET

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        return self._format(result)

    def _format(self, result: ExecutionResult) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            data["errors"] = [self._format_error(error) for error in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data

    def _format_error(self, error: GraphQLError) -> dict[str, Any]:
        if is_bug(error):
            # Whatever escaped the schema's own masking (an extension's failure at the end of
            # the operation): its text stays in the log.
            masked: dict[str, Any] = {"message": INTERNAL_MESSAGE}
            if error.path is not None:
                masked["path"] = error.path
            masked["extensions"] = {"code": "INTERNAL"}
            return masked
        formatted = dict(error.formatted)
        extensions = dict(error.extensions or {})
        # What has no code is a document error (syntax, unknown fields or enum values, wrong
        # types): the client's input.
        extensions.setdefault("code", error_code(error))
        formatted["extensions"] = extensions
        return formatted
