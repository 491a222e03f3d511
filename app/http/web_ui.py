"""The reference SPA (web/): its page at `/` and its files under `/web/`, with headers that
let a browser run nothing but those files (no inline script or style, no other origin)."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import app as package
from app.config import PROJECT_ROOT

WEB_PATH = "/web"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def web_directory() -> Path | None:
    """web/ beside app/ in a checkout; inside the package in a wheel (pyproject's
    force-include puts it at app/web)."""
    for candidate in (Path(package.__file__).resolve().parent / "web", PROJECT_ROOT / "web"):
        if (candidate / "index.html").is_file():
            return candidate
    return None


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def web_routes() -> list[BaseRoute]:
    directory = web_directory()
    if directory is None:
        return []
    index = directory / "index.html"
    headers = {name.decode(): value.decode() for name, value in SECURITY_HEADERS}

    async def page(request: Request) -> Response:
        # Always revalidated: a deploy's new page names the modules it needs.
        return FileResponse(index, headers={**headers, "Cache-Control": "no-cache"})

    return [
        Route("/", page, methods=["GET", "HEAD"]),
        Mount(WEB_PATH, SecurityHeaders(StaticFiles(directory=directory))),
    ]
