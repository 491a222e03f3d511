"""Issue 12, section 1: /healthz and /readyz of the API, ready and not."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.config import Settings
from app.db.migrate import upgrade
from app.dev.ports import free_port
from app.main import create_app
from app.observability.health import code_revision
from tests.factories import World
from tests.graphql_client import asgi_client

READY = {"postgres": "ok", "migrations": "ok", "redis": "ok"}


async def test_healthz_and_readyz(http: httpx.AsyncClient) -> None:
    alive = await http.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": READY}


async def test_not_ready_without_redis(settings: Settings, world: World) -> None:
    # Nothing listens there: the port was free a moment ago.
    gone = settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    async with asgi_client(create_app(gone)) as http:
        assert (await http.get("/healthz")).status_code == 200
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["redis"].startswith("unreachable (")
    assert body["checks"]["postgres"] == body["checks"]["migrations"] == "ok"


@pytest.fixture
def behind(empty_database: str) -> Iterator[str]:
    """A database of its own at an older migration than the code's."""
    upgrade(empty_database, "0011")
    yield empty_database


async def test_not_ready_when_migrations_are_behind(settings: Settings, behind: str) -> None:
    old = settings.model_copy(update={"database_url": behind, "compiled_reads": False})
    async with asgi_client(create_app(old)) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {
            "postgres": "ok",
            "migrations": f"database at 0011, code needs {code_revision()}",
            "redis": "ok",
        },
    }
