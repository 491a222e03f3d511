"""Live lead events and notifications for SPAs (graphql-transport-ws), as `app.notify.live`
hears them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.notifications import Notification
from app.graphql.types.enums import LeadOutcome, LeadStage
from app.notify import live
from app.services.auth import Actor


@strawberry.type
class LeadEventState:
    stage: LeadStage | None
    outcome: LeadOutcome | None
    version: int | None


@strawberry.type(description="A committed change to one of the organisation's leads.")
class LeadEvent:
    event_id: strawberry.ID = strawberry.field(description="Stable: deduplicate on it.")
    type: str = strawberry.field(description="lead.received, lead.accepted, ... lead.reminder")
    lead_id: strawberry.ID
    occurred_at: dt.datetime
    previous: LeadEventState | None
    current: LeadEventState | None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LeadEvent:
        def state(part: Any) -> LeadEventState | None:
            if not isinstance(part, dict):
                return None
            return LeadEventState(
                stage=part.get("stage"), outcome=part.get("outcome"), version=part.get("version")
            )

        return cls(
            event_id=strawberry.ID(str(payload.get("eventId"))),
            type=str(payload.get("type")),
            lead_id=strawberry.ID(str(payload.get("leadId"))),
            occurred_at=dt.datetime.fromisoformat(str(payload.get("occurredAt"))),
            previous=state(payload.get("previous")),
            current=state(payload.get("current")),
        )


def _subscriber(info: Info[Context, None]) -> tuple[Actor, str]:
    """The signed-in viewer and the Redis their live events come through."""
    actor = info.context.actor
    if actor is None:
        raise GraphQLError("sign in to subscribe", extensions={"code": "UNAUTHENTICATED"})
    redis_url = info.context.settings.redis_url
    if not redis_url:
        raise GraphQLError("live events are not configured", extensions={"code": "INTERNAL"})
    return actor, redis_url


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Lead events of the viewer's organisation, as they are committed. "
        'Authenticate with {"Authorization": "Bearer <token>"} in connection_init.'
    )
    async def lead_events(self, info: Info[Context, None]) -> AsyncGenerator[LeadEvent, None]:
        actor, redis_url = _subscriber(info)
        if not actor.manages_leads:
            raise GraphQLError(
                "only partner admins and referrals admins follow leads",
                extensions={"code": "FORBIDDEN"},
            )
        async with aclosing(live.listen(redis_url, actor.organisation_id)) as events:
            async for payload in events:
                yield LeadEvent.from_payload(payload)

    @strawberry.subscription(
        description="The viewer's new in-app notifications, as the worker delivers them: the "
        "same records `notifications` lists (deduplicate on `id`). A reconnecting client reads "
        "what it missed from `notifications(unreadOnly: true)`."
    )
    async def notification_added(
        self, info: Info[Context, None]
    ) -> AsyncGenerator[Notification, None]:
        actor, redis_url = _subscriber(info)
        if actor.api_key_id is not None:
            raise GraphQLError(
                "an API key is not a person and gets no notifications",
                extensions={"code": "FORBIDDEN"},
            )
        channel = live.notification_channel(actor.user_id)
        async with aclosing(live.listen_to(redis_url, channel)) as notes:
            async for note in notes:
                yield notification_from(note)


def notification_from(note: dict[str, Any]) -> Notification:
    lead_id = note.get("leadId")
    return Notification(
        id=strawberry.ID(str(note["id"])),
        kind=str(note["kind"]),
        title=str(note["title"]),
        body=str(note["body"]),
        lead_id=strawberry.ID(str(lead_id)) if lead_id else None,
        created_at=dt.datetime.fromisoformat(str(note["createdAt"])),
        read_at=None,
    )
