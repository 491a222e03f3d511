"""GraphiQL in dev works on a private network: the page names no outside address, and every
file it loads is served by the app, byte for byte what the page's `integrity` hash demands."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import AppEnv, Settings
from app.main import create_app

ATTRIBUTES = re.compile(r"""\b(?:src|href)="([^"]+)"(?:\s+integrity="([^"]+)")?""")


async def test_graphiql_loads_everything_from_the_app(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"app_env": AppEnv.DEV}), sessionmaker=sessionmaker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            page = await http.get("/graphql", headers={"Accept": "text/html"})
            assert page.status_code == 200
            assets = [
                (url, integrity)
                for url, integrity in ATTRIBUTES.findall(page.text)
                if not url.startswith("data:")
            ]
            assert len(assets) == 7  # React, ReactDOM, js-cookie, GraphiQL and its explorer
            assert not re.search(r"""(?:src|href)="(?:https?:)?//""", page.text)
            for url, integrity in assets:
                assert url.startswith("/graphiql/"), url
                served = await http.get(url)
                assert served.status_code == 200, url
                algorithm, digest = integrity.split("-", 1)
                assert algorithm == "sha384", url
                actual = base64.b64encode(hashlib.sha384(served.content).digest()).decode()
                assert actual == digest, f"{url} is not the file the page's integrity names"
                assert served.headers["content-type"].split(";")[0] in (
                    "text/javascript",
                    "application/javascript",
                    "text/css",
                ), url
