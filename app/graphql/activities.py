"""Working a lead (issue 11): the activity log (`addLeadNote`) and the response clock
(`markCustomerContacted`). Resolvers authorize, call one service, map the result."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from app.domain.activities import ActivityKind
from app.graphql.context import Context
from app.graphql.errors import LEAD_INPUT, UserError, user_errors
from app.graphql.mutations import LeadPayload, contact_action, lead_change
from app.graphql.types.activity import LeadActivity
from app.services import activities
from app.services.errors import Refused


@strawberry.input
class AddLeadNoteInput:
    id: strawberry.ID
    kind: ActivityKind = ActivityKind.NOTE
    body: str = strawberry.field(description="What was said or done; 1 to 4,000 characters.")
    occurred_at: dt.datetime | None = strawberry.field(
        default=None,
        description="When it happened (default now): not before the lead arrived, not later "
        "than now.",
    )


@strawberry.input
class MarkCustomerContactedInput:
    id: strawberry.ID
    expected_version: int | None = None


@strawberry.type(description="The activity logged, or why nothing was.")
class LeadActivityPayload:
    activity: LeadActivity | None
    errors: list[UserError]


@strawberry.type
class ActivityMutation:
    @strawberry.mutation(
        description="Log a note, call, e-mail or meeting on a RECEIVED or ACCEPTED lead "
        "(append-only; the deal's notes stay its summary)."
    )
    async def add_lead_note(
        self, info: Info[Context, None], input: AddLeadNoteInput
    ) -> LeadActivityPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: activities.add_activity(
                s, ctx.actor, input.id, input.kind, input.body, input.occurred_at, now=ctx.now
            )
        )
        if isinstance(result, Refused):
            return LeadActivityPayload(activity=None, errors=user_errors(result, LEAD_INPUT))
        return LeadActivityPayload(activity=LeadActivity.from_row(result), errors=[])

    @strawberry.mutation(
        description="Record that the customer was contacted (RECEIVED or ACCEPTED): the first "
        "time is kept, and the contact-me flame goes out."
    )
    async def mark_customer_contacted(
        self, info: Info[Context, None], input: MarkCustomerContactedInput
    ) -> LeadPayload:
        return await lead_change(info, contact_action(info.context, input))
