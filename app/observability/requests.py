"""One request, seen from outside: its id, who asked, which operation, how long it took.

`RequestObserver` is the outermost app middleware but for the proxy headers (whose client
address it logs). It takes the request id from `X-Request-ID` when it is sane (else makes one)
and returns it, binds it to every log line written while the request runs, and at the end
writes one access line and the request's metrics. The GraphQL view fills in what only it
knows (`current()`): the operation, the execution path, the actor.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics

access_log = logging.getLogger("partner_leads.access")

# Up to 128 letters, digits and `-_.:/+=@`: what tracing systems and proxies send (UUIDs, W3C
# trace ids, base64), and nothing that could break a log line or a header.
_SANE_ID = re.compile(r"[A-Za-z0-9\-_.:/+=@]{1,128}")
REQUEST_ID_HEADER = b"x-request-id"


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    route: str
    operation: str | None = None
    path: str | None = None
    user_id: str | None = None
    organisation_id: str | None = None
    api_key_id: str | None = None
    # Tracing's hook, called when the request starts and when its operation is named (the
    # server span may end with the response, before the request's code returns).
    on_named: Callable[[RequestInfo], None] | None = None

    def name_operation(self, operation: str, path: str) -> None:
        self.operation, self.path = operation, path
        structlog.contextvars.bind_contextvars(operation=operation)
        if self.on_named is not None:
            self.on_named(self)

    def name_actor(self, user_id: object, organisation_id: object, api_key_id: object) -> None:
        """The actor by ids only: never an e-mail address in a log line."""
        self.organisation_id = str(organisation_id)
        if api_key_id is not None:
            self.api_key_id = str(api_key_id)
        else:
            self.user_id = str(user_id)
        structlog.contextvars.bind_contextvars(
            user_id=self.user_id, organisation_id=self.organisation_id, api_key_id=self.api_key_id
        )


_current: ContextVar[RequestInfo | None] = ContextVar("partner_leads_request", default=None)


def current() -> RequestInfo | None:
    return _current.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            text = value.decode("latin-1")
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestObserver:
    def __init__(
        self,
        app: ASGIApp,
        routes: frozenset[str] = frozenset(),
        on_named: Callable[[RequestInfo], None] | None = None,
    ) -> None:
        self.app = app
        self.routes = routes
        # Tracing's hook (names the server span after the operation); None when tracing is off.
        self.on_named = on_named

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = scope["path"]
        info = RequestInfo(
            request_id_from(scope["headers"]),
            path if path in self.routes else "(other)",
            on_named=self.on_named,
        )
        if self.on_named is not None:
            self.on_named(info)
        token = _current.set(info)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=info.request_id)
        status = 500
        header = (REQUEST_ID_HEADER, info.request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self._record(info, scope, status, seconds)
            structlog.contextvars.clear_contextvars()
            _current.reset(token)

    def _record(self, info: RequestInfo, scope: Scope, status: int, seconds: float) -> None:
        metrics.HTTP_REQUESTS.labels(info.route, str(status)).inc()
        if info.route == "/graphql" and scope["method"] in ("GET", "POST"):
            metrics.REQUEST_SECONDS.labels(
                info.operation or metrics.NOT_RUN, info.path or metrics.GENERAL
            ).observe(seconds)
        if info.route in ("/healthz", "/readyz", "/metrics", "/health"):
            return  # probes and scrapes every few seconds would drown the access log
        client = scope.get("client")
        access_log.info(
            "%s %s %s %.1fms",
            scope["method"],
            scope["path"],
            status,
            seconds * 1000,
            extra={
                "method": scope["method"],
                "route": info.route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
                "execution_path": info.path,
            },
        )
