"""Expected failures as schema types with stable codes.

Services name what was wrong in their own terms: a snake_case path over the service call's
arguments (`("data", "estimated_value", "currency")`). This module alone turns that into the
GraphQL path the client sent (`["input", "estimatedValue", "currency"]`), so renaming a GraphQL
field or argument touches only `app/graphql/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.utils.str_converters import to_camel_case

from app.observability import metrics
from app.services.errors import ErrorCode, Refused

strawberry.enum(
    ErrorCode,
    description="Stable codes for expected failures; clients branch on these, not on messages.",
)


@dataclass(frozen=True, slots=True)
class ArgumentPaths:
    """Where a service's arguments sit in a GraphQL operation: `renames` maps a service
    argument to the GraphQL path that carries it (e.g. `lead_id` -> `input.id`); any other
    path is camelCased and put under `under`."""

    under: tuple[str, ...] = ()
    renames: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def graphql_path(self, path: tuple[str, ...]) -> list[str]:
        if not path:
            return list(self.under)
        head, *rest = path
        prefix = self.renames.get(head)
        if prefix is None:
            prefix = (*self.under, to_camel_case(head))
        return [*prefix, *(to_camel_case(part) for part in rest)]


# Top-level arguments, camelCased as they are: `first`, `after`, `filter.received_from`.
ARGUMENTS = ArgumentPaths()
# A mutation's single `input` argument holds every service argument.
INPUT = ArgumentPaths(under=("input",))
# Lead actions: the lead is `input.id`; every other argument sits in `input` too.
LEAD_INPUT = ArgumentPaths(under=("input",), renames={"lead_id": ("input", "id")})


@strawberry.type(description="Why a mutation did not happen. Nothing was written.")
class UserError:
    code: ErrorCode
    field: list[str] | None = strawberry.field(
        description='Path to the offending input, e.g. ["input", "estimatedValue", "currency"].'
    )
    message: str


def user_errors(refused: Refused, paths: ArgumentPaths = ARGUMENTS) -> list[UserError]:
    metrics.count_errors((e.code.value for e in refused.errors), "payload")
    return [
        UserError(
            code=e.code,
            field=paths.graphql_path(e.field) if e.field is not None else None,
            message=e.message,
        )
        for e in refused.errors
    ]


def query_error(refused: Refused, paths: ArgumentPaths = ARGUMENTS) -> GraphQLError:
    """Queries have no payload type: their expected failures travel as GraphQL errors with the
    same code and field in `extensions`."""
    first = refused.errors[0]
    extensions: dict[str, Any] = {"code": first.code.value}
    if first.field is not None:
        extensions["field"] = paths.graphql_path(first.field)
    return GraphQLError(first.message, extensions=extensions)
