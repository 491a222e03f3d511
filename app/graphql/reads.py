"""How the compiled read path reads a GraphQL type's fields from a fetched record. Each type's
table of reads is declared beside its strawberry type (`LEAD_READS` beside `Lead`, ...), and
computed fields call the same domain functions the strawberry resolvers call.

A record is a tuple whose positions (`slots`) the compiler assigns from the names the selection
needs; a read names what it needs, and says how to make the field's value from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.config import Settings
    from app.services.auth import Actor


@dataclass(frozen=True, slots=True)
class Run:
    """What a read may depend on besides the record: who asks, and when."""

    actor: Actor | None
    now: datetime
    settings: Settings


@dataclass(frozen=True, slots=True)
class Column:
    """The value stored under `name`."""

    name: str


@dataclass(frozen=True, slots=True)
class Computed:
    """`fn(run, *values of names)`: a domain function of what was fetched."""

    names: tuple[str, ...]
    fn: Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Nested:
    """An object read from the same record with `reads`; null when `present` says so."""

    reads: Mapping[str, Read]
    present: Computed | None = None


@dataclass(frozen=True, slots=True)
class Records:
    """A list (or, with `single`, one) of records of their own, made by `rows` from what was
    fetched, each read with `reads` over the positions `columns` names."""

    names: tuple[str, ...]
    rows: Callable[..., Any]
    columns: tuple[str, ...]
    reads: Mapping[str, Read]
    single: bool = False


Read = Column | Computed | Nested | Records


def columns(*names: str) -> dict[str, Read]:
    """Fields stored as they are, under the field's own (snake_case) name."""
    return {name: Column(name) for name in names}
