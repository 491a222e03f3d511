"""Copying between GraphQL objects and rows or service dataclasses whose attributes carry the same
field names: one mapping each way instead of a hand-written copy per type. Ids become GraphQL
IDs, and collections are copied into lists; anything else is given explicitly."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

import strawberry
from strawberry.types.base import StrawberryList, get_object_definition
from strawberry.types.private import is_private

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")
D = TypeVar("D", bound="DataclassInstance")


_FIELDS: dict[type, tuple[tuple[str, bool, bool], ...]] = {}


def _data_fields(cls: type) -> tuple[tuple[str, bool, bool], ...]:
    """The type's fields that hold data (not resolvers): name, whether it is private (kept on
    the object for resolvers, never shown) and whether it is a list."""
    if cls not in _FIELDS:
        definition = get_object_definition(cls, strict=True)
        _FIELDS[cls] = tuple(
            (f.python_name, is_private(f.type), isinstance(f.type, StrawberryList))
            for f in definition.fields
            if f.base_resolver is None
        )
    return _FIELDS[cls]


def _convert(value: Any, is_list: bool) -> Any:
    if isinstance(value, uuid.UUID):
        return strawberry.ID(str(value))
    if is_list:
        return list(value or ())
    return value


def from_row(cls: type[T], row: object, **given: Any) -> T:
    """`cls(...)` with each field from `given`, else from the row's attribute of that name."""
    values = {}
    for name, private, is_list in _data_fields(cls):
        if name in given:
            values[name] = given[name]
        else:
            value = getattr(row, name)
            values[name] = value if private else _convert(value, is_list)
    return cls(**values)


def from_rows(cls: type[T], rows: Iterable[object]) -> list[T]:
    return [from_row(cls, row) for row in rows]


def to_service(cls: type[D], source: object, **given: Any) -> D:
    """The service dataclass `cls` with each field from `given`, else from the GraphQL input's
    attribute of that name."""
    names = [f.name for f in fields(cls)]
    return cls(**{name: given[name] if name in given else getattr(source, name) for name in names})
