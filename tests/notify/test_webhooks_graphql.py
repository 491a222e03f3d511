"""Webhook endpoints over GraphQL, through a schema merged the way app/graphql/schema.py merges
it: the endpoint lifecycle, refusals with the input paths clients see, and every delivery with
its attempts."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import strawberry
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.tools import merge_types

from app.config import Settings
from app.db.models import Delivery, DeliveryAttempt, OutboxMessage
from app.domain.events import Channel, DeliveryStatus, Topic
from app.graphql.context import Context
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.webhooks import WebhookMutation, WebhookQuery
from app.notify.webhook_sender import PostResult, post_event
from app.services.auth import Actor
from tests.factories import World, make_lead
from tests.notify.webhook_support import SECRET_SHAPE, actor_for, create, endpoint_row
from tests.receivers import WebhookReceiver

SCHEMA = strawberry.Schema(
    query=merge_types("Query", (Query, WebhookQuery)),
    mutation=merge_types("Mutation", (Mutation, WebhookMutation)),
)

ENDPOINT = "endpoint { id url events active createdAt failingSince disabledAt }"
CREATE = (
    "mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { "
    + ENDPOINT
    + " secret errors { code field message } } }"
)
ROTATE = (
    "mutation($id: ID!) { rotateWebhookEndpointSecret(input: {id: $id}) { "
    + ENDPOINT
    + " secret errors { code field message } } }"
)
DELETE = (
    "mutation($id: ID!) { deleteWebhookEndpoint(input: {id: $id}) { "
    "deletedId errors { code field message } } }"
)
LIST = "{ webhookEndpoints { id url events active } }"
DELIVERIES = """
query($id: ID!, $first: Int) {
  webhookDeliveries(endpointId: $id, first: $first) {
    id eventType leadId status attemptCount lastError nextAttemptAt sentAt createdAt
    attempts { at succeeded statusCode error durationMs }
  }
}
"""

Execute = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def execute(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> Execute:
    """Run a document as `user_id` (None: anonymous) through the merged schema; the data, or
    the errors when `errors=True`."""

    async def run(
        document: str,
        user_id: uuid.UUID | None,
        variables: dict[str, Any] | None = None,
        *,
        errors: bool = False,
    ) -> dict[str, Any]:
        actor = await actor_for(session, user_id) if user_id else None
        context = Context(settings=settings, sessionmaker=sessionmaker, actor=actor)
        try:
            result = await SCHEMA.execute(
                document, variable_values=variables, context_value=context
            )
        finally:
            await context.close()
        if errors:
            assert result.errors, result
            return {
                "errors": [{"message": e.message, **(e.extensions or {})} for e in result.errors]
            }
        assert not result.errors, result.errors
        assert result.data is not None
        return result.data

    return run


async def test_graphql_endpoint_lifecycle(
    execute: Execute, session: AsyncSession, world: World
) -> None:
    admin = world.contoso.partner_admin
    created = (
        await execute(
            CREATE,
            admin,
            {"input": {"url": "https://hooks.example.com/a", "events": ["lead.won", "lead.lost"]}},
        )
    )["createWebhookEndpoint"]
    assert created["errors"] == []
    assert SECRET_SHAPE.match(created["secret"])
    endpoint = created["endpoint"]
    assert endpoint["url"] == "https://hooks.example.com/a"
    assert endpoint["events"] == ["lead.won", "lead.lost"]
    assert endpoint["active"] is True
    assert endpoint["createdAt"] and endpoint["failingSince"] is None
    assert endpoint["disabledAt"] is None
    row = await endpoint_row(session, uuid.UUID(endpoint["id"]))
    assert row is not None and row.secret == created["secret"]  # committed

    listed = (await execute(LIST, admin))["webhookEndpoints"]
    assert listed == [
        {"id": endpoint["id"], "url": endpoint["url"], "events": endpoint["events"], "active": True}
    ]

    rotated = (await execute(ROTATE, admin, {"id": endpoint["id"]}))["rotateWebhookEndpointSecret"]
    assert rotated["errors"] == [] and rotated["endpoint"]["id"] == endpoint["id"]
    assert SECRET_SHAPE.match(rotated["secret"]) and rotated["secret"] != created["secret"]
    row = await endpoint_row(session, uuid.UUID(endpoint["id"]))
    assert row is not None
    assert (row.secret, row.previous_secret) == (rotated["secret"], created["secret"])

    deleted = (await execute(DELETE, admin, {"id": endpoint["id"]}))["deleteWebhookEndpoint"]
    assert deleted == {"deletedId": endpoint["id"], "errors": []}
    assert (await execute(LIST, admin))["webhookEndpoints"] == []
    assert await endpoint_row(session, uuid.UUID(endpoint["id"])) is None


async def test_graphql_refusals(
    execute: Execute, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, secret = await create(
        session, settings, await actor_for(session, world.contoso.partner_admin)
    )
    good = {"input": {"url": "https://hooks.example.com/b", "events": ["lead.won"]}}

    forbidden = (await execute(CREATE, world.contoso.referrals_admin, good))[
        "createWebhookEndpoint"
    ]
    assert forbidden["endpoint"] is None and forbidden["secret"] is None
    assert [(e["code"], e["field"]) for e in forbidden["errors"]] == [("FORBIDDEN", None)]
    anonymous = (await execute(CREATE, None, good))["createWebhookEndpoint"]
    assert [e["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]

    invalid = (
        await execute(
            CREATE,
            world.contoso.partner_admin,
            {"input": {"url": "mailto:x@example.com", "events": ["lead.nope"]}},
        )
    )["createWebhookEndpoint"]
    assert [(e["code"], e["field"]) for e in invalid["errors"]] == [
        ("VALIDATION", ["input", "url"]),
        ("VALIDATION", ["input", "events", "0"]),
    ]
    none = (
        await execute(
            CREATE,
            world.contoso.partner_admin,
            {"input": {"url": "https://hooks.example.com/c", "events": []}},
        )
    )["createWebhookEndpoint"]
    assert [(e["code"], e["field"]) for e in none["errors"]] == [
        ("VALIDATION", ["input", "events"])
    ]

    for document, name in (
        (DELETE, "deleteWebhookEndpoint"),
        (ROTATE, "rotateWebhookEndpointSecret"),
    ):
        other = (await execute(document, world.fabrikam.partner_admin, {"id": str(endpoint.id)}))[
            name
        ]
        assert [(e["code"], e["field"]) for e in other["errors"]] == [
            ("NOT_FOUND", ["input", "id"])
        ]
        malformed = (await execute(document, world.contoso.partner_admin, {"id": "nope"}))[name]
        assert [(e["code"], e["field"]) for e in malformed["errors"]] == [
            ("VALIDATION", ["input", "id"])
        ]
        referrals = (
            await execute(document, world.contoso.referrals_admin, {"id": str(endpoint.id)})
        )[name]
        assert [e["code"] for e in referrals["errors"]] == ["FORBIDDEN"]

    # Non-admins see no endpoints; nothing above changed anything.
    for user_id in (world.contoso.referrals_admin, world.contoso.member, None):
        assert (await execute(LIST, user_id))["webhookEndpoints"] == []
    assert len((await execute(LIST, world.contoso.partner_admin))["webhookEndpoints"]) == 1
    row = await endpoint_row(session, endpoint.id)
    assert row is not None and row.secret == secret


async def _attempt(
    session: AsyncSession, delivery: Delivery, result: PostResult, at: datetime
) -> None:
    """What the delivery worker records for one try."""
    session.add(
        DeliveryAttempt(
            delivery_id=delivery.id,
            at=at,
            succeeded=result.ok,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
    )
    delivery.attempts += 1
    delivery.last_error = result.error
    if result.ok:
        delivery.status, delivery.sent_at = DeliveryStatus.SENT, at
    await session.flush()


async def test_graphql_deliveries_show_every_attempt(
    execute: Execute,
    session: AsyncSession,
    settings: Settings,
    world: World,
    admin: Actor,
    receiver: WebhookReceiver,
    http: httpx.AsyncClient,
) -> None:
    endpoint, secret = await create(session, settings, admin, url=receiver.url())
    other, _ = await create(session, settings, admin, url="https://hooks.example.com/other")
    receiver.secret = secret
    receiver.statuses = [500, 200]
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def event(topic: Topic, minutes: int) -> OutboxMessage:
        return OutboxMessage(
            topic=topic,
            lead_id=lead.id,
            organisation_id=world.contoso.organisation_id,
            payload={"eventId": str(uuid.uuid4())},
            created_at=t0 + timedelta(minutes=minutes),
        )

    received, accepted = event(Topic.LEAD_RECEIVED, 0), event(Topic.LEAD_ACCEPTED, 10)
    session.add_all([received, accepted])
    await session.flush()

    def delivery(outbox: OutboxMessage, recipient: str, minutes: int) -> Delivery:
        return Delivery(
            outbox_id=outbox.id,
            channel=Channel.WEBHOOK,
            recipient=recipient,
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=t0 + timedelta(minutes=minutes),
            created_at=t0 + timedelta(minutes=minutes),
        )

    first = delivery(received, str(endpoint.id), 0)
    second = delivery(accepted, str(endpoint.id), 10)
    elsewhere = delivery(received, str(other.id), 0)
    email = Delivery(
        outbox_id=received.id,
        channel=Channel.EMAIL,
        recipient=str(endpoint.id),
        status=DeliveryStatus.SENT,
        attempts=1,
        created_at=t0,
    )
    session.add_all([first, second, elsewhere, email])
    await session.flush()

    # The first delivery: a real failure, then a real success, recorded as the worker does.
    for n in range(2):
        result = await post_event(
            http,
            endpoint,
            message_id=received.payload["eventId"],
            event_type=received.topic,
            payload=received.payload,
            now=datetime.now(UTC),
            timeout=5,
            allow_private=True,
        )
        await _attempt(session, first, result, t0 + timedelta(minutes=n))
    assert [r.verified_by for r in receiver.requests] == [["current"], ["current"]]

    data = (await execute(DELIVERIES, world.contoso.partner_admin, {"id": str(endpoint.id)}))[
        "webhookDeliveries"
    ]

    assert [d["id"] for d in data] == [str(second.id), str(first.id)]  # newest first
    pending, sent = data
    assert pending == {
        "id": str(second.id),
        "eventType": "lead.accepted",
        "leadId": str(lead.id),
        "status": "PENDING",
        "attemptCount": 0,
        "lastError": None,
        "nextAttemptAt": (t0 + timedelta(minutes=10)).isoformat(),
        "sentAt": None,
        "createdAt": (t0 + timedelta(minutes=10)).isoformat(),
        "attempts": [],
    }
    assert sent["eventType"] == "lead.received" and sent["status"] == "SENT"
    assert sent["attemptCount"] == 2 and sent["lastError"] is None
    assert sent["sentAt"] == (t0 + timedelta(minutes=1)).isoformat()
    assert sent["nextAttemptAt"] is None
    assert [(a["succeeded"], a["statusCode"], a["error"]) for a in sent["attempts"]] == [
        (False, 500, "HTTP 500: receiver says 500"),
        (True, 200, None),
    ]
    assert [a["at"] for a in sent["attempts"]] == [
        t0.isoformat(),
        (t0 + timedelta(minutes=1)).isoformat(),
    ]
    assert all(isinstance(a["durationMs"], int) for a in sent["attempts"])

    newest = (
        await execute(DELIVERIES, world.contoso.partner_admin, {"id": str(endpoint.id), "first": 1})
    )["webhookDeliveries"]
    assert [d["id"] for d in newest] == [str(second.id)]
    only_other = (await execute(DELIVERIES, world.contoso.partner_admin, {"id": str(other.id)}))[
        "webhookDeliveries"
    ]
    assert [d["id"] for d in only_other] == [str(elsewhere.id)]


async def test_graphql_deliveries_refusals(
    execute: Execute, session: AsyncSession, settings: Settings, world: World
) -> None:
    endpoint, _ = await create(
        session, settings, await actor_for(session, world.contoso.partner_admin)
    )
    eid = str(endpoint.id)

    for user_id in (world.contoso.referrals_admin, world.contoso.member, None):
        assert (await execute(DELIVERIES, user_id, {"id": eid}))["webhookDeliveries"] == []

    cases = [
        (world.fabrikam.partner_admin, {"id": eid}, "NOT_FOUND", ["endpointId"]),
        (world.contoso.partner_admin, {"id": "nope"}, "VALIDATION", ["endpointId"]),
        (world.contoso.partner_admin, {"id": eid, "first": 0}, "VALIDATION", ["first"]),
        (world.contoso.partner_admin, {"id": eid, "first": 101}, "VALIDATION", ["first"]),
    ]
    for user_id, variables, code, field_path in cases:
        errors = (await execute(DELIVERIES, user_id, variables, errors=True))["errors"]
        assert [(e["code"], e.get("field")) for e in errors] == [(code, field_path)], variables
