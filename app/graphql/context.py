"""Per-request context: who is calling, one database session, the request's DataLoaders."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.session import plan_for_writes
from app.db.tenancy import Tenant
from app.domain.privacy import contact_hidden_before
from app.graphql.loaders import Loaders
from app.jobs import JobQueue, take_staged
from app.ratelimit import RateLimiter
from app.services.auth import Actor
from app.services.errors import Refused

T = TypeVar("T")


@dataclass
class Context:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    actor: Actor | None
    queue: JobQueue | None = None
    limiter: RateLimiter | None = None
    # The caller's address (behind a proxy: X-Forwarded-For, see uvicorn's proxy_headers).
    client_ip: str = "unknown"
    # Set by strawberry from a websocket's connection_init payload.
    connection_params: dict[str, Any] | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Run after each commit (with a replica: the writer's reads wait for it to replay this).
    after_commit: Callable[[], Awaitable[None]] | None = None
    _session: AsyncSession | None = None
    # Resolvers run concurrently; an AsyncSession must not. Every use goes through this lock.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: Loaders | None = None
    _closed: bool = False

    @property
    def contact_hidden_before(self) -> datetime:
        """Declined and expired leads archived before this show no contact (app.domain.privacy)."""
        return contact_hidden_before(self.now, self.settings.contact_hidden_after_days)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.db, self.actor.user_id if self.actor else None)
        return self._loaders

    @property
    def session(self) -> AsyncSession:
        if self._closed:
            # A resolver still running after its operation ended (a sibling field's error ends
            # it early): it must not open a connection nobody closes.
            raise RuntimeError("the request is over")
        if self._session is None:
            # Each transaction of the session serves the request's actor (app/db/tenancy.py);
            # the first one's actor lookup makes the settings itself.
            self._session = self.sessionmaker(info={"tenant": self._tenant})
        return self._session

    def _tenant(self) -> Tenant | None:
        return None if self.actor is None else self.actor.tenant

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            try:
                yield self.session
            except asyncio.CancelledError:
                await self._discard()
                raise

    async def _discard(self) -> None:
        """A statement cancelled half-way (graphql-core cancels the other fields when one
        fails and nulls the whole result; a deadline cancels everything) leaves its connection
        mid-protocol: it is dropped, never handed back to the pool or rolled back (that failed
        with `the underlying connection is closed`). Later uses open a fresh session."""
        session, self._session = self._session, None
        self._loaders = None
        if session is not None:
            with suppress(Exception):
                await session.invalidate()

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A mutation's transaction: the resolver commits, or it rolls back on refusal/error. A
        read-only transaction the request began (the actor's lookup) simply goes on into it:
        read committed reads each statement's latest commits, and going on spares a commit, a
        new BEGIN and a second connection checkout. Its statements find rows by key: they reuse
        generic plans (`plan_for_writes`)."""
        async with self._lock:
            session = self.session
            try:
                await plan_for_writes(session)
                yield session
            except asyncio.CancelledError:
                await self._discard()
                raise
            finally:
                # What the loaders cached before the change is stale now.
                self._loaders = None

    async def transact(self, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One service call in one transaction: committed unless it refused (a `Refused`
        result) or raised, and then rolled back, so nothing is ever half-written. The jobs the
        service staged are enqueued only after the commit, and dropped with a rollback."""
        async with self.unit_of_work() as session:
            try:
                result = await action(session)
            except asyncio.CancelledError:
                take_staged(session)  # unit_of_work drops the connection: no rollback on it
                raise
            except BaseException:
                await session.rollback()
                take_staged(session)
                raise
            if isinstance(result, Refused):
                await session.rollback()
                take_staged(session)
                return result
            await session.commit()
        if self.after_commit is not None:
            await self.after_commit()
        if self.queue is not None:
            await self.queue.flush(session)
        else:
            take_staged(session)
        return result

    async def close(self, *, final: bool = False) -> None:
        """Give the connection back once whoever uses it is done: closing it under a loader's
        running statement broke the connection (and the transaction other fields still used).
        `final`: the request is over, and a late resolver may not open another."""
        async with self._lock:
            self._closed = self._closed or final
            if self._session is not None:
                await self._session.close()
                self._session = None
