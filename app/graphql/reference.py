"""`enumValues(enum)`: an enum's values with their descriptions, for the selects of a client's
forms (decline and lost reasons, company sizes, activity kinds, …). Introspection (`__type`) is
off in production (app/graphql/posture.py); the enums are part of the published schema anyway, so
this answers what a form needs and nothing else (no types, fields or arguments)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info
from strawberry.types.enum import StrawberryEnumDefinition


@strawberry.type(description="One value of an enum, as a form offers it.")
class EnumValue:
    name: str = strawberry.field(description="What the API takes and answers, e.g. NO_CAPACITY.")
    description: str | None = strawberry.field(description="A label for people; may be null.")


@strawberry.type
class ReferenceQuery:
    @strawberry.field(
        description="The values of the enum named `enum` (e.g. DeclineReason), in schema order, "
        "without deprecated ones; null when the schema has no enum of that name. Works when "
        "introspection is off."
    )
    def enum_values(self, info: Info, enum: str) -> list[EnumValue] | None:
        found = info.schema.get_type_by_name(enum)
        if not isinstance(found, StrawberryEnumDefinition):
            return None
        return [
            EnumValue(name=value.name, description=value.description)
            for value in found.values
            if value.deprecation_reason is None
        ]
