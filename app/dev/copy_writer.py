"""Generated rows go into the database with COPY, never one by one: the column order of each
table, the rows of a batch, and the writer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

LEAD_COLUMNS = [
    "id",
    "organisation_id",
    "profile_id",
    "type",
    "stage",
    "outcome",
    "company_name",
    "company_size",
    "industry",
    "country",
    "contact_name",
    "contact_email",
    "contact_phone",
    "need",
    "contact_requested",
    "consent_to_contact",
    "sender_user_id",
    "sender_organisation_id",
    "received_at",
    "respond_by",
    "responded_at",
    "deal_name",
    "estimated_value_amount",
    "estimated_value_currency",
    "estimated_purchase_date",
    "notes",
    "crm_id",
    "campaign_id",
    "decline_reason",
    "decline_notes",
    "final_value_amount",
    "final_value_currency",
    "closing_date",
    "lost_reason",
    "lost_notes",
    "archived_at",
    "version",
    "created_at",
    "updated_at",
]
HISTORY_COLUMNS = [
    "lead_id",
    "action",
    "from_stage",
    "to_stage",
    "outcome",
    "actor_kind",
    "actor_user_id",
    "changes",
    # The lead's version after the step (the trigger would take the lead's final one).
    "version",
    "at",
]
TEAM_COLUMNS = ["id", "lead_id", "name", "email", "phone", "added_at"]
FAVORITE_COLUMNS = ["user_id", "lead_id", "created_at"]


@dataclass
class LeadRows:
    """One batch of generated rows, each a tuple in its table's column order."""

    leads: list[tuple[Any, ...]] = field(default_factory=list)
    history: list[tuple[Any, ...]] = field(default_factory=list)
    team: list[tuple[Any, ...]] = field(default_factory=list)
    favorites: list[tuple[Any, ...]] = field(default_factory=list)


async def copy_records(
    conn: AsyncConnection, table: str, columns: list[str], records: list[tuple[Any, ...]]
) -> None:
    """COPY `records` into `table` over the connection's own asyncpg connection."""
    if not records:
        return
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table, records=records, columns=columns)


# The tables a batch fills, in foreign-key order.
LEAD_TABLES = ("leads", "lead_history", "lead_team_members", "lead_favorites")


async def write_lead_rows(conn: AsyncConnection, rows: LeadRows) -> None:
    """The batch, inside the caller's transaction."""
    await copy_records(conn, "leads", LEAD_COLUMNS, rows.leads)
    await copy_records(conn, "lead_history", HISTORY_COLUMNS, rows.history)
    await copy_records(conn, "lead_team_members", TEAM_COLUMNS, rows.team)
    await copy_records(conn, "lead_favorites", FAVORITE_COLUMNS, rows.favorites)


def inquiry_record(
    organisation_id: uuid.UUID, n: int, *, now: datetime | None = None, **fields: Any
) -> tuple[Any, ...]:
    """A RECEIVED customer inquiry as a row of LEAD_COLUMNS, received `n` seconds before an
    hour ago: many leads at once for COPY (benchmarks, tests of large exports)."""
    received = (now or datetime.now(UTC)) - timedelta(hours=1, seconds=n)
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
