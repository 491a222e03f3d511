"""One entry of a lead's activity log (issue 11), as the partner's lead managers see it."""

from __future__ import annotations

import datetime as dt
import uuid

import strawberry
from strawberry.types import Info

from app.db import models
from app.domain.activities import ActivityKind
from app.graphql.context import Context
from app.graphql.types.enums import ActorKind
from app.graphql.types.node import Node

strawberry.enum(ActivityKind, description="What was done: a note, a call, an e-mail, a meeting.")


@strawberry.type(description="Who logged an activity: a user, or an integration's API key.")
class ActivityAuthor:
    kind: ActorKind
    id: strawberry.ID | None = strawberry.field(
        description="The user's id (null for an API key, or a user since deleted)."
    )
    name: str | None


@strawberry.type(description="A note, call, e-mail or meeting logged on a lead; never changed.")
class LeadActivity(Node):
    id: strawberry.ID
    kind: ActivityKind
    body: str
    occurred_at: dt.datetime = strawberry.field(description="When it happened.")
    created_at: dt.datetime = strawberry.field(description="When it was logged.")
    author_user_id: strawberry.Private[uuid.UUID | None]
    author_api_key_id: strawberry.Private[uuid.UUID | None]

    @classmethod
    def from_row(cls, row: models.LeadActivity) -> LeadActivity:
        return cls(
            id=strawberry.ID(str(row.id)),
            kind=ActivityKind(row.kind),
            body=row.body,
            occurred_at=row.occurred_at,
            created_at=row.created_at,
            author_user_id=row.author_user_id,
            author_api_key_id=row.author_api_key_id,
        )

    @strawberry.field
    async def author(self, info: Info[Context, None]) -> ActivityAuthor:
        loaders = info.context.loaders
        if self.author_api_key_id is not None:
            name = await loaders.api_key_name_by_id.load(self.author_api_key_id)
            return ActivityAuthor(kind=ActorKind.API_KEY, id=None, name=name)
        if self.author_user_id is None:
            return ActivityAuthor(kind=ActorKind.USER, id=None, name=None)
        user = await loaders.user_by_id.load(self.author_user_id)
        return ActivityAuthor(
            kind=ActorKind.USER,
            id=strawberry.ID(str(self.author_user_id)),
            name=user.name if user else None,
        )
