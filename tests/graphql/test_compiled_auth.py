"""The compiled read path caches verified tokens and actors; a deactivated user or a removed
role stops reading within `actor_cache_seconds`, and writes are never cached."""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import User
from app.main import create_app
from tests.factories import World
from tests.graphql_client import GraphQLClient, asgi_client
from tests.waiting import eventually

TTL = 0.5
LEADS = "{ leads(tab: MARKETPLACE, first: 1) { totalCount } }"


@pytest.fixture
async def client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> AsyncIterator[GraphQLClient]:
    app = create_app(
        settings.model_copy(update={"actor_cache_seconds": TTL}), sessionmaker=sessionmaker
    )
    async with asgi_client(app) as http:
        yield GraphQLClient(http, settings).as_user(world.contoso.referrals_admin)


async def _total(client: GraphQLClient) -> int | None:
    body = await client(LEADS)
    if client.last_status != 200:
        return None
    total: int = body["data"]["leads"]["totalCount"]
    return total


async def test_a_deactivated_user_stops_reading_within_the_bound(
    client: GraphQLClient, session: AsyncSession, world: World
) -> None:
    assert (await _total(client) or 0) > 0
    await session.execute(
        update(User).where(User.id == world.contoso.referrals_admin).values(active=False)
    )
    changed = time.monotonic()
    # Writes load the actor afresh: refused at once.
    await client(
        'mutation { setLeadFavorite(input: {id: "x", favorite: true}) { errors { code } } }'
    )
    assert client.last_status == 401

    async def refused() -> bool:
        return await _total(client) is None

    await eventually(refused, timeout=TTL + 2, describe="the deactivated user still reads")
    assert time.monotonic() - changed <= TTL + 0.5


async def test_a_removed_role_takes_effect_within_the_bound(
    client: GraphQLClient, session: AsyncSession, world: World
) -> None:
    assert (await _total(client) or 0) > 0
    await session.execute(
        update(User).where(User.id == world.contoso.referrals_admin).values(roles=[])
    )
    changed = time.monotonic()

    async def sees_nothing() -> bool:
        return await _total(client) == 0

    await eventually(sees_nothing, timeout=TTL + 2, describe="the old roles still read leads")
    assert time.monotonic() - changed <= TTL + 0.5


async def test_a_serving_process_freezes_its_start_up_objects(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    threshold = gc.get_threshold()
    # The test session collects as a serving process does (tests/conftest.py): the app must be
    # seen to freeze and raise the threshold from the interpreter's defaults.
    session_frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    gc.set_threshold(700, *threshold[1:])
    app = create_app(
        settings.model_copy(update={"gc_freeze": True, "gc_gen0_threshold": 50_000}),
        sessionmaker=sessionmaker,
    )
    try:
        async with asgi_client(app):
            assert gc.get_freeze_count() > 0
            assert gc.get_threshold()[0] == 50_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        if session_frozen:
            gc.freeze()
