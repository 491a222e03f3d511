"""Expected failures as schema types with stable codes."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError

from app.services.errors import ErrorCode as ServiceErrorCode
from app.services.errors import Refused

ErrorCode = strawberry.enum(
    ServiceErrorCode,
    description="Stable codes for expected failures; clients branch on these, not on messages.",
)


@strawberry.type(description="Why a mutation did not happen. Nothing was written.")
class UserError:
    code: ErrorCode  # type: ignore[valid-type]
    field: list[str] | None = strawberry.field(
        description='Path to the offending input, e.g. ["input", "estimatedValue", "currency"].'
    )
    message: str


def user_errors(refused: Refused) -> list[UserError]:
    return [
        UserError(code=e.code, field=list(e.field) if e.field else None, message=e.message)
        for e in refused.errors
    ]


def query_error(refused: Refused) -> GraphQLError:
    """Queries have no payload type: their expected failures travel as GraphQL errors with the
    same code and field in `extensions`."""
    first = refused.errors[0]
    extensions: dict[str, Any] = {"code": first.code.value}
    if first.field:
        extensions["field"] = list(first.field)
    return GraphQLError(first.message, extensions=extensions)
