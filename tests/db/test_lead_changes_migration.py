"""Migration 0009 stamps history written before it for the change feed: the lead's partner, the
lead's version after each entry, and transaction id 0, which sorts before (and is complete below)
every transaction that writes later."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrate import downgrade, upgrade
from app.db.urls import with_driver

LEAD = (
    "INSERT INTO leads (id, organisation_id, type, stage, company_name, company_size, country, "
    "contact_name, contact_email, need, received_at, respond_by, version) VALUES (:lead, :org, "
    "'CUSTOMER_INQUIRY', 'RECEIVED', 'A', 'SIZE_1_9', 'US', 'B', 'b@a.example', 'n', now(), "
    "now(), 3)"
)
HISTORY = (
    "INSERT INTO lead_history (lead_id, action, to_stage, actor_kind) "
    "VALUES (:lead, :action, 'ACCEPTED', 'SYSTEM')"
)


async def _run(url: str, statements: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    engine = create_async_engine(with_driver(url))
    results = []
    async with engine.begin() as conn:
        for sql, params in statements:
            result = await conn.execute(text(sql), params)
            results.append(result.all() if result.returns_rows else None)
    await engine.dispose()
    return results


def test_history_before_the_feed_is_stamped_and_sorts_first(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "0007")
    org, lead = str(uuid.uuid4()), str(uuid.uuid4())
    asyncio.run(
        _run(
            url,
            [
                (
                    "INSERT INTO organisations (id, slug, name, kind) "
                    "VALUES (:org, 'p', 'P', 'PARTNER')",
                    {"org": org},
                ),
                (LEAD, {"lead": lead, "org": org}),
                *[
                    (HISTORY, {"lead": lead, "action": action})
                    for action in ("RECEIVE", "ACCEPT", "REROUTE", "UPDATE")
                ],
            ],
        )
    )
    upgrade(url, "0009")
    stamped, later, below_xmin = asyncio.run(
        _run(
            url,
            [
                (
                    "SELECT action, organisation_id::text, version, txid::text "
                    "FROM lead_history ORDER BY txid, id",
                    {},
                ),
                (
                    HISTORY + " RETURNING action, version, txid::text",
                    {"lead": lead, "action": "UPDATE"},
                ),
                ("SELECT '0'::xid8 < pg_snapshot_xmin(pg_current_snapshot())", {}),
            ],
        )
    )
    assert [tuple(row) for row in stamped] == [
        ("RECEIVE", org, 1, "0"),
        ("ACCEPT", org, 2, "0"),
        ("REROUTE", org, 2, "0"),  # marks the old lead, changes no version
        ("UPDATE", org, 3, "0"),
    ]
    [(action, version, txid)] = later
    assert (action, version) == ("UPDATE", 3) and int(txid) > 0
    assert below_xmin == [(True,)]
    downgrade(url, "0007")
    upgrade(url)
