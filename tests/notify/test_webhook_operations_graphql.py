"""Operating endpoints over GraphQL, as the API's own database role (behind row-level security):
edit, ping, redeliver and deliveries by status, with refusals at the input paths clients see;
deliveries go out through the worker's real fan-out and delivery to a real receiver."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.notify.deliver import Deps
from app.notify.relay import fan_out
from tests.factories import World
from tests.notify.test_webhooks_graphql import Execute, execute  # noqa: F401
from tests.receivers import WebhookReceiver
from tests.workers.outbox_support import deliver_all

pytestmark = pytest.mark.usefixtures("only_this_tests_events")

ERRORS = "errors { code field message }"
ENDPOINT = "endpoint { id url events active failingSince disabledAt }"
DELIVERY = "delivery { id eventType status attemptCount nextAttemptAt attempts { statusCode } }"
CREATE = (
    "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { "
    f"{ENDPOINT} secret {ERRORS} }} }}"
)
UPDATE = (
    "mutation($input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $input) { "
    f"{ENDPOINT} secret {ERRORS} }} }}"
)
PING = f"mutation($id: ID!) {{ pingWebhookEndpoint(input: {{id: $id}}) {{ {DELIVERY} {ERRORS} }} }}"
REDELIVER = (
    "mutation($id: ID!) { redeliverWebhookDelivery(input: {id: $id}) { "
    + f"{DELIVERY} {ERRORS} }} }}"
)
DELIVERIES = """
query($id: ID!, $status: WebhookDeliveryStatus, $first: Int, $after: String) {
  webhookDeliveries(endpointId: $id, status: $status, first: $first, after: $after) {
    id eventType status attemptCount
  }
}
"""


async def relay(session: AsyncSession, deps: Deps) -> dict[str, int]:
    """The relay job, now: the API stamps what it writes with the wall clock."""
    now = datetime.now(UTC)
    await fan_out(session, now=now)
    return await deliver_all(session, deps, now)


def error(payload: dict[str, Any]) -> tuple[str, list[str] | None]:
    (only,) = payload["errors"]
    assert only["message"]
    return only["code"], only["field"]


async def test_edit_ping_and_redeliver_over_graphql(
    execute: Execute,  # noqa: F811
    session: AsyncSession,
    settings: Settings,
    world: World,
    receiver: WebhookReceiver,
    deps: Deps,
) -> None:
    admin = world.contoso.partner_admin
    created = (
        await execute(
            CREATE,
            admin,
            {"input": {"url": "https://hooks.example.com/a", "events": ["lead.won"]}},
        )
    )["createWebhookEndpoint"]
    eid = created["endpoint"]["id"]

    # Edit: URL and events; bad input is typed, at the path it was sent.
    updated = (
        await execute(
            UPDATE,
            admin,
            {"input": {"id": eid, "url": receiver.url(), "events": ["lead.won", "sent_lead.won"]}},
        )
    )["updateWebhookEndpoint"]
    assert updated["errors"] == [] and updated["secret"] is None
    assert updated["endpoint"]["url"] == receiver.url()
    assert updated["endpoint"]["events"] == ["lead.won", "sent_lead.won"]
    refused = await execute(UPDATE, admin, {"input": {"id": eid, "events": ["lead.nope"]}})
    assert error(refused["updateWebhookEndpoint"]) == ("VALIDATION", ["input", "events", "0"])
    refused = await execute(UPDATE, admin, {"input": {"id": eid, "url": "mailto:x@y.example"}})
    assert error(refused["updateWebhookEndpoint"]) == ("VALIDATION", ["input", "url"])
    theirs = await execute(
        UPDATE, world.fabrikam.partner_admin, {"input": {"id": eid, "active": False}}
    )
    assert error(theirs["updateWebhookEndpoint"]) == ("NOT_FOUND", ["input", "id"])
    member = await execute(UPDATE, world.contoso.member, {"input": {"id": eid, "active": False}})
    assert error(member["updateWebhookEndpoint"]) == ("FORBIDDEN", None)

    # Ping: a delivery, answered at once, sent by the worker; the receiver says Gone, so the
    # delivery is dead and the endpoint disabled.
    receiver.secret = created["secret"]
    receiver.statuses = [410, 200]
    pinged = (await execute(PING, admin, {"id": eid}))["pingWebhookEndpoint"]
    assert pinged["errors"] == []
    delivery = pinged["delivery"]
    assert (delivery["eventType"], delivery["status"], delivery["attemptCount"]) == (
        "ping",
        "PENDING",
        0,
    )
    await relay(session, deps)
    assert [(r.event_type, r.verified, r.status) for r in receiver.requests] == [
        ("ping", True, 410)
    ]
    dead = (await execute(DELIVERIES, admin, {"id": eid, "status": "DEAD"}))["webhookDeliveries"]
    assert dead == [
        {"id": delivery["id"], "eventType": "ping", "status": "DEAD", "attemptCount": 1}
    ]
    assert (await execute(DELIVERIES, admin, {"id": eid, "status": "SENT"}))[
        "webhookDeliveries"
    ] == []

    # Redeliver: refused while the endpoint is disabled; re-enabled, it is sent again, once.
    refused = await execute(REDELIVER, admin, {"id": delivery["id"]})
    assert error(refused["redeliverWebhookDelivery"]) == ("INVALID_TRANSITION", ["input", "id"])
    enabled = (await execute(UPDATE, admin, {"input": {"id": eid, "active": True}}))[
        "updateWebhookEndpoint"
    ]["endpoint"]
    assert (enabled["active"], enabled["failingSince"], enabled["disabledAt"]) == (
        True,
        None,
        None,
    )
    for _ in range(2):  # idempotent while pending
        again = (await execute(REDELIVER, admin, {"id": delivery["id"]}))[
            "redeliverWebhookDelivery"
        ]
        assert again["errors"] == []
        assert (again["delivery"]["id"], again["delivery"]["status"]) == (delivery["id"], "PENDING")
        assert again["delivery"]["nextAttemptAt"] is not None
        assert [a["statusCode"] for a in again["delivery"]["attempts"]] == [410]
    await relay(session, deps)
    assert [r.status for r in receiver.requests] == [410, 200]
    sent = (await execute(DELIVERIES, admin, {"id": eid, "status": "SENT"}))["webhookDeliveries"]
    assert sent == [
        {"id": delivery["id"], "eventType": "ping", "status": "SENT", "attemptCount": 2}
    ]

    # Delivered: refused. Another organisation's, or no such id: not found / invalid.
    done = await execute(REDELIVER, admin, {"id": delivery["id"]})
    assert error(done["redeliverWebhookDelivery"]) == ("INVALID_TRANSITION", ["input", "id"])
    theirs = await execute(REDELIVER, world.fabrikam.partner_admin, {"id": delivery["id"]})
    assert error(theirs["redeliverWebhookDelivery"]) == ("NOT_FOUND", ["input", "id"])
    bad = await execute(REDELIVER, admin, {"id": "not-a-number"})
    assert error(bad["redeliverWebhookDelivery"]) == ("VALIDATION", ["input", "id"])
    anonymous = await execute(PING, None, {"id": eid})
    assert error(anonymous["pingWebhookEndpoint"]) == ("UNAUTHENTICATED", None)

    # A bad page cursor is a typed query error on its argument.
    failed = await execute(DELIVERIES, admin, {"id": eid, "after": "999999999999"}, errors=True)
    assert failed["errors"][0]["code"] == "NOT_FOUND"
    assert failed["errors"][0]["field"] == ["after"]
