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
from app.graphql.owners import AssignLeadInput
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
from app.services import leads, owners
from app.services.errors import ErrorCode, Refused


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

    def to_service(self) -> leads.LeadCommand: ...


Action = Callable[[AsyncSession], Awaitable[models.Lead | Refused]]


def lifecycle_action(context: Context, input: Any) -> Action:
    """The input's lifecycle command on `input.id` by the viewer, guarded by its
    `expectedVersion`."""
    command = input.to_service()
    return lambda s: leads.act(
        s,
        context.actor,
        input.id,
        command,
        expected_version=input.expected_version,
        now=context.now,
    )


def favorite_action(context: Context, input: Any) -> Action:
    return lambda s: leads.set_favorite(s, context.actor, input.id, input.favorite)


def contact_action(context: Context, input: Any) -> Action:
    """`markCustomerContacted` (app/graphql/activities.py) by the viewer."""
    return lambda s: leads.mark_customer_contacted(
        s, context.actor, input.id, expected_version=input.expected_version, now=context.now
    )


async def _owner_missing(session: AsyncSession) -> Refused:
    return Refused.one(
        ErrorCode.VALIDATION, "is required: a user id, or null to unassign", "owner_id"
    )


def assign_action(context: Context, input: Any) -> Action:
    if input.owner_id is strawberry.UNSET:
        return _owner_missing
    return lambda s: owners.assign_lead(
        s,
        context.actor,
        input.id,
        input.owner_id,
        expected_version=input.expected_version,
        now=context.now,
    )


# Each lead mutation's service call from its `input`; the compiled path runs the same.
LEAD_ACTIONS: dict[str, Callable[[Context, Any], Action]] = {
    "acceptLead": lifecycle_action,
    "declineLead": lifecycle_action,
    "updateLead": lifecycle_action,
    "addLeadTeamMember": lifecycle_action,
    "removeLeadTeamMember": lifecycle_action,
    "markLeadWon": lifecycle_action,
    "markLeadLost": lifecycle_action,
    "setLeadFavorite": favorite_action,
    "markCustomerContacted": contact_action,
    "assignLead": assign_action,
}


async def _act(info: Info[Context, None], input: _LeadActionInput) -> LeadPayload:
    return await lead_change(info, lifecycle_action(info.context, input))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="RECEIVED -> ACCEPTED with the deal's name, value and date.")
    async def accept_lead(self, info: Info[Context, None], input: AcceptLeadInput) -> LeadPayload:
        return await _act(info, input)

    @strawberry.mutation(description="RECEIVED -> ARCHIVED (DECLINED); the customer is told.")
    async def decline_lead(self, info: Info[Context, None], input: DeclineLeadInput) -> LeadPayload:
        return await _act(info, input)

    @strawberry.mutation(description="Edit an accepted lead's deal fields.")
    async def update_lead(self, info: Info[Context, None], input: UpdateLeadInput) -> LeadPayload:
        return await _act(info, input)

    @strawberry.mutation(description="Add an employee working on an accepted lead.")
    async def add_lead_team_member(
        self, info: Info[Context, None], input: AddLeadTeamMemberInput
    ) -> LeadPayload:
        return await _act(info, input)

    @strawberry.mutation(description="Remove an employee from an accepted lead.")
    async def remove_lead_team_member(
        self, info: Info[Context, None], input: RemoveLeadTeamMemberInput
    ) -> LeadPayload:
        return await _act(info, input)

    @strawberry.mutation(description="ACCEPTED -> ARCHIVED (WON) with the final value and date.")
    async def mark_lead_won(
        self, info: Info[Context, None], input: MarkLeadWonInput
    ) -> LeadPayload:
        return await _act(info, input)

    @strawberry.mutation(description="ACCEPTED -> ARCHIVED (LOST) with a reason.")
    async def mark_lead_lost(
        self, info: Info[Context, None], input: MarkLeadLostInput
    ) -> LeadPayload:
        return await _act(info, input)

    @strawberry.mutation(
        description="Give a RECEIVED or ACCEPTED lead to one of the partner's lead managers, or "
        "to nobody (ownerId null); the stage never changes."
    )
    async def assign_lead(self, info: Info[Context, None], input: AssignLeadInput) -> LeadPayload:
        return await lead_change(info, assign_action(info.context, input))

    @strawberry.mutation(description="Heart or un-heart a lead for the viewer; idempotent.")
    async def set_lead_favorite(
        self, info: Info[Context, None], input: SetLeadFavoriteInput
    ) -> LeadPayload:
        return await lead_change(info, favorite_action(info.context, input))
