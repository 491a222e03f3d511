"""The CSV routes over HTTP (httpx against the ASGI app), inside the test's rolled-back
transaction; many leads at once with COPY."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from app.config import Settings
from app.dev.copy_writer import LEAD_COLUMNS, copy_records
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


def lead_record(organisation_id: uuid.UUID, n: int, **fields: Any) -> tuple[Any, ...]:
    """A RECEIVED customer inquiry as a row of LEAD_COLUMNS, received `n` seconds ago."""
    received = datetime.now(UTC) - timedelta(hours=1, seconds=n)
    values: dict[str, Any] = dict.fromkeys(LEAD_COLUMNS)
    values.update(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        type="CUSTOMER_INQUIRY",
        stage="RECEIVED",
        company_name=f"Company {n}",
        company_size="SIZE_51_250",
        industry="Retail",
        country="US",
        contact_name=f"Contact {n}",
        contact_email=f"contact{n}@example.com",
        need="Move to the cloud, with a pilot first",
        contact_requested=False,
        consent_to_contact=True,
        received_at=received,
        respond_by=received + timedelta(days=14),
        version=1,
        created_at=received,
        updated_at=received,
    )
    values.update(fields)
    return tuple(values[c] for c in LEAD_COLUMNS)


async def copy_leads(
    connection: AsyncConnection, organisation_id: uuid.UUID, count: int, **fields: Any
) -> None:
    """`count` leads in one COPY, in the test's transaction."""
    records = [lead_record(organisation_id, n, **fields) for n in range(count)]
    await copy_records(connection, "leads", LEAD_COLUMNS, records)
