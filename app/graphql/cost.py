"""What one document may ask of the server, checked before anything costly runs.

Three steps, each linear in the document's text, and the same on both execution paths:

1. `parse`: brackets nested deeper than `MAX_NESTING` are refused before parsing
   (graphql-core's parser recurses per level, and a few thousand levels end in a
   RecursionError); the parser stops at `MAX_TOKENS`.
2. `structure_errors`, before the standard rules: fragment spreads, a response key repeated in
   one selection (the overlapping-fields rule compares every pair: 1,240 x `viewer{roles}` cost
   1.3 s), depth and aliases. Depth and aliases are counted as strawberry's limiters count them
   (fragments expanded), but each fragment once: their limiters re-walk every expansion, which
   took 192 ms and 60 ms on a 10⁵ fan-out.
3. `operation_cost`, before execution, with the request's variables: every field costs 1, and a
   list multiplies what is selected inside it by its size: `first` (clamped to the largest page
   any list serves), the argument's default, or `DEFAULT_LIST_SIZE` for lists that are not paged.
   A connection's `first` sizes its `edges` and `nodes`. Fragments are costed once per page size
   they are spread under, so a 20⁵ fan-out costs microseconds to measure.

A refusal is a GraphQLError with `extensions.code` QUERY_TOO_COMPLEX (steps 1-2) or
QUERY_TOO_COSTLY (step 3, with `cost` and `limit`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from graphql.error import GraphQLSyntaxError
from graphql.language import parse as parse_document
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef

from app.services import lead_queries, notifications, search

TOO_COMPLEX = "QUERY_TOO_COMPLEX"
TOO_COSTLY = "QUERY_TOO_COSTLY"

MAX_TOKENS = 5000
PARSE_CACHE_SIZE = 1024  # distinct documents: SPAs and tools send a small, fixed set
MAX_NESTING = 64
MAX_DEPTH = 12
MAX_ALIASES = 30
# The test suite's, the README's and bench/'s documents spread at most one fragment; a fan-out
# needs many (and the standard rules' time grows with them: ~20 ms at this bound).
MAX_FRAGMENT_SPREADS = 32
# One response key (or one fragment's spread) this often in one selection, inline fragments
# included: more is legal GraphQL but never useful, and costs validation quadratic time.
MAX_FIELD_REPEATS = 4
# Directives on one field, spread or inline fragment: @include and @skip are all the schema
# has. graphql-cop's directive overloading check flags a server that reports each of ten.
MAX_DIRECTIVES = 4

# `last` sizes a page as `first` does (at most one of them is given; the larger counts).
SIZE_ARGUMENTS = ("first", "last")
# A list fetched by ids has one item per id (the resolver refuses more than a page).
COUNT_ARGUMENT = "ids"
# Every paged list's default and largest page (app/services refuse a larger `first`).
PAGE_DEFAULT = lead_queries.DEFAULT_PAGE
PAGE_MAX = max(lead_queries.MAX_PAGE, notifications.MAX_PAGE, search.MAX_PAGE)
# Lists without `first` (a lead's team and history, a history entry's changes, a delivery's
# attempts) hold a few rows each.
DEFAULT_LIST_SIZE = 5

# Strings and comments are skipped, so brackets inside them do not count.
_BRACKETS = re.compile(r'"""(?:\\"""|[^"]|"(?!""))*"""|"(?:\\.|[^"\\\n])*"|#[^\n\r]*|[{}()\[\]]')
_OPENING = frozenset("{([")


def too_complex(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": TOO_COMPLEX})


@lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse(query: str) -> DocumentNode:
    """graphql-core's parser, refusing a document over `MAX_TOKENS` (it stops counting there)
    or nested deeper than `MAX_NESTING` with QUERY_TOO_COMPLEX; other syntax errors as they are.
    Cached, and shared by both paths: a document the compiled path hands on to strawberry is
    parsed once."""
    if errors := text_errors(query):
        raise errors[0]
    try:
        return parse_document(query, max_tokens=MAX_TOKENS)
    except GraphQLSyntaxError as error:
        if "tokens. Parsing aborted" in error.message:
            raise too_complex(f"the document has more than {MAX_TOKENS} tokens") from None
        raise


def text_errors(query: str, max_nesting: int = MAX_NESTING) -> list[GraphQLError]:
    level = 0
    for match in _BRACKETS.finditer(query):
        token = match.group()
        if len(token) != 1:
            continue
        if token in _OPENING:
            level += 1
            if level > max_nesting:
                return [too_complex(f"the document nests deeper than {max_nesting} levels")]
        else:
            level -= 1
    return []


def _selection_sets(document: DocumentNode) -> Iterable[SelectionSetNode]:
    """Every selection set in the document, iteratively (nesting is bounded by `text_errors`,
    but a walk this cheap need not rely on it)."""
    stack = [
        d.selection_set
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode)
    ]
    while stack:
        selection_set = stack.pop()
        yield selection_set
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
                stack.append(selection.selection_set)


def _keys(selection_set: SelectionSetNode, keys: Counter[str]) -> None:
    """The selection's response keys and spreads, through its inline fragments."""
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            keys[(selection.alias or selection.name).value] += 1
        elif isinstance(selection, FragmentSpreadNode):
            keys[f"...{selection.name.value}"] += 1
        elif isinstance(selection, InlineFragmentNode):
            _keys(selection.selection_set, keys)


@dataclass
class _Shape:
    """Depth and alias count of each fragment, each computed once."""

    fragments: Mapping[str, FragmentDefinitionNode]
    memo: dict[str, tuple[int, int]] = field(default_factory=dict)

    def of(self, selection_set: SelectionSetNode) -> tuple[int, int]:
        depth = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                aliases += selection.alias is not None
                # As strawberry's limiter: introspection fields and leaves add no depth.
                if selection.selection_set and not selection.name.value.startswith("__"):
                    below, inner = self.of(selection.selection_set)
                    depth = max(depth, below + 1)
                    aliases += inner
                elif selection.selection_set:
                    aliases += self.of(selection.selection_set)[1]
            elif isinstance(selection, InlineFragmentNode):
                below, inner = self.of(selection.selection_set)
                depth, aliases = max(depth, below), aliases + inner
            elif isinstance(selection, FragmentSpreadNode):
                below, inner = self.fragment(selection.name.value)
                depth, aliases = max(depth, below), aliases + inner
        return depth, aliases

    def fragment(self, name: str) -> tuple[int, int]:
        if name not in self.memo:
            self.memo[name] = (0, 0)  # a cycle counts nothing; NoFragmentCyclesRule refuses it
            definition = self.fragments.get(name)
            if definition is not None:
                self.memo[name] = self.of(definition.selection_set)
        return self.memo[name]


def structure_errors(
    document: DocumentNode,
    *,
    max_depth: int = MAX_DEPTH,
    max_aliases: int = MAX_ALIASES,
    max_spreads: int = MAX_FRAGMENT_SPREADS,
    max_repeats: int = MAX_FIELD_REPEATS,
    max_directives: int = MAX_DIRECTIVES,
) -> list[GraphQLError]:
    spreads = 0
    for selection_set in _selection_sets(document):
        crowded = max((len(s.directives or ()) for s in selection_set.selections), default=0)
        if crowded > max_directives:
            return [too_complex(f"{crowded} directives on one selection; at most {max_directives}")]
        spreads += sum(isinstance(s, FragmentSpreadNode) for s in selection_set.selections)
        keys: Counter[str] = Counter()
        _keys(selection_set, keys)
        key, count = keys.most_common(1)[0] if keys else ("", 0)
        if count > max_repeats:
            return [
                too_complex(
                    f"'{key}' is selected {count} times in one selection; at most {max_repeats}"
                )
            ]
    if spreads > max_spreads:
        return [too_complex(f"{spreads} fragment spreads found. Allowed: {max_spreads}")]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    shape = _Shape(fragments)
    aliases = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        depth, inner = shape.of(definition.selection_set)
        aliases += inner
        if depth > max_depth:
            name = definition.name.value if definition.name else "anonymous"
            return [too_complex(f"'{name}' exceeds maximum operation depth of {max_depth}")]
    if aliases > max_aliases:
        return [too_complex(f"{aliases} aliases found. Allowed: {max_aliases}")]
    return []


def _unwrap(type_: Any) -> tuple[bool, GraphQLNamedType | None]:
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return is_list, type_


@dataclass
class _Cost:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    memo: dict[tuple[str, int | None], int] = field(default_factory=dict)

    def of(self, selection_set: SelectionSetNode, parent: Any, page: int | None) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.of(selection.selection_set, inner, page)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value, page)
        return total

    def fragment(self, name: str, page: int | None) -> int:
        key = (name, page)
        if key not in self.memo:
            self.memo[key] = 0  # a cycle costs nothing; NoFragmentCyclesRule refuses it
            definition = self.fragments.get(name)
            if definition is not None:
                parent = self.schema.get_type(definition.type_condition.name.value)
                self.memo[key] = self.of(definition.selection_set, parent, page)
        return self.memo[key]

    def field(self, node: FieldNode, parent: Any, page: int | None) -> int:
        if node.selection_set is None:
            return 1
        definition = self._definition(node.name.value, parent)
        is_list, named = _unwrap(definition.type) if definition else (False, None)
        size = self._size(node, definition)
        if is_list and size is None:
            size = self._count(node, definition)
        if is_list:
            count = size if size is not None else page if page is not None else DEFAULT_LIST_SIZE
            return 1 + count * self.of(node.selection_set, named, None)
        # A connection: its `first` sizes the lists directly inside it (edges, nodes).
        return 1 + self.of(node.selection_set, named, size)

    def _definition(self, name: str, parent: Any) -> GraphQLField | None:
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return parent.fields.get(name)
        return None

    def _count(self, node: FieldNode, definition: GraphQLField | None) -> int | None:
        """A list fetched by ids (`nodes(ids:)`) holds one item per id."""
        if definition is None or COUNT_ARGUMENT not in definition.args:
            return None
        for argument in node.arguments or ():
            if argument.name.value != COUNT_ARGUMENT:
                continue
            value: Any = argument.value
            if isinstance(value, ListValueNode):
                return min(len(value.values), PAGE_MAX)
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return min(len(given), PAGE_MAX) if isinstance(given, list) else PAGE_MAX
        return None

    def _size(self, node: FieldNode, definition: GraphQLField | None) -> int | None:
        if definition is None or not any(name in definition.args for name in SIZE_ARGUMENTS):
            return None
        given: list[int] = []
        for argument in node.arguments or ():
            if argument.name.value not in SIZE_ARGUMENTS:
                continue
            value: Any = None
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value)
            if isinstance(value, int) and not isinstance(value, bool):
                given.append(value)
        if given:
            value = max(given)
        else:
            first = definition.args.get(SIZE_ARGUMENTS[0])
            default = first.default_value if first is not None else None
            value = default if isinstance(default, int) else PAGE_DEFAULT
        # A larger page is refused by the list's own resolver, with a better message.
        return min(max(value, 0), PAGE_MAX)


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> list[OperationDefinitionNode]:
    """The operation that would run; all of them when that is ambiguous (execution refuses
    it, but the cost stays an upper bound)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        named = [o for o in operations if o.name and o.name.value == operation_name]
        return named or operations
    return operations


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> int:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    cost = _Cost(schema, fragments, variables or {})
    costs = [
        cost.of(operation.selection_set, schema.get_root_type(operation.operation), None)
        for operation in select_operation(document, operation_name)
    ]
    return max(costs, default=0)


def cost_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    limit: int,
) -> list[GraphQLError]:
    cost = operation_cost(schema, document, operation_name, variables)
    if cost <= limit:
        return []
    shown = cost if cost < 10**12 else f"more than {10**12}"
    return [
        GraphQLError(
            f"the operation costs {shown}; the limit is {limit}",
            extensions={"code": TOO_COSTLY, "cost": min(cost, 10**12), "limit": limit},
        )
    ]
