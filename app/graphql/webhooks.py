"""Webhook endpoints over GraphQL (R13): partner admins register, rotate and delete endpoints,
and inspect every delivery and attempt. Merged into the schema's Query and Mutation."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from app.db import models
from app.domain.events import WEBHOOK_EVENTS, DeliveryStatus
from app.graphql.context import Context
from app.graphql.errors import ARGUMENTS, INPUT, ArgumentPaths, UserError, query_error, user_errors
from app.graphql.types.node import Node
from app.graphql.types.rows import from_row, from_rows
from app.services import webhooks
from app.services.errors import ErrorCode, Refused

# Only webhook deliveries are exposed, hence the GraphQL name.
strawberry.enum(
    DeliveryStatus, name="WebhookDeliveryStatus", description="Where a delivery stands."
)

# Updating, deleting, rotating and pinging name the endpoint `input.id`.
ENDPOINT_INPUT = ArgumentPaths(under=("input",), renames={"endpoint_id": ("input", "id")})
DELIVERY_INPUT = ArgumentPaths(under=("input",), renames={"delivery_id": ("input", "id")})


@strawberry.type(description="Where a partner's tooling receives signed lead events.")
class WebhookEndpoint(Node):
    id: strawberry.ID
    url: str
    events: list[str] = strawberry.field(description="Subscribed event types, e.g. lead.won.")
    active: bool = strawberry.field(description="False once disabled; nothing is sent then.")
    created_at: dt.datetime
    failing_since: dt.datetime | None = strawberry.field(
        description="Start of the current run of failed deliveries; null while healthy."
    )
    disabled_at: dt.datetime | None


@strawberry.type(description="One try of a delivery.")
class WebhookAttempt:
    at: dt.datetime
    succeeded: bool
    status_code: int | None = strawberry.field(description="HTTP status; null if none came.")
    error: str | None
    duration_ms: int | None


@strawberry.type(description="One event owed to one endpoint, with every attempt made.")
class WebhookDelivery(Node):
    id: strawberry.ID
    event_type: str
    lead_id: strawberry.ID | None
    status: DeliveryStatus
    attempt_count: int
    last_error: str | None
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When the next try is due; null unless PENDING."
    )
    sent_at: dt.datetime | None
    created_at: dt.datetime
    attempts: list[WebhookAttempt] = strawberry.field(description="Oldest first.")

    @classmethod
    def from_record(cls, record: webhooks.DeliveryRecord) -> WebhookDelivery:
        d = record.delivery
        return cls(
            id=strawberry.ID(str(d.id)),
            event_type=record.event_type,
            lead_id=strawberry.ID(str(record.lead_id)) if record.lead_id else None,
            status=DeliveryStatus(d.status),
            attempt_count=d.attempts,
            last_error=d.last_error,
            next_attempt_at=d.next_attempt_at if d.status == DeliveryStatus.PENDING else None,
            sent_at=d.sent_at,
            created_at=d.created_at,
            attempts=from_rows(WebhookAttempt, record.attempts),
        )


@strawberry.type(description="The endpoint, or why nothing changed.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None
    secret: str | None = strawberry.field(
        description="The signing secret (whsec_...); returned only here, store it now."
    )
    errors: list[UserError]


@strawberry.type(description="The deleted endpoint's id, or why nothing changed.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID | None
    errors: list[UserError]


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="http(s) URL; https in production.")
    events: list[str] = strawberry.field(
        description="At least one of: " + ", ".join(WEBHOOK_EVENTS) + "."
    )


@strawberry.input(description="What to change; an omitted or null field stays as it is.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: str | None = strawberry.field(
        default=None, description="http(s) URL, under the rules of registration."
    )
    events: list[str] | None = strawberry.field(
        default=None, description="The new subscription (replaces the old one)."
    )
    active: bool | None = strawberry.field(
        default=None,
        description="false: send nothing; true: send again (clears failingSince, disabledAt).",
    )


@strawberry.input
class PingWebhookEndpointInput:
    id: strawberry.ID


@strawberry.input
class RedeliverWebhookDeliveryInput:
    id: strawberry.ID = strawberry.field(description="The delivery's id.")


@strawberry.type(description="The delivery, or why nothing was sent.")
class WebhookDeliveryPayload:
    delivery: WebhookDelivery | None
    errors: list[UserError]


@strawberry.input
class DeleteWebhookEndpointInput:
    id: strawberry.ID


@strawberry.input
class RotateWebhookEndpointSecretInput:
    id: strawberry.ID


def _endpoint_payload(
    result: tuple[models.WebhookEndpoint, str] | Refused, paths: ArgumentPaths
) -> WebhookEndpointPayload:
    if isinstance(result, Refused):
        return WebhookEndpointPayload(endpoint=None, secret=None, errors=user_errors(result, paths))
    row, secret = result
    return WebhookEndpointPayload(endpoint=from_row(WebhookEndpoint, row), secret=secret, errors=[])


# Refusals a list query answers with an empty list rather than an error.
_EMPTY_FOR = frozenset({ErrorCode.UNAUTHENTICATED, ErrorCode.FORBIDDEN})


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="The organisation's webhook endpoints; empty unless admin.")
    async def webhook_endpoints(self, info: Info[Context, None]) -> list[WebhookEndpoint]:
        async with info.context.db() as session:
            rows = await webhooks.list_endpoints(session, info.context.actor)
        if isinstance(rows, Refused):
            return []
        return [from_row(WebhookEndpoint, row) for row in rows]

    @strawberry.field(
        description="An endpoint's deliveries (first <= 100), newest first, only those in "
        "`status` if given; `after`: the last delivery id of the previous page. Empty unless "
        "admin."
    )
    async def webhook_deliveries(
        self,
        info: Info[Context, None],
        endpoint_id: strawberry.ID,
        first: int = 20,
        status: DeliveryStatus | None = None,
        after: str | None = None,
    ) -> list[WebhookDelivery]:
        async with info.context.db() as session:
            records = await webhooks.list_deliveries(
                session, info.context.actor, endpoint_id, first=first, status=status, after=after
            )
        if isinstance(records, Refused):
            if records.errors[0].code in _EMPTY_FOR:
                return []
            raise query_error(records, ARGUMENTS)
        return [WebhookDelivery.from_record(r) for r in records]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(description="Register an endpoint; the payload carries its secret.")
    async def create_webhook_endpoint(
        self, info: Info[Context, None], input: CreateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        ctx = info.context
        return _endpoint_payload(
            await ctx.transact(
                lambda s: webhooks.create_endpoint(
                    s,
                    ctx.actor,
                    url=input.url,
                    events=input.events,
                    settings=ctx.settings,
                    now=ctx.now,
                ),
            ),
            INPUT,
        )

    @strawberry.mutation(description="Delete an endpoint; nothing more is sent to it.")
    async def delete_webhook_endpoint(
        self, info: Info[Context, None], input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        ctx = info.context
        result = await ctx.transact(lambda s: webhooks.delete_endpoint(s, ctx.actor, input.id))
        if isinstance(result, Refused):
            return DeleteWebhookEndpointPayload(
                deleted_id=None, errors=user_errors(result, ENDPOINT_INPUT)
            )
        return DeleteWebhookEndpointPayload(deleted_id=strawberry.ID(str(result.id)), errors=[])

    @strawberry.mutation(
        description="Issue a new signing secret; the old one also signs deliveries for 24 h."
    )
    async def rotate_webhook_endpoint_secret(
        self, info: Info[Context, None], input: RotateWebhookEndpointSecretInput
    ) -> WebhookEndpointPayload:
        ctx = info.context
        return _endpoint_payload(
            await ctx.transact(
                lambda s: webhooks.rotate_secret(s, ctx.actor, input.id, now=ctx.now)
            ),
            ENDPOINT_INPUT,
        )

    @strawberry.mutation(
        description="Change an endpoint's URL, events or whether it is enabled; enabling clears "
        "its failing and disabled state."
    )
    async def update_webhook_endpoint(
        self, info: Info[Context, None], input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: webhooks.update_endpoint(
                s,
                ctx.actor,
                input.id,
                settings=ctx.settings,
                now=ctx.now,
                url=input.url,
                events=input.events,
                active=input.active,
            )
        )
        if isinstance(result, Refused):
            return _endpoint_payload(result, ENDPOINT_INPUT)
        return WebhookEndpointPayload(
            endpoint=from_row(WebhookEndpoint, result), secret=None, errors=[]
        )

    @strawberry.mutation(
        description="Send the endpoint a signed `ping` event through the normal delivery path; "
        "answers its delivery (see webhookDeliveries for the attempt)."
    )
    async def ping_webhook_endpoint(
        self, info: Info[Context, None], input: PingWebhookEndpointInput
    ) -> WebhookDeliveryPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: webhooks.ping_endpoint(s, ctx.actor, input.id, now=ctx.now)
        )
        return _delivery_payload(result, ENDPOINT_INPUT)

    @strawberry.mutation(
        description="Send a dead or failed delivery again, now; idempotent while it is pending. "
        "A delivered one is refused (INVALID_TRANSITION)."
    )
    async def redeliver_webhook_delivery(
        self, info: Info[Context, None], input: RedeliverWebhookDeliveryInput
    ) -> WebhookDeliveryPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: webhooks.redeliver(s, ctx.actor, input.id, now=ctx.now)
        )
        return _delivery_payload(result, DELIVERY_INPUT)


def _delivery_payload(
    result: webhooks.DeliveryRecord | Refused, paths: ArgumentPaths
) -> WebhookDeliveryPayload:
    if isinstance(result, Refused):
        return WebhookDeliveryPayload(delivery=None, errors=user_errors(result, paths))
    return WebhookDeliveryPayload(delivery=WebhookDelivery.from_record(result), errors=[])
