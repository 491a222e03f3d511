"""A customer's subject-access and erasure requests by e-mail (issue 11, section 4), for
platform admins: `customerDataExport` and `eraseCustomerData`. Merged into the schema's Query
and Mutation; answered by strawberry (the compiled path's planner does not know these fields)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.errors import INPUT, UserError, query_error, user_errors
from app.services import privacy
from app.services.errors import Refused


@strawberry.type(description="Every lead holding one customer's e-mail, at every partner.")
class CustomerDataExport:
    email: str
    organisation_count: int = strawberry.field(description="Partners holding such leads.")
    lead_count: int
    leads: strawberry.scalars.JSON = strawberry.field(
        description="A list: each lead as webhooks carry it (`customer`, `deal`, ids, stages "
        "and times, in the API's names), with its partner's `organisationId`."
    )


@strawberry.input(description="Whose data to erase: the e-mail the customer gave.")
class EraseCustomerDataInput:
    email: str


@strawberry.type(description="What an erasure redacted.")
class CustomerErasure:
    request_id: strawberry.ID = strawberry.field(description="The recorded privacy request.")
    lead_count: int = strawberry.field(description="Leads redacted by this request.")
    organisation_count: int = strawberry.field(description="Partners holding such leads.")


@strawberry.type
class EraseCustomerDataPayload:
    erasure: CustomerErasure | None
    errors: list[UserError]


@strawberry.type
class PrivacyQuery:
    @strawberry.field(
        description="PLATFORM_ADMIN: a subject-access export of every lead holding the e-mail, "
        "across partners (the request is recorded, the e-mail as a hash)."
    )
    async def customer_data_export(
        self, info: Info[Context, None], email: str
    ) -> CustomerDataExport:
        ctx = info.context
        result = await ctx.transact(lambda s: privacy.customer_data_export(s, ctx.actor, email))
        if isinstance(result, Refused):
            raise query_error(result)
        leads: Any = result.leads
        return CustomerDataExport(
            email=result.email,
            organisation_count=result.organisation_count,
            lead_count=len(result.leads),
            leads=leads,
        )


@strawberry.type
class PrivacyMutation:
    @strawberry.mutation(
        description="PLATFORM_ADMIN: redact one customer's personal data on every lead holding "
        "the e-mail, whatever its stage; recorded in each lead's history and as a privacy "
        "request. Asking again finds nothing left to erase."
    )
    async def erase_customer_data(
        self, info: Info[Context, None], input: EraseCustomerDataInput
    ) -> EraseCustomerDataPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: privacy.erase_customer_data(s, ctx.actor, input.email, now=ctx.now)
        )
        if isinstance(result, Refused):
            return EraseCustomerDataPayload(erasure=None, errors=user_errors(result, INPUT))
        return EraseCustomerDataPayload(
            erasure=CustomerErasure(
                request_id=strawberry.ID(str(result.request_id)),
                lead_count=result.lead_count,
                organisation_count=result.organisation_count,
            ),
            errors=[],
        )
