"""Reads on a streaming replica, writes and their read-after-write on the primary.

With DATABASE_REPLICA_URL set, each API process keeps (besides its primary pools) a session
factory and compiled-read pools on the replica, and a background task that asks the replica
every REPLICA_POLL_SECONDS how far it has replayed the primary's WAL (`pg_last_wal_replay_lsn`).

Read-after-write: after a request commits a write, the primary's WAL insert position (which is
past the commit record) is stored in Redis under the writer's credential (`consistency_key`:
a JWT's user, or an API key), keeping the larger of two concurrent writes, for
REPLICA_READ_AFTER_WRITE_SECONDS. A read by that actor looks the position up (one Redis GET)
and goes to the primary while the replica's last polled replay position is behind it; the
poll is at most one interval old, which only errs towards the primary. Redis, not a token the
client echoes: every client (curl, the SPA, a partner's CRM) gets the guarantee without doing
anything, in whichever API process its next request lands, and a GET costs less than the
query it routes.

The replica never makes a read fail: while its poll fails (down, unreachable, not a replica
any more), or Redis cannot say what an actor wrote, reads go to the primary; the first failure
and the recovery are logged once each.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.session import create_engine, create_sessionmaker
from app.db.tenancy import role_problem
from app.domain import api_keys
from app.services.auth import AuthenticationError, Authenticator, bearer_token
from app.services.compiled_reads import Fetch, ReadPools, create_read_pools, pool_fetch

log = logging.getLogger(__name__)

MARKER_PREFIX = "written-at:"
# The poll is this many intervals old at most before the replica counts as unreachable.
STALE_POLLS = 20
# Errors a replica that went away raises: its connection, not the query.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    # Shutting down, cannot connect now, a statement cancelled by a conflict with recovery.
    asyncpg.OperatorInterventionError,
)
# SET the marker unless it already holds a later position (16 hex digits compare as text).
KEEP_LATEST = """
local current = redis.call('GET', KEYS[1])
if (not current) or current < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


def lsn_number(text: str) -> int:
    """`16/B374D848` (a pg_lsn's text) as one integer, comparable with others."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def consistency_key(auth: Authenticator, header: str | None) -> str | None:
    """Whose writes a request's reads must see: the user a JWT names (any of their tokens), or
    the API key itself (a hash: the key never goes to Redis). None: anonymous, or credentials
    the request's own checks refuse."""
    if header is None:
        return None
    try:
        token = bearer_token(header)
        if api_keys.looks_like_key(token):
            return "key:" + hashlib.sha256(token.encode()).hexdigest()[:32]
        return f"user:{auth.verify_token(token)}"
    except AuthenticationError:
        return None


class ReplicaReads:
    """The replica's connections and how far it has replayed; `reads_replica(key)` says where
    a read goes. Started and closed by the app's lifespan."""

    def __init__(
        self,
        settings: Settings,
        primary_value: Callable[[str], Awaitable[Any]],
    ) -> None:
        url = settings.api_replica_url
        assert url is not None
        self.settings = settings
        self.url = url
        self.primary_value = primary_value
        self.poll_seconds = settings.replica_poll_seconds
        self.ttl_ms = int(settings.replica_read_after_write_seconds * 1000)
        self.engine: AsyncEngine = create_engine(settings, url)
        self.sessionmaker: async_sessionmaker[AsyncSession] = create_sessionmaker(self.engine)
        self.pools: ReadPools | None = None
        self.fetch: Fetch | None = None
        # The replica's replay position at the last poll that answered, and when.
        self.replayed: int | None = None
        self._polled_at = 0.0
        self._probe: asyncpg.Connection | None = None
        self._down_logged = False
        # Set when the replica's role is not behind the wall: it is never read then.
        self.wall_problem: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._local: dict[str, tuple[float, str]] = {}
        self._redis = (
            aioredis.from_url(settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
            if settings.redis_url
            else None
        )
        self._keep_latest = self._redis.register_script(KEEP_LATEST) if self._redis else None

    async def start(self) -> None:
        """Raises when the replica URL's role would get past row-level security."""
        await self.poll()
        if self.wall_problem is not None:
            await self.close()
            raise RuntimeError(
                f"{self.wall_problem}: connect as partner_leads_app (APP_DATABASE_REPLICA_URL)"
            )
        self._task = asyncio.create_task(self._watch(), name="replica replay position")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._probe is not None:
            with suppress(Exception):
                await self._probe.close()
        if self.pools is not None:
            await self.pools.close()
        await self.engine.dispose()
        if self._redis is not None:
            await self._redis.aclose()

    # --- how far the replica is -------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            await self.poll()

    async def poll(self) -> None:
        if self.wall_problem is not None:
            return
        try:
            if self._probe is None or self._probe.is_closed():
                self._probe = await asyncpg.connect(self.url, timeout=2)
            value = await self._probe.fetchval("SELECT pg_last_wal_replay_lsn()::text", timeout=2)
            if value is None:
                raise RuntimeError("DATABASE_REPLICA_URL is not a replica (it replays no WAL)")
            if self.pools is None:
                async with self.engine.connect() as conn:
                    problem = await role_problem(conn)
                if problem is not None:
                    self.wall_problem = f"the API's replica reads {problem}"
                    raise RuntimeError(self.wall_problem)
                self.pools = await create_read_pools(
                    self.url, self.settings.read_pool_size, self.settings.db_statement_timeout_ms
                )
                self.fetch = pool_fetch(self.pools)
        except Exception as exc:
            if self._probe is not None:
                with suppress(Exception):
                    self._probe.terminate()
                self._probe = None
            self.replayed = None
            if not self._down_logged:
                self._down_logged = True
                log.warning("replica unreachable (%s); reads go to the primary", exc)
            return
        if self._down_logged:
            self._down_logged = False
            log.warning("replica reachable again; reads go to it")
        self.replayed = lsn_number(value)
        self._polled_at = time.monotonic()

    @property
    def reachable(self) -> bool:
        return (
            self.replayed is not None
            and time.monotonic() - self._polled_at < self.poll_seconds * STALE_POLLS + 1
        )

    def went_away(self, exc: BaseException) -> None:
        """A read on the replica failed for its connection: the primary serves until the next
        poll that answers."""
        self.replayed = None
        if not self._down_logged:
            self._down_logged = True
            log.warning("replica unreachable (%s); reads go to the primary", exc)

    # --- read-after-write --------------------------------------------------------------------

    async def reads_replica(self, key: str | None) -> bool:
        """Whether a read by `key`'s actor may go to the replica: it is reachable and has
        replayed that actor's last write."""
        replayed = self.replayed
        if replayed is None or not self.reachable:
            return False
        if key is None:
            return True
        try:
            written = await self._written(key)
        except (RedisError, OSError) as exc:
            log.info("read-after-write marker unavailable (%s): read on the primary", exc)
            return False
        return written is None or int(written, 16) <= replayed

    async def wrote(self, key: str | None) -> None:
        """After a commit by `key`'s actor: their reads wait for the replica to pass it."""
        if key is None:
            return
        try:
            inserted = await self.primary_value("SELECT pg_current_wal_insert_lsn()::text")
        except Exception as exc:
            # The write is committed and answered; its author's reads may meet a replica
            # that has not replayed it yet, for as long as the replica lags.
            log.warning("could not read the primary's WAL position after a write: %s", exc)
            return
        position = f"{lsn_number(inserted):016x}"
        if self._redis is None or self._keep_latest is None:
            current = self._local.get(key)
            if current is None or current[1] < position:
                self._local[key] = (time.monotonic() + self.ttl_ms / 1000, position)
            return
        try:
            await self._keep_latest(keys=[MARKER_PREFIX + key], args=[position, self.ttl_ms])
        except (RedisError, OSError) as exc:
            log.warning("could not record a write for read-after-write: %s", exc)

    async def _written(self, key: str) -> str | None:
        if self._redis is None:
            entry = self._local.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._local.pop(key, None)
                return None
            return entry[1]
        value = await self._redis.get(MARKER_PREFIX + key)
        return None if value is None else value.decode()


class RoutedFetch:
    """A compiled-read fetch for one request: the replica or the primary, picked for `key` at
    its first statement and kept for the request. A statement that fails for the replica's
    connection (or a recovery conflict) is sent again to the primary, which serves the rest."""

    def __init__(self, replica: ReplicaReads, primary: Fetch, key: str | None) -> None:
        self.replica = replica
        self.primary = primary
        self.key = key
        self._chosen: Fetch | None = None

    @property
    def on_replica(self) -> bool:
        return self._chosen is not None and self._chosen is not self.primary

    def use_primary(self) -> None:
        self._chosen = self.primary

    async def __call__(self, sql: str, params: Sequence[Any], tenant: Any) -> Any:
        if self._chosen is None:
            use = self.replica.fetch if await self.replica.reads_replica(self.key) else None
            self._chosen = use if use is not None else self.primary
        if self._chosen is self.primary:
            return await self.primary(sql, params, tenant)
        try:
            return await self._chosen(sql, params, tenant)
        except CONNECTION_ERRORS as exc:
            self.replica.went_away(exc)
            self._chosen = self.primary
            return await self.primary(sql, params, tenant)
