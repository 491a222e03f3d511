from __future__ import annotations

from strawberry.printer import print_schema

from app.graphql.schema import schema


def schema_sdl() -> str:
    return print_schema(schema).rstrip() + "\n"
