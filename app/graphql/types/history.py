"""A lead's history entries as the API shows them (R10)."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from app.db import models
from app.graphql.context import Context
from app.graphql.types.enums import ActorKind, LeadAction, LeadOutcome, LeadStage


@strawberry.type
class FieldChange:
    field: str
    from_value: strawberry.scalars.JSON | None = strawberry.field(name="from")
    to_value: strawberry.scalars.JSON | None = strawberry.field(name="to")


@strawberry.type(
    description="Who did something: a user, an API key, or the system (expiry, intake)."
)
class HistoryActor:
    kind: ActorKind
    name: str | None


@strawberry.type(description="One applied lifecycle action (R10).")
class LeadHistoryEntry:
    id: strawberry.ID
    action: LeadAction
    from_stage: LeadStage | None
    to_stage: LeadStage
    outcome: LeadOutcome | None
    at: dt.datetime
    changes: list[FieldChange] = strawberry.field(description="What the action changed.")
    actor_kind: strawberry.Private[ActorKind]
    actor_user_id: strawberry.Private[uuid.UUID | None]
    api_key_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: models.LeadHistory) -> LeadHistoryEntry:
        changes = []
        for name, change in (row.changes or {}).items():
            if isinstance(change, dict) and set(change) == {"from", "to"}:
                changes.append(
                    FieldChange(field=name, from_value=change["from"], to_value=change["to"])
                )
            else:
                changes.append(FieldChange(field=name, from_value=None, to_value=change))
        return cls(
            id=strawberry.ID(str(row.id)),
            action=LeadAction(row.action),
            from_stage=LeadStage(row.from_stage) if row.from_stage else None,
            to_stage=LeadStage(row.to_stage),
            outcome=LeadOutcome(row.outcome) if row.outcome else None,
            at=row.at,
            changes=changes,
            actor_kind=ActorKind(row.actor_kind),
            actor_user_id=row.actor_user_id,
            api_key_id=row.api_key_id,
        )

    @strawberry.field
    async def actor(self, info: Info[Context, None]) -> HistoryActor:
        if self.api_key_id is not None:
            name = await info.context.loaders.api_key_name_by_id.load(self.api_key_id)
            return HistoryActor(kind=self.actor_kind, name=name)
        if self.actor_user_id is None:
            return HistoryActor(kind=self.actor_kind, name=None)
        user = await info.context.loaders.user_by_id.load(self.actor_user_id)
        return HistoryActor(kind=self.actor_kind, name=user.name if user else None)
