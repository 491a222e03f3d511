"""Per-request context: who is calling, one database session, the request's DataLoaders."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader

from app.config import Settings
from app.db.models import LeadFavorite, LeadHistory, LeadTeamMember, Organisation, User
from app.jobs import JobQueue, take_staged
from app.ratelimit import RateLimiter
from app.services.auth import Actor
from app.services.errors import Refused

K = TypeVar("K")
V = TypeVar("V")
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
    _session: AsyncSession | None = None
    # Resolvers run concurrently; an AsyncSession must not. Every use goes through this lock.
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _loaders: dict[str, DataLoader[Any, Any]] = field(default_factory=dict)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self.sessionmaker()
        return self._session

    @asynccontextmanager
    async def db(self) -> AsyncIterator[AsyncSession]:
        async with self._lock:
            yield self.session

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A mutation's transaction: the resolver commits, or it rolls back on refusal/error."""
        async with self._lock:
            session = self.session
            if session.in_transaction():
                await session.commit()  # end the read-only transaction a query may have begun
            try:
                yield session
            finally:
                # What the loaders cached before the change is stale now.
                self._loaders.clear()

    async def transact(self, action: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """One service call in one transaction: committed unless it refused (a `Refused`
        result) or raised, and then rolled back, so nothing is ever half-written. The jobs the
        service staged are enqueued only after the commit, and dropped with a rollback."""
        async with self.unit_of_work() as session:
            try:
                result = await action(session)
            except BaseException:
                await session.rollback()
                take_staged(session)
                raise
            if isinstance(result, Refused):
                await session.rollback()
                take_staged(session)
                return result
            await session.commit()
        if self.queue is not None:
            await self.queue.flush(session)
        else:
            take_staged(session)
        return result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def loader(
        self,
        name: str,
        load: Callable[[AsyncSession, Sequence[Any]], Awaitable[dict[Any, Any]]],
        default: Any = None,
    ) -> DataLoader[Any, Any]:
        if name not in self._loaders:

            async def batch(keys: list[Any]) -> list[Any]:
                async with self.db() as session:
                    found = await load(session, keys)
                return [found.get(k, default() if callable(default) else default) for k in keys]

            self._loaders[name] = DataLoader(load_fn=batch)
        return self._loaders[name]

    # The request's loaders, by what they load.
    @property
    def team_by_lead(self) -> DataLoader[uuid.UUID, list[LeadTeamMember]]:
        return self.loader("team", _team_by_lead, default=list)

    @property
    def history_by_lead(self) -> DataLoader[uuid.UUID, list[LeadHistory]]:
        return self.loader("history", _history_by_lead, default=list)

    @property
    def favorite_by_lead(self) -> DataLoader[uuid.UUID, bool]:
        user_id = self.actor.user_id if self.actor else None

        async def load(session: AsyncSession, lead_ids: Sequence[uuid.UUID]) -> dict[Any, bool]:
            if user_id is None:
                return {}
            rows = await session.scalars(
                select(LeadFavorite.lead_id).where(
                    LeadFavorite.user_id == user_id, LeadFavorite.lead_id.in_(lead_ids)
                )
            )
            return dict.fromkeys(rows.all(), True)

        return self.loader("favorite", load, default=False)

    @property
    def user_by_id(self) -> DataLoader[uuid.UUID, User | None]:
        return self.loader("user", _users_by_id)

    @property
    def organisation_by_id(self) -> DataLoader[uuid.UUID, Organisation | None]:
        return self.loader("organisation", _organisations_by_id)


async def _team_by_lead(session: AsyncSession, lead_ids: Sequence[uuid.UUID]) -> dict[Any, Any]:
    grouped: dict[uuid.UUID, list[LeadTeamMember]] = defaultdict(list)
    rows = await session.scalars(
        select(LeadTeamMember)
        .where(LeadTeamMember.lead_id.in_(lead_ids))
        .order_by(LeadTeamMember.added_at, LeadTeamMember.id)
    )
    for member in rows:
        grouped[member.lead_id].append(member)
    return grouped


async def _history_by_lead(session: AsyncSession, lead_ids: Sequence[uuid.UUID]) -> dict[Any, Any]:
    grouped: dict[uuid.UUID, list[LeadHistory]] = defaultdict(list)
    rows = await session.scalars(
        select(LeadHistory).where(LeadHistory.lead_id.in_(lead_ids)).order_by(LeadHistory.id)
    )
    for entry in rows:
        grouped[entry.lead_id].append(entry)
    return grouped


async def _users_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[Any, Any]:
    rows = await session.scalars(select(User).where(User.id.in_(ids)))
    return {u.id: u for u in rows}


async def _organisations_by_id(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[Any, Any]:
    rows = await session.scalars(select(Organisation).where(Organisation.id.in_(ids)))
    return {o.id: o for o in rows}
