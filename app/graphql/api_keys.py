"""API keys over GraphQL (issue 10): partner admins create, list and revoke their
organisation's keys. Merged into the schema's Query and Mutation."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from app.db import models
from app.graphql.context import Context
from app.graphql.errors import INPUT, ArgumentPaths, UserError, user_errors
from app.graphql.types.enums import Role
from app.graphql.types.node import Node
from app.graphql.types.rows import from_row
from app.services import api_keys
from app.services.errors import Refused

# Revoking names the key `input.id`.
KEY_INPUT = ArgumentPaths(under=("input",), renames={"key_id": ("input", "id")})


@strawberry.type(description="A machine credential of the organisation; its secret is not kept.")
class ApiKey(Node):
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(
        description="The secret's first characters (plk_...), to tell keys apart."
    )
    roles: list[Role]
    created_at: dt.datetime
    last_used_at: dt.datetime | None = strawberry.field(
        description="Recorded at most once a minute; null if never used."
    )
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, row: models.ApiKey) -> ApiKey:
        return from_row(cls, row, roles=[Role(r) for r in row.roles if r in Role.__members__])


@strawberry.input
class CreateApiKeyInput:
    name: str = strawberry.field(description="What the key is for, e.g. 'CRM sync'.")
    roles: list[str] = strawberry.field(
        description="PARTNER_ADMIN and/or REFERRALS_ADMIN, each one you hold yourself."
    )
    expires_at: dt.datetime | None = strawberry.field(
        default=None, description="Refused from then on; null: until revoked."
    )


@strawberry.input
class RevokeApiKeyInput:
    id: strawberry.ID


@strawberry.type(description="The new key and its secret, or why nothing was created.")
class CreateApiKeyPayload:
    api_key: ApiKey | None
    secret: str | None = strawberry.field(
        description="Send as 'Authorization: Bearer <secret>'. Returned only here: store it now."
    )
    errors: list[UserError]


@strawberry.type(description="The revoked key, or why nothing changed.")
class RevokeApiKeyPayload:
    api_key: ApiKey | None
    errors: list[UserError]


@strawberry.type
class ApiKeyQuery:
    @strawberry.field(description="The organisation's API keys, newest first; empty unless admin.")
    async def api_keys(self, info: Info[Context, None]) -> list[ApiKey]:
        async with info.context.db() as session:
            rows = await api_keys.list_keys(session, info.context.actor)
        if isinstance(rows, Refused):
            return []
        return [ApiKey.of(row) for row in rows]


@strawberry.type
class ApiKeyMutation:
    @strawberry.mutation(description="Create an API key; the payload carries its secret, once.")
    async def create_api_key(
        self, info: Info[Context, None], input: CreateApiKeyInput
    ) -> CreateApiKeyPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: api_keys.create_key(
                s,
                ctx.actor,
                name=input.name,
                roles=input.roles,
                expires_at=input.expires_at,
                settings=ctx.settings,
                now=ctx.now,
            )
        )
        if isinstance(result, Refused):
            return CreateApiKeyPayload(api_key=None, secret=None, errors=user_errors(result, INPUT))
        row, secret = result
        return CreateApiKeyPayload(api_key=ApiKey.of(row), secret=secret, errors=[])

    @strawberry.mutation(description="Revoke an API key: its next request is refused.")
    async def revoke_api_key(
        self, info: Info[Context, None], input: RevokeApiKeyInput
    ) -> RevokeApiKeyPayload:
        ctx = info.context
        result = await ctx.transact(
            lambda s: api_keys.revoke_key(s, ctx.actor, input.id, now=ctx.now)
        )
        if isinstance(result, Refused):
            return RevokeApiKeyPayload(api_key=None, errors=user_errors(result, KEY_INPUT))
        return RevokeApiKeyPayload(api_key=ApiKey.of(result), errors=[])
