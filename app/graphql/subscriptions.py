"""Live lead events for SPAs (graphql-transport-ws), as `app.notify.live` hears them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.types.enums import LeadOutcome, LeadStage
from app.notify import live


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


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Lead events of the viewer's organisation, as they are committed. "
        'Authenticate with {"Authorization": "Bearer <token>"} in connection_init.'
    )
    async def lead_events(self, info: Info[Context, None]) -> AsyncGenerator[LeadEvent, None]:
        actor = info.context.actor
        if actor is None:
            raise GraphQLError("sign in to subscribe", extensions={"code": "UNAUTHENTICATED"})
        if not actor.manages_leads:
            raise GraphQLError(
                "only partner admins and referrals admins follow leads",
                extensions={"code": "FORBIDDEN"},
            )
        redis_url = info.context.settings.redis_url
        if not redis_url:
            raise GraphQLError("live events are not configured", extensions={"code": "INTERNAL"})
        async with aclosing(live.listen(redis_url, actor.organisation_id)) as events:
            async for payload in events:
                yield LeadEvent.from_payload(payload)
