"""Relay's Node interface: every object a client would refetch by id alone (`node(id)`)."""

from __future__ import annotations

import strawberry


@strawberry.interface(
    description="An object with an id of its own: refetch it with `node(id)` (or many with "
    "`nodes(ids)`). Ids are the objects' own ids, unchanged."
)
class Node:
    id: strawberry.ID
