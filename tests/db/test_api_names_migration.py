"""Migration 0005 rewrites history changes and event payloads written before it with the API's
names, and its downgrade restores the column names."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db.migrate import downgrade, upgrade
from app.db.urls import with_driver

OLD_CHANGES = [
    {"deal_name": {"from": None, "to": "Adatum"}, "team_members_added": ["Jo Park"]},
    {"team_member_added": {"name": "Kim Lee", "email": "kim@contoso.example"}},
    {"team_member_removed": {"name": "Kim Lee", "email": None}},
    {"outcome": "DECLINED", "rerouted_to": {"lead_id": "L-2", "partner": "Fabrikam"}},
    {"rerouted_to": None, "reason": "no suggested partner has not had this lead"},
    {},
]
NEW_CHANGES = [
    {
        "dealName": {"from": None, "to": "Adatum"},
        "teamMembersAdded": [{"name": "Jo Park", "email": None}],
    },
    {"teamMembersAdded": [{"name": "Kim Lee", "email": "kim@contoso.example"}]},
    {"teamMembersRemoved": [{"name": "Kim Lee", "email": None}]},
    {
        "outcome": "DECLINED",
        "reroutedTo": {"from": None, "to": {"leadId": "L-2", "partner": "Fabrikam"}},
    },
    {
        "reroutedTo": {"from": None, "to": None},
        "reason": "no suggested partner has not had this lead",
    },
    {},
]
OLD_PAYLOAD = {
    "event_id": "E-1",
    "type": "lead.accepted",
    "lead_id": "L-1",
    "organisation_id": "O-1",
    "action": "ACCEPT",
    "occurred_at": "2026-11-30T10:00:00+00:00",
    "actor": {"kind": "USER", "user_id": "U-1"},
    "previous": {"stage": "RECEIVED", "deal_name": None, "estimated_value": None},
    "current": {"stage": "ACCEPTED", "deal_name": "Adatum", "crm_id": "C-1"},
    "changes": {"deal_name": {"from": None, "to": "Adatum"}},
    "recipient": {"name": "Bo", "email": "bo@adatum.example"},
    "hours_left": 24,
}
NEW_PAYLOAD = {
    "eventId": "E-1",
    "type": "lead.accepted",
    "leadId": "L-1",
    "organisationId": "O-1",
    "action": "ACCEPT",
    "occurredAt": "2026-11-30T10:00:00+00:00",
    "actor": {"kind": "USER", "userId": "U-1"},
    "previous": {"stage": "RECEIVED", "dealName": None, "estimatedValue": None},
    "current": {"stage": "ACCEPTED", "dealName": "Adatum", "crmId": "C-1"},
    "changes": {"dealName": {"from": None, "to": "Adatum"}},
    "recipient": {"name": "Bo", "email": "bo@adatum.example"},
    "hoursLeft": 24,
}


async def _run(url: str, statements: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    engine = create_async_engine(with_driver(url))
    results = []
    async with engine.begin() as conn:
        for sql, params in statements:
            result = await conn.execute(text(sql), params)
            results.append(result.scalars().all() if result.returns_rows else None)
    await engine.dispose()
    return results


def _stored(url: str) -> tuple[list[Any], list[Any]]:
    history, outbox = asyncio.run(
        _run(
            url,
            [
                ("SELECT changes FROM lead_history ORDER BY id", {}),
                ("SELECT payload FROM outbox ORDER BY id", {}),
            ],
        )
    )
    return history, outbox


def test_history_and_events_are_renamed_and_back(empty_database: str) -> None:
    url = empty_database
    upgrade(url, "0004")
    lead = str(uuid.uuid4())
    org = str(uuid.uuid4())
    asyncio.run(
        _run(
            url,
            [
                (
                    "INSERT INTO organisations (id, slug, name, kind) VALUES "
                    "(:org, 'p', 'P', 'PARTNER')",
                    {"org": org},
                ),
                (
                    "INSERT INTO leads (id, organisation_id, type, stage, company_name, "
                    "company_size, country, contact_name, contact_email, need, received_at, "
                    "respond_by) VALUES (:lead, :org, 'CUSTOMER_INQUIRY', 'RECEIVED', 'A', "
                    "'SIZE_1_9', 'US', 'B', 'b@a.example', 'n', now(), now())",
                    {"lead": lead, "org": org},
                ),
                *[
                    (
                        "INSERT INTO lead_history (lead_id, action, to_stage, actor_kind, "
                        "changes) VALUES (:lead, 'UPDATE', 'ACCEPTED', 'SYSTEM', "
                        "CAST(:changes AS jsonb))",
                        {"lead": lead, "changes": json.dumps(c)},
                    )
                    for c in OLD_CHANGES
                ],
                (
                    "INSERT INTO outbox (topic, payload) VALUES ('lead.accepted', "
                    "CAST(:payload AS jsonb))",
                    {"payload": json.dumps(OLD_PAYLOAD)},
                ),
            ],
        )
    )
    upgrade(url, "0005")
    history, outbox = _stored(url)
    assert history == NEW_CHANGES
    assert outbox == [NEW_PAYLOAD]
    downgrade(url, "0004")
    history, outbox = _stored(url)
    assert history[0] == {
        "deal_name": {"from": None, "to": "Adatum"},
        "team_members_added": ["Jo Park"],
    }
    assert history[2:] == OLD_CHANGES[2:]
    assert outbox == [OLD_PAYLOAD]
