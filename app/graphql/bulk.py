"""`bulkLeadActions`: many lead actions in one call, all or nothing, with a dry run. Each action
takes the same input as its single mutation and runs through the same service."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import strawberry
from strawberry.types import Info

from app.graphql.context import Context
from app.graphql.errors import INPUT, ArgumentPaths, UserError, user_errors
from app.graphql.types.enums import LeadOutcome, LeadStage
from app.graphql.types.history import FieldChange
from app.graphql.types.inputs import (
    AcceptLeadInput,
    DeclineLeadInput,
    MarkLeadLostInput,
    MarkLeadWonInput,
    UpdateLeadInput,
)
from app.services import bulk
from app.services.errors import Refused

# The action's GraphQL name -> its input's attribute on LeadActionInput.
KINDS = {
    "accept": "accept",
    "decline": "decline",
    "update": "update",
    "markWon": "mark_won",
    "markLost": "mark_lost",
}


@strawberry.input(
    one_of=True,
    description="Exactly one action, with the same fields as its single mutation.",
)
class LeadActionInput:
    accept: AcceptLeadInput | None = strawberry.UNSET
    decline: DeclineLeadInput | None = strawberry.UNSET
    update: UpdateLeadInput | None = strawberry.UNSET
    mark_won: MarkLeadWonInput | None = strawberry.UNSET
    mark_lost: MarkLeadLostInput | None = strawberry.UNSET

    def chosen(self) -> tuple[str, Any]:
        """(the action's GraphQL name, its input); @oneOf guarantees exactly one is set."""
        for name, attribute in KINDS.items():
            value = getattr(self, attribute)
            if value is not strawberry.UNSET and value is not None:
                return name, value
        raise AssertionError("@oneOf lets exactly one action through")


@strawberry.input
class BulkLeadActionsInput:
    dry_run: bool = strawberry.field(
        description="Run every action and report, then roll everything back: nothing is "
        "written, published or queued."
    )
    actions: list[LeadActionInput] = strawberry.field(
        description=f"At most {bulk.MAX_BULK_ACTIONS}, applied in order."
    )


@strawberry.type(description="One action's result: done (or would be), or why not.")
class LeadActionResult:
    index: int = strawberry.field(description="The action's position in `actions`, from 0.")
    lead_id: strawberry.ID
    ok: bool
    stage: LeadStage | None = strawberry.field(description="The lead's stage after the action.")
    outcome: LeadOutcome | None
    version: int | None = strawberry.field(description="The lead's version after the action.")
    changes: list[FieldChange] = strawberry.field(description="What the action changes.")
    errors: list[UserError]


@strawberry.type(description="`applied` only when every action succeeded and it was no dry run.")
class BulkLeadActionsPayload:
    applied: bool
    results: list[LeadActionResult]
    errors: list[UserError] = strawberry.field(
        description="Why the call as a whole was refused (who asked, how many actions)."
    )


def field_changes(changes: Mapping[str, Any]) -> list[FieldChange]:
    """As a history entry lists them: {field: {from, to}}, or a list (team members)."""
    listed = []
    for name, change in changes.items():
        if isinstance(change, dict) and set(change) == {"from", "to"}:
            listed.append(FieldChange(field=name, from_value=change["from"], to_value=change["to"]))
        else:
            listed.append(FieldChange(field=name, from_value=None, to_value=change))
    return listed


def _row_paths(index: int, kind: str) -> ArgumentPaths:
    under = ("input", "actions", str(index), kind)
    return ArgumentPaths(under=under, renames={"lead_id": (*under, "id")})


def _result(row: bulk.ActionResult, kind: str) -> LeadActionResult:
    return LeadActionResult(
        index=row.index,
        lead_id=strawberry.ID(row.lead_id),
        ok=row.ok,
        stage=LeadStage(row.stage) if row.stage else None,
        outcome=LeadOutcome(row.outcome) if row.outcome else None,
        version=row.version,
        changes=field_changes(row.changes),
        errors=user_errors(row.refused, _row_paths(row.index, kind)) if row.refused else [],
    )


@strawberry.type
class BulkMutation:
    @strawberry.mutation(
        description=f"Up to {bulk.MAX_BULK_ACTIONS} lead actions in one transaction: all are "
        "applied, or none (then each result says why). A dry run reports and writes nothing."
    )
    async def bulk_lead_actions(
        self, info: Info[Context, None], input: BulkLeadActionsInput
    ) -> BulkLeadActionsPayload:
        context = info.context
        chosen = [action.chosen() for action in input.actions]
        actions = [
            bulk.BulkAction(str(value.id), value.to_service(), value.expected_version)
            for _, value in chosen
        ]
        result = await context.transact(
            lambda s: bulk.run_actions(
                s, context.actor, actions, dry_run=input.dry_run, now=context.now
            )
        )
        if isinstance(result, Refused):
            return BulkLeadActionsPayload(
                applied=False, results=[], errors=user_errors(result, INPUT)
            )
        return BulkLeadActionsPayload(
            applied=result.applied,
            results=[_result(row, chosen[row.index][0]) for row in result.results],
            errors=[],
        )
