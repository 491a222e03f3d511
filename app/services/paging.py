"""Keyset paging, shared by every list: one cursor codec, one page-size rule, one pager.

A cursor is base64url (unpadded) of a compact JSON list `[tag, value, id]`: `tag` names the list
and order it came from (a cursor from another order or search is refused), `value` is the sort
key of the last row seen and `id` breaks ties, so (value, id) is a total order and a page never
skips or repeats a row. Clients treat cursors as opaque.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.errors import ErrorCode, Refused

T = TypeVar("T")
Key = datetime | float

# What a timestamptz column stores without surprises.
MIN_TIME = datetime(1900, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def as_utc(value: datetime) -> datetime | None:
    """Naive times are read as UTC; None if the instant is outside what Postgres stores."""
    try:
        utc = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return utc if MIN_TIME <= utc <= MAX_TIME else None


def encode_cursor(tag: str, value: Key, row_id: uuid.UUID) -> str:
    part: str | float = value.isoformat() if isinstance(value, datetime) else value
    # orjson writes compact JSON, as json.dumps with separators=(",", ":") does, in a tenth of
    # the time: a page's cursors are a good part of shaping it.
    raw = orjson.dumps([tag, part, str(row_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str, tag: str, kind: type[datetime] | type[float], *, argument: str = "after"
) -> tuple[Key, uuid.UUID] | Refused:
    """(value, id) from a cursor of the list `tag`; a refusal naming `argument` otherwise."""
    bad = Refused.one(ErrorCode.VALIDATION, "is not a cursor from this list", argument)
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return bad
    if not (isinstance(decoded, list) and len(decoded) == 3 and isinstance(decoded[0], str)):
        return bad
    found_tag, raw_value, raw_id = decoded
    if found_tag != tag:
        return Refused.one(
            ErrorCode.VALIDATION, "the cursor belongs to another order or search", argument
        )
    if not isinstance(raw_id, str):
        return bad
    try:
        row_id = uuid.UUID(raw_id)
    except ValueError:
        return bad
    if kind is datetime:
        if not isinstance(raw_value, str):
            return bad
        try:
            parsed = datetime.fromisoformat(raw_value)
        except ValueError:
            return bad
        at = as_utc(parsed) if parsed.tzinfo is not None else None
        return (at, row_id) if at is not None else bad
    if isinstance(raw_value, bool) or not isinstance(raw_value, int | float):
        return bad
    if not math.isfinite(raw_value):
        return bad
    return float(raw_value), row_id


def page_size(
    first: int | None, *, default: int, maximum: int, argument: str = "first"
) -> int | Refused:
    size = default if first is None else first
    if not 0 <= size <= maximum:
        return Refused.one(ErrorCode.VALIDATION, f"must be between 0 and {maximum}", argument)
    return size


@dataclass(frozen=True, slots=True)
class Window:
    """A checked Relay page request: how many rows, between which keys, from which end.
    `backward`: the last `limit` rows (before `before`), as `last` asks; else the first."""

    limit: int
    after: tuple[Key, uuid.UUID] | None = None
    before: tuple[Key, uuid.UUID] | None = None
    backward: bool = False

    def trim(self, rows: Sequence[T]) -> list[T]:
        """The page from `limit + 1` rows fetched in the window's direction, in list order."""
        items = list(rows[: self.limit])
        if self.backward:
            items.reverse()
        return items

    def has_next(self, fetched: int) -> bool:
        # Backwards, the rows at and after `before` were there when the client paged past them.
        return self.before is not None if self.backward else fetched > self.limit

    def has_previous(self, fetched: int) -> bool:
        return fetched > self.limit if self.backward else self.after is not None


def page_window(
    tag: str,
    kind: type[datetime] | type[float],
    *,
    first: int | None,
    after: str | None,
    last: int | None = None,
    before: str | None = None,
    default: int,
    maximum: int,
) -> Window | Refused:
    """Relay's paging arguments, checked: `first` and `last` exclude each other and share one
    bound; `before` alone pages backwards from it, as `last` does; cursors must come from the
    list `tag`."""
    if first is not None and last is not None:
        return Refused.one(ErrorCode.VALIDATION, "give either first or last, not both", "last")
    backward = last is not None or (first is None and after is None and before is not None)
    limit = page_size(
        last if last is not None else first,
        default=default,
        maximum=maximum,
        argument="last" if last is not None else "first",
    )
    if isinstance(limit, Refused):
        return limit
    after_key = decode_cursor(after, tag, kind) if after is not None else None
    if isinstance(after_key, Refused):
        return after_key
    before_key = decode_cursor(before, tag, kind, argument="before") if before is not None else None
    if isinstance(before_key, Refused):
        return before_key
    return Window(limit, after_key, before_key, backward)


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    # What a total count needs, run only if a client asks for it.
    count_statement: Select[Any] | None = None

    @classmethod
    def empty(cls) -> Page[T]:
        return cls([], [], False, False, None)


@dataclass(frozen=True, slots=True)
class Keyset:
    """A list's order: the sort column and the tie-breaking id column, both in one direction."""

    tag: str
    column: Any
    id_column: Any
    descending: bool

    def after(self, key: tuple[Key, uuid.UUID]) -> ColumnElement[bool]:
        row = tuple_(self.column, self.id_column)
        bound = tuple_(literal(key[0]), literal(key[1]))
        return row < bound if self.descending else row > bound

    def before(self, key: tuple[Key, uuid.UUID]) -> ColumnElement[bool]:
        row = tuple_(self.column, self.id_column)
        bound = tuple_(literal(key[0]), literal(key[1]))
        return row > bound if self.descending else row < bound

    def ordering(self, *, reverse: bool = False) -> tuple[Any, Any]:
        if self.descending != reverse:
            return self.column.desc(), self.id_column.desc()
        return self.column.asc(), self.id_column.asc()


async def keyset_page(
    session: AsyncSession,
    statement: Select[Any],
    keyset: Keyset,
    *,
    window: Window,
    key_of: Callable[[T], tuple[Key, uuid.UUID]],
    count_statement: Select[Any] | None = None,
) -> Page[T]:
    """One page of `statement`'s entities in `keyset` order, inside the window's keys: its
    first rows, or (backwards) its last ones, read in reverse and turned around."""
    if window.after is not None:
        statement = statement.where(keyset.after(window.after))
    if window.before is not None:
        statement = statement.where(keyset.before(window.before))
    ordering = keyset.ordering(reverse=window.backward)
    rows: Sequence[T] = (
        await session.scalars(statement.order_by(*ordering).limit(window.limit + 1))
    ).all()  # fmt: skip
    items = window.trim(rows)
    return Page(
        items=items,
        cursors=[encode_cursor(keyset.tag, *key_of(item)) for item in items],
        has_next_page=window.has_next(len(rows)),
        has_previous_page=window.has_previous(len(rows)),
        count_statement=count_statement,
    )
