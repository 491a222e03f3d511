"""One mutation per lifecycle action: authorize, call one service in one transaction, map the
result to a payload. A refusal rolls everything back, so nothing is half-written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.db import models
from app.graphql.context import Context
from app.graphql.errors import LEAD_INPUT, ArgumentPaths, UserError, user_errors
from app.graphql.types.inputs import (
    AcceptLeadInput,
    AddLeadTeamMemberInput,
    DeclineLeadInput,
    MarkLeadLostInput,
    MarkLeadWonInput,
    RemoveLeadTeamMemberInput,
    SetLeadFavoriteInput,
    UpdateLeadInput,
)
from app.graphql.types.lead import Lead
from app.services import leads
from app.services.errors import Refused
from app.services.leads import TeamMemberInput


@strawberry.type(description="The lead after the mutation, or why nothing changed.")
class LeadPayload:
    lead: Lead | None
    errors: list[UserError]


async def lead_change(
    info: Info[Context, None],
    action: Callable[[AsyncSession], Awaitable[models.Lead | Refused]],
    paths: ArgumentPaths = LEAD_INPUT,
) -> LeadPayload:
    """Run `action` in one transaction and answer with the lead it returns, or its refusal."""
    result = await info.context.transact(action)
    if isinstance(result, Refused):
        return LeadPayload(lead=None, errors=user_errors(result, paths))
    return LeadPayload(lead=Lead.from_row(result, info.context), errors=[])


class _LeadActionInput(Protocol):
    id: strawberry.ID
    expected_version: int | None


async def _act(
    info: Info[Context, None],
    input: _LeadActionInput,
    action: Callable[..., Awaitable[models.Lead | Refused]],
    *args: Any,
    **kwargs: Any,
) -> LeadPayload:
    """A lifecycle action on `input.id` by the viewer, guarded by `input.expectedVersion`."""
    ctx = info.context
    return await lead_change(
        info,
        lambda s: action(
            s,
            ctx.actor,
            input.id,
            *args,
            expected_version=input.expected_version,
            now=ctx.now,
            **kwargs,
        ),
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="RECEIVED -> ACCEPTED with the deal's name, value and date.")
    async def accept_lead(self, info: Info[Context, None], input: AcceptLeadInput) -> LeadPayload:
        return await _act(info, input, leads.accept_lead, input.to_service())

    @strawberry.mutation(description="RECEIVED -> ARCHIVED (DECLINED); the customer is told.")
    async def decline_lead(self, info: Info[Context, None], input: DeclineLeadInput) -> LeadPayload:
        return await _act(info, input, leads.decline_lead, input.reason, input.notes)

    @strawberry.mutation(description="Edit an accepted lead's deal fields.")
    async def update_lead(self, info: Info[Context, None], input: UpdateLeadInput) -> LeadPayload:
        return await _act(info, input, leads.update_lead, input.provided_fields())

    @strawberry.mutation(description="Add an employee working on an accepted lead.")
    async def add_lead_team_member(
        self, info: Info[Context, None], input: AddLeadTeamMemberInput
    ) -> LeadPayload:
        member = TeamMemberInput(name=input.name, email=input.email, phone=input.phone)
        return await _act(info, input, leads.add_team_member, member)

    @strawberry.mutation(description="Remove an employee from an accepted lead.")
    async def remove_lead_team_member(
        self, info: Info[Context, None], input: RemoveLeadTeamMemberInput
    ) -> LeadPayload:
        return await _act(info, input, leads.remove_team_member, input.member_id)

    @strawberry.mutation(description="ACCEPTED -> ARCHIVED (WON) with the final value and date.")
    async def mark_lead_won(
        self, info: Info[Context, None], input: MarkLeadWonInput
    ) -> LeadPayload:
        final_value = input.final_value.to_service()
        return await _act(info, input, leads.mark_won, final_value, input.closing_date)

    @strawberry.mutation(description="ACCEPTED -> ARCHIVED (LOST) with a reason.")
    async def mark_lead_lost(
        self, info: Info[Context, None], input: MarkLeadLostInput
    ) -> LeadPayload:
        return await _act(
            info,
            input,
            leads.mark_lost,
            input.reason,
            input.notes,
            final_value=input.final_value.to_service() if input.final_value else None,
            closing_date=input.closing_date,
        )

    @strawberry.mutation(description="Heart or un-heart a lead for the viewer; idempotent.")
    async def set_lead_favorite(
        self, info: Info[Context, None], input: SetLeadFavoriteInput
    ) -> LeadPayload:
        ctx = info.context
        return await lead_change(
            info, lambda s: leads.set_favorite(s, ctx.actor, input.id, input.favorite)
        )
