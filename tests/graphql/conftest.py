"""Fixtures of the GraphQL-level tests."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import WorldPartner, make_partner
from tests.graphql_client import GraphQLClient


@pytest.fixture
async def partner(session: AsyncSession) -> WorldPartner:
    """A partner with no leads yet: every test below says exactly which leads it has."""
    return await make_partner(session)


@pytest.fixture
def admin(gql: GraphQLClient, partner: WorldPartner) -> GraphQLClient:
    return gql.as_user(partner.referrals_admin)
