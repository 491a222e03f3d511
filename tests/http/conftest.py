"""The CSV routes over HTTP (httpx against the ASGI app), inside the test's rolled-back
transaction; many leads at once with COPY."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from app.config import Settings
from app.dev.copy_writer import LEAD_COLUMNS, copy_records, inquiry_record
from app.main import create_app
from app.services.auth import issue_token
from tests.factories import WorldPartner, make_partner
from tests.graphql_client import asgi_client


@pytest.fixture
async def partner(session: AsyncSession) -> WorldPartner:
    return await make_partner(session)


@pytest.fixture
def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> Starlette:
    return create_app(settings, sessionmaker=sessionmaker)


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


def bearer(settings: Settings, user_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user_id)}"}


async def copy_leads(
    connection: AsyncConnection, organisation_id: uuid.UUID, count: int, **fields: Any
) -> None:
    """`count` leads in one COPY, in the test's transaction. Test data, not a request: the
    app's statement timeout (meant for requests) does not bound it on a busy machine."""
    records = [inquiry_record(organisation_id, n, **fields) for n in range(count)]
    await connection.execute(text("SET LOCAL statement_timeout = 0"))
    await copy_records(connection, "leads", LEAD_COLUMNS, records)
