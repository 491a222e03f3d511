"""The compiled read path as production runs it: its own asyncpg pool on committed data, every
statement kind first on a fresh connection, each answer equal to strawberry's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db.models import Lead
from app.main import create_app
from tests.factories import World
from tests.graphql_client import Differential, FrozenClock, GraphQLClient, asgi_client

DOCUMENTS = [
    "{ leads(tab: MARKETPLACE, first: 5) { totalCount edges { cursor node { id stage "
    "customer { companyName } deal { name estimatedValue { amount currency } } team { name } "
    "history { action changes { field from to } actor { kind name } } sender { kind name } "
    "isFavorite } } pageInfo { hasNextPage endCursor } } }",
    "{ leadCounts { tab stage count } }",
    "query($id: ID!) { lead(id: $id) { id version allowedActions timeLeftToRespond contactAlert "
    "history { action } team { name } } }",
    "{ sentLeads(first: 3) { nodes { id stage deal { name } } } }",
]


@pytest.fixture
async def pooled(settings: Settings, world: World) -> AsyncIterator[GraphQLClient]:
    clock = FrozenClock()
    # Small pools: every statement kind below meets a connection that has run nothing yet.
    production = settings.model_copy(update={"read_pool_size": 1})
    general = settings.model_copy(update={"compiled_reads": False})
    app = create_app(production, clock=clock)
    twin = create_app(general, clock=clock)
    async with asgi_client(app) as http, asgi_client(twin) as twin_http:
        yield GraphQLClient(http, settings, differential=Differential(twin_http, clock))


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_the_pool_answers_as_strawberry_does(
    pooled: GraphQLClient, world: World, engine: AsyncEngine, document: str
) -> None:
    async with engine.connect() as conn:
        lead_id = await conn.scalar(
            select(Lead.id).where(Lead.organisation_id == world.contoso.organisation_id).limit(1)
        )
    admin = pooled.as_user(world.contoso.referrals_admin)
    await admin.data(document, {"id": str(lead_id)} if "$id" in document else None)
    assert admin.differential is not None
    assert admin.differential.compiled == 1, "answered by the compiled path"
