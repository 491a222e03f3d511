"""Real Postgres and real Valkey for every test: embedded by default, or TEST_DATABASE_URL /
TEST_REDIS_URL. The schema is built by the migrations; each test runs in a transaction that is
rolled back, except tests that need real concurrency (they use `committed_app`)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app.config import PROJECT_ROOT, AppEnv, Settings
from app.db.migrate import upgrade
from app.db.session import create_engine
from app.db.urls import APP_ROLE, WORKER_ROLE, database_url_for
from app.dev.demo_world import seed_demo_into
from app.dev.stack import DevStack, drop_database, ensure_database
from app.main import create_app, freeze_start_up_objects
from tests.factories import World
from tests.graphql_client import (
    TOTALS,
    Differential,
    FrozenClock,
    GraphQLClient,
    asgi_client,
)

# One database per test process, so parallel runs on one server never trample each other.
TEST_DATABASE = f"partner_leads_test_{os.getpid()}"
# Session.info / Connection.info keys of the role a test session plays.
TEST_ROLE, ROLE_CONNECTION, ROLE_DEPTH = "test_role", "test_role_connection", "test_role_depth"


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    valkey_dir = PROJECT_ROOT / ".data" / f"valkey-test-{os.getpid()}"
    dev = DevStack(
        PROJECT_ROOT / ".data",
        database_url=database_url,
        redis_url=redis_url,
        database_name="postgres",
        valkey_dir=valkey_dir,
    )
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()
        shutil.rmtree(valkey_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(stack: DevStack) -> Iterator[Settings]:
    assert stack.database_url and stack.redis_url
    # A fresh database per run, built by the migrations themselves.
    ensure_database(stack.database_url, TEST_DATABASE, recreate=True)
    url = database_url_for(stack.database_url, TEST_DATABASE)
    upgrade(url)
    yield Settings(
        app_env=AppEnv.TEST,
        gc_freeze=False,
        database_url=url,
        redis_url=stack.redis_url,
        data_dir=PROJECT_ROOT / ".data",
    )
    drop_database(stack.database_url, TEST_DATABASE)


@pytest.fixture
def empty_database(stack: DevStack) -> Iterator[str]:
    """The URL of a database of its own, with no schema; dropped after the test."""
    assert stack.database_url
    name = f"partner_leads_empty_{uuid.uuid4().hex[:8]}"
    ensure_database(stack.database_url, name)
    try:
        yield database_url_for(stack.database_url, name)
    finally:
        drop_database(stack.database_url, name)


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, pool_size=10, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def app_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """Connections as the API makes them in production: partner_leads_app, committing."""
    engine = create_engine(settings, settings.api_database_url, pool_size=10, max_overflow=20)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def worker_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """Connections as the workers make them: partner_leads_worker, committing."""
    engine = create_engine(settings, settings.jobs_database_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def world(engine: AsyncEngine, settings: Settings) -> World:
    """The demo world, committed once; tests change it only inside rolled-back transactions."""
    async with AsyncSession(engine) as session, session.begin():
        partners = await seed_demo_into(session, settings)
    return await World.load(engine, partners)


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        try:
            yield conn
        finally:
            await transaction.rollback()


@event.listens_for(Session, "after_begin")
def _enter_role(session: Session, transaction: Any, connection: Any) -> None:
    """A session of `sessionmaker` / `worker_sessionmaker` works as the API's / the workers'
    database role, behind row-level security as in production, inside the test's transaction
    (which the owner opened, so that factories may write every tenant's rows)."""
    role = session.info.get(TEST_ROLE)
    # A savepoint the app begins (begin_nested) runs on the connection already in the role,
    # and its end is not counted below.
    if role is None or transaction.nested:
        return
    connection.exec_driver_sql(f"SET LOCAL ROLE {role}")
    session.info[ROLE_CONNECTION] = connection
    connection.info[ROLE_DEPTH] = connection.info.get(ROLE_DEPTH, 0) + 1


@event.listens_for(Session, "after_transaction_end")
def _leave_role(session: Session, transaction: Any) -> None:
    """Back to the owner once the last role-playing session on the connection is done: a
    released savepoint keeps its SET LOCAL until the test's transaction ends."""
    if transaction.parent is not None:
        return
    connection = session.info.pop(ROLE_CONNECTION, None)
    if connection is None:
        return
    depth = connection.info[ROLE_DEPTH] = connection.info.get(ROLE_DEPTH, 1) - 1
    if depth == 0 and not connection.closed and not connection.invalidated:
        connection.exec_driver_sql("RESET ROLE")


def _bound(connection: AsyncConnection, role: str | None) -> async_sessionmaker[AsyncSession]:
    # The app's commits become savepoint releases; the test's rollback undoes everything.
    return async_sessionmaker(
        bind=connection,
        expire_on_commit=False,
        autoflush=False,
        join_transaction_mode="create_savepoint",
        info={} if role is None else {TEST_ROLE: role},
    )


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """The API's sessions: as partner_leads_app, behind row-level security."""
    return _bound(connection, APP_ROLE)


@pytest.fixture
def worker_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """The workers' sessions: as partner_leads_worker."""
    return _bound(connection, WORKER_ROLE)


@pytest.fixture
def owner_sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions as the tables' owner: test data and checks of what was written."""
    return _bound(connection, None)


@pytest.fixture
async def session(
    owner_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with owner_sessionmaker() as session:
        yield session


@asynccontextmanager
async def _client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[GraphQLClient]:
    async with asgi_client(create_app(settings, sessionmaker=sessionmaker)) as http:
        yield GraphQLClient(http, settings)


@pytest.fixture
async def gql(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> AsyncIterator[GraphQLClient]:
    """A GraphQL client over the ASGI app, inside the test's rolled-back transaction. Queries
    the compiled read path covers are answered by it, the rest by strawberry; every query is
    also sent to strawberry alone, and both answers must be equal (tests/graphql_client.py)."""
    clock = FrozenClock()
    general = settings.model_copy(update={"compiled_reads": False})
    app = create_app(settings, sessionmaker=sessionmaker, clock=clock)
    twin = create_app(general, sessionmaker=sessionmaker, clock=clock)
    async with asgi_client(app) as http, asgi_client(twin) as twin_http:
        yield GraphQLClient(http, settings, differential=Differential(twin_http, clock))


@pytest.fixture
async def strawberry_gql(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> AsyncIterator[GraphQLClient]:
    """The same, with the compiled read path off: every query goes through strawberry."""
    async with _client(settings.model_copy(update={"compiled_reads": False}), sessionmaker) as c:
        yield c


@pytest.fixture
async def committed_gql(
    settings: Settings, app_engine: AsyncEngine, world: World
) -> AsyncIterator[GraphQLClient]:
    """A client whose requests commit for real: for races between concurrent transactions."""
    app = create_app(settings, sessionmaker=async_sessionmaker(app_engine, expire_on_commit=False))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield GraphQLClient(http, settings)


@dataclass
class QueryCounter:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(engine: AsyncEngine) -> Iterator[Any]:
    """`with count_queries() as counter:` counts SQL statements (savepoints and the harness's
    role switches excluded)."""

    @contextmanager
    def counting() -> Iterator[QueryCounter]:
        counter = QueryCounter()

        def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            # Savepoints and role switches are the test harness's, not the app's.
            if (
                not statement.lstrip()
                .upper()
                .startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO", "SET LOCAL ROLE", "RESET ROLE"))
            ):
                counter.statements.append(statement)

        event.listen(engine.sync_engine, "before_cursor_execute", before)
        try:
            yield counter
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", before)

    yield counting


def pytest_collection_finish(session: pytest.Session) -> None:
    """The garbage collector as a serving process has it (`freeze_start_up_objects`): what
    importing and collecting built is out of its sight, and the young generation is collected
    less often. Without it the tenant sweep spent a third of its CPU in ~1,200 collections a
    test over 600,000 tracked objects (bench/RESULTS.md, issue 12)."""
    freeze_start_up_objects(Settings.model_fields["gc_gen0_threshold"].default)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if TOTALS["compared"]:
        terminalreporter.write_line(
            f"compiled read path: answered {TOTALS['compiled']} of {TOTALS['compared']} queries, "
            "each compared with strawberry's answer"
        )
