"""DATABASE_REPLICA_URL against a real streaming replica: another user's reads go to the
replica (with replay paused they miss a fresh write), the writer reads their own write at once
(on the primary), both see it once the replica replays; with the replica down, reads answer
from the primary. On both execution paths."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import PROJECT_ROOT, Settings
from app.db.migrate import upgrade
from app.db.models import Lead
from app.db.session import create_engine
from app.dev.demo_world import seed_demo_into
from app.dev.stack import ensure_database
from app.domain.lifecycle import LeadStage
from app.main import create_app
from app.services.auth import issue_token
from tests.graphql_client import asgi_client
from tests.replication import ReplicatedPostgres
from tests.waiting import eventually

DATABASE = "replicated"
READ = "query($id: ID!) { lead(id: $id) { id version } }"
UPDATE = (
    "mutation($input: UpdateLeadInput!) { updateLead(input: $input) "
    "{ lead { id version } errors { code message } } }"
)
CREATE_KEY = (
    "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) "
    "{ secret errors { code message } } }"
)


@dataclass
class Replicated:
    servers: ReplicatedPostgres
    settings: Settings
    writer: uuid.UUID
    reader: uuid.UUID
    lead_id: uuid.UUID


@pytest.fixture(scope="module")
def servers() -> Iterator[ReplicatedPostgres]:
    root = Path(tempfile.mkdtemp(prefix="replication-", dir=PROJECT_ROOT / ".data"))
    root.chmod(0o755)
    started = ReplicatedPostgres(root).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
async def replicated(servers: ReplicatedPostgres, settings: Settings) -> Replicated:
    ensure_database(servers.primary_url, DATABASE)
    upgrade(servers.url(DATABASE))
    primary = settings.model_copy(
        update={
            "database_url": servers.url(DATABASE),
            "database_replica_url": servers.url(DATABASE, replica=True),
            "replica_poll_seconds": 0.05,
        }
    )
    engine = create_engine(primary)
    try:
        async with AsyncSession(engine) as session, session.begin():
            partners = await seed_demo_into(session, primary)
            contoso = partners["contoso"]
            lead_id = await session.scalar(
                select(Lead.id)
                .where(
                    Lead.organisation_id == contoso.organisation_id,
                    Lead.stage == LeadStage.ACCEPTED,
                )
                .limit(1)
            )
    finally:
        await engine.dispose()
    assert lead_id is not None
    await eventually(servers.caught_up, timeout=30, describe="replica caught up")
    writer, reader = contoso.manager_ids[:2]
    return Replicated(servers, primary, writer, reader, lead_id)


@pytest.fixture(params=[True, False], ids=["compiled", "strawberry"])
async def api(request: pytest.FixtureRequest, replicated: Replicated) -> AsyncIterator[Api]:
    settings = replicated.settings.model_copy(update={"compiled_reads": request.param})
    async with asgi_client(create_app(settings)) as http:
        yield Api(http, replicated, compiled=request.param)


@dataclass
class Api:
    http: httpx.AsyncClient
    replicated: Replicated
    compiled: bool

    async def post(self, user: uuid.UUID | str, query: str, variables: dict[str, Any]) -> Any:
        """As a user (their token) or with an API key's secret."""
        token = user if isinstance(user, str) else issue_token(self.replicated.settings, user)
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        if query in (READ, UPDATE):
            path = response.headers.get("x-execution-path")
            assert (path == "compiled") is self.compiled, path
        return body["data"]

    async def version(self, user: uuid.UUID | str) -> int:
        data = await self.post(user, READ, {"id": str(self.replicated.lead_id)})
        return int(data["lead"]["version"])

    async def update(self, user: uuid.UUID, notes: str) -> int:
        data = await self.post(
            user, UPDATE, {"input": {"id": str(self.replicated.lead_id), "notes": notes}}
        )
        payload = data["updateLead"]
        assert payload["errors"] == [], payload
        return int(payload["lead"]["version"])


async def test_reads_go_to_the_replica_and_the_writer_reads_its_own_write(api: Api) -> None:
    servers, r = api.replicated.servers, api.replicated
    await eventually(servers.caught_up, timeout=30, describe="replica caught up")
    before = await api.version(r.reader)
    assert await api.version(r.writer) == before
    await servers.on_replica("SELECT pg_wal_replay_pause()")
    try:

        async def paused() -> bool:
            state = await servers.on_replica("SELECT pg_get_wal_replay_pause_state()")
            return state == "paused"

        await eventually(paused, timeout=10, describe="replay paused")
        written = await api.update(r.writer, f"written {uuid.uuid4()}")
        assert written == before + 1
        # The writer's reads go to the primary until the replica has replayed the write.
        assert await api.version(r.writer) == written
        # Another user reads the replica, which has not replayed it.
        assert await api.version(r.reader) == before
        assert await api.version(r.reader) == before
        assert await api.version(r.writer) == written
    finally:
        await servers.on_replica("SELECT pg_wal_replay_resume()")

    async def replayed() -> bool:
        return await api.version(r.reader) == written

    await eventually(replayed, timeout=30, describe="the reader sees the write once replayed")
    assert await api.version(r.writer) == written


async def test_reads_answer_from_the_primary_while_the_replica_is_down(api: Api) -> None:
    servers, r = api.replicated.servers, api.replicated
    await eventually(servers.caught_up, timeout=30, describe="replica caught up")
    before = await api.version(r.reader)
    servers.stop_replica()
    try:
        # At once (before any poll noticed) and on: every read answers, from the primary.
        for _ in range(5):
            assert await api.version(r.reader) == before
        written = await api.update(r.writer, f"while down {uuid.uuid4()}")
        assert await api.version(r.reader) == written
    finally:
        servers.start_replica()

    async def back() -> bool:
        return await servers.caught_up()

    await eventually(back, timeout=30, describe="replica back and caught up")
    assert await api.version(r.reader) == written


async def test_a_key_the_replica_does_not_know_yet_is_checked_on_the_primary(api: Api) -> None:
    servers, r = api.replicated.servers, api.replicated
    await eventually(servers.caught_up, timeout=30, describe="replica caught up")
    await servers.on_replica("SELECT pg_wal_replay_pause()")
    try:
        created = await api.post(
            r.writer,
            CREATE_KEY,
            {"input": {"name": f"CRM {uuid.uuid4()}", "roles": ["PARTNER_ADMIN"]}},
        )
        secret = created["createApiKey"]["secret"]
        assert secret, created
        # Not on the replica yet: the key is checked, and its read answered, on the primary.
        assert await api.version(secret) == await api.version(r.writer)
    finally:
        await servers.on_replica("SELECT pg_wal_replay_resume()")


async def test_reading_the_replica_as_its_owner_is_refused_at_start(
    replicated: Replicated,
) -> None:
    as_owner = replicated.settings.model_copy(
        update={"app_database_replica_url": replicated.servers.url(DATABASE, replica=True)}
    )
    with pytest.raises(RuntimeError, match="replica reads connects as postgres, a superuser"):
        async with asgi_client(create_app(as_owner)):
            pass
