"""Shaping as generated code: an object selection becomes one Python function returning a dict
display over a record's positions, its leaves written as strawberry writes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    SelectionSetNode,
)

from app.graphql.compiled.selection import collect
from app.graphql.reads import Column, Computed, Nested, Read, Records, Run


class Unsupported(Exception):
    """This document, or these arguments, are strawberry's to answer."""


def named_type(t: GraphQLOutputType) -> tuple[Any, bool, bool]:
    """(named type, nullable, list) of a field type; lists of lists do not occur here."""
    nullable = not isinstance(t, GraphQLNonNull)
    inner: Any = t.of_type if isinstance(t, GraphQLNonNull) else t
    is_list = isinstance(inner, GraphQLList)
    if is_list:
        inner = inner.of_type
        inner = inner.of_type if isinstance(inner, GraphQLNonNull) else inner
    return inner, nullable, is_list


# Leaves are written by orjson as strawberry serialises them: enums by value (their names here),
# datetimes and dates in ISO 8601 as `isoformat()` writes them, uuids and decimals as strings
# (`fast_path` passes `default=str`); other ids (history's bigint) become strings here.
_AS_IS = frozenset({"String", "Int", "Float", "Boolean", "JSON", "DateTime", "Date", "Decimal"})


def _leaf_code(named: Any, value: str, is_list: bool) -> str:
    """An expression for a leaf's JSON value from the expression `value`."""
    if isinstance(named, GraphQLEnumType) or named.name in _AS_IS:
        return value
    if named.name == "ID" and not is_list:
        return f"_id({value})"
    raise Unsupported(f"no leaf serialisation for {named}")


def _id(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else str(value)


def _python_name(field_def: GraphQLField) -> str:
    python_name: str = field_def.extensions["strawberry-definition"].python_name
    return python_name


class Code:
    """The generated shaping functions of one operation: each object selection becomes one
    function returning a dict display over a record's positions, so a lead costs one Python
    call and no per-field dispatch. Names in the source are bound in `env`."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {"_id": _id}

    def bind(self, value: Any) -> str:
        name = f"_v{len(self.env)}"
        self.env[name] = value
        return name

    def function(self, body: str) -> str:
        name = f"_f{len(self.env)}"
        exec(f"def {name}(rec, run):\n    return {body}\n", self.env)
        return name


# What an object selection becomes: given the positions of the names it needs and the
# operation's code, a Python expression of `rec` and `run`.
Expression = Callable[[dict[str, int], Code], str]


@dataclass
class Compiler:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    code: Code = field(default_factory=Code)

    def object(
        self,
        object_type: GraphQLObjectType,
        selection_sets: Sequence[SelectionSetNode],
        reads: Mapping[str, Read],
        needs: dict[str, None],
    ) -> Expression:
        """The expression of this object's JSON from one record, once the positions (slots) of
        the names it needs are known; it adds those names to `needs`."""
        selection = collect(
            selection_sets,
            self.fragments,
            self.variables,
            object_type.name,
            [interface.name for interface in object_type.interfaces],
        )
        parts: list[tuple[str, Expression]] = []
        for key, nodes in selection.fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                parts.append((key, _constant(repr(object_type.name))))
                continue
            field_def = object_type.fields[name]
            read = reads.get(_python_name(field_def))
            if read is None:
                raise Unsupported(f"{object_type.name}.{name} has no read")
            parts.append((key, self._field(field_def, selection.sub(key), read, needs)))

        def expression(slots: dict[str, int], code: Code) -> str:
            items = ", ".join(f"{key!r}: {part(slots, code)}" for key, part in parts)
            return "{" + items + "}"

        return expression

    def shaper(self, expression: Expression, slots: dict[str, int]) -> Callable[[Any, Run], Any]:
        """The generated function of one object selection over records with `slots`."""
        shaped: Callable[[Any, Run], Any] = self.code.env[
            self.code.function(expression(slots, self.code))
        ]
        return shaped

    def _field(
        self,
        field_def: GraphQLField,
        selection_sets: list[SelectionSetNode],
        read: Read,
        needs: dict[str, None],
    ) -> Expression:
        named, _, is_list = named_type(field_def.type)
        if isinstance(read, Column):
            needs[read.name] = None
            column = read.name
            return lambda slots, code: _leaf_code(named, f"rec[{slots[column]}]", is_list)
        if isinstance(read, Computed):
            needs.update(dict.fromkeys(read.names))
            computed = read
            return lambda slots, code: _leaf_code(named, _call(code, computed, slots), is_list)
        if isinstance(read, Nested):
            inner = self.object(named, selection_sets, read.reads, needs)
            present = read.present
            if present is not None:
                needs.update(dict.fromkeys(present.names))

            def nested(slots: dict[str, int], code: Code) -> str:
                body = inner(slots, code)
                if present is None:
                    return body
                return f"({body} if {_call(code, present, slots)} else None)"

            return nested
        # Records: rows of their own, with positions of their own.
        needs.update(dict.fromkeys(read.names))
        own = self.object(named, selection_sets, read.reads, {})
        own_slots = {name: i for i, name in enumerate(read.columns)}
        records = read

        def rows(slots: dict[str, int], code: Code) -> str:
            shape = code.function(own(own_slots, code))
            values = _call(code, records, slots)
            if records.single:
                return f"(lambda r: None if r is None else {shape}(r, run))({values})"
            return f"[{shape}(r, run) for r in {values}]"

        return rows


def _constant(source: str) -> Expression:
    return lambda slots, code: source


def _call(code: Code, read: Computed | Records, slots: dict[str, int]) -> str:
    """The source of `read`'s function applied to the run and the record's values it names."""
    fn = code.bind(read.fn if isinstance(read, Computed) else read.rows)
    arguments = ", ".join(f"rec[{slots[name]}]" for name in read.names)
    return f"{fn}(run, {arguments})"
