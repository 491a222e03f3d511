"""The request's DataLoaders, all in one place. Each wraps a batch read from the service layer;
they share the request's session (under its lock) and are dropped after a mutation, whose
changes would make what they cached stale."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db.models import (
    LeadActivity,
    LeadHistory,
    LeadTeamMember,
    LocationContact,
    Organisation,
    ProfileLocation,
)
from app.services import batch_reads
from app.services.activities import ActivityKey, activities_by_lead
from app.services.profiles import load_locations

K = TypeVar("K")

Locations = list[tuple[ProfileLocation, list[LocationContact]]]


class Loaders:
    def __init__(
        self,
        db: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        user_id: uuid.UUID | None,
    ) -> None:
        self._db = db
        self._user_id = user_id

    def _loader(
        self,
        load: Callable[[AsyncSession, Sequence[K]], Awaitable[dict[K, Any]]],
        default: Callable[[], Any] | None = None,
    ) -> DataLoader[K, Any]:
        async def batch(keys: list[K]) -> list[Any]:
            async with self._db() as session:
                found = await load(session, keys)
            return [found.get(k, default() if default is not None else None) for k in keys]

        return DataLoader(load_fn=batch)

    @cached_property
    def team_by_lead(self) -> DataLoader[uuid.UUID, list[LeadTeamMember]]:
        return self._loader(batch_reads.team_by_lead, list)

    @cached_property
    def history_by_lead(self) -> DataLoader[uuid.UUID, list[LeadHistory]]:
        return self._loader(batch_reads.history_by_lead, list)

    @cached_property
    def activities(self) -> DataLoader[ActivityKey, list[LeadActivity]]:
        return self._loader(activities_by_lead, list)

    @cached_property
    def favorite_by_lead(self) -> DataLoader[uuid.UUID, bool]:
        user_id = self._user_id

        async def load(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bool]:
            return {} if user_id is None else await batch_reads.favorites_of(session, user_id, ids)

        return self._loader(load, bool)

    @cached_property
    def user_by_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._loader(batch_reads.users_by_id)

    @cached_property
    def api_key_name_by_id(self) -> DataLoader[uuid.UUID, Any]:
        return self._loader(batch_reads.api_key_names_by_id)

    @cached_property
    def organisation_by_id(self) -> DataLoader[uuid.UUID, Organisation | None]:
        return self._loader(batch_reads.organisations_by_id)

    @cached_property
    def locations_by_profile(self) -> DataLoader[uuid.UUID, Locations]:
        return self._loader(load_locations, list)
