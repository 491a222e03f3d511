"""The compiled read path: a query document is planned once, and each request then costs one
SQL statement and a pass of precompiled shaping functions over its row.

`compile_operation` walks the operation's selection (fragments, aliases, `@include`/`@skip` and
`__typename` resolved) against the schema and the reads declared beside each strawberry type
(`app/graphql/types/*`: `LEAD_READS`, ...). It answers None for anything it does not cover, and
the request then goes through strawberry as usual, so correctness never depends on this path. A
root field whose arguments a service would refuse (`first: 1000`, a bad cursor) also sends the
request to strawberry, which answers with the service's own error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.utils.str_converters import to_snake_case

from app.domain.lifecycle import LeadStage, LeadTab
from app.graphql.notifications import NOTIFICATION_READS
from app.graphql.reads import Column, Computed, Nested, Read, Records, Run
from app.graphql.types.lead import LEAD_COUNT_READS, LEAD_READS
from app.graphql.types.viewer import VIEWER_READS
from app.services import compiled_reads, notifications
from app.services.compiled_reads import (
    NOTIFICATION_COLUMNS,
    VIEWER_COLUMNS,
    LeadPageRequest,
    LeadProjection,
    Params,
)
from app.services.errors import Refused
from app.services.lead_queries import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ORDERS,
    LeadFilter,
    LeadOrder,
    check_filter,
)
from app.services.paging import decode_cursor, encode_cursor, page_size

Record = Sequence[Any]
Shape = Callable[[Any, Run], Any]
RELATIONS = ("team", "history", "sender", "favorite")


class Unsupported(Exception):
    """This document, or these arguments, are strawberry's to answer."""


# --- what was selected -------------------------------------------------------------------------


@dataclass
class Selection:
    """The fields asked of one object: response key -> the field nodes merged under it."""

    fields: dict[str, list[FieldNode]] = field(default_factory=dict)

    def sub(self, key: str) -> list[SelectionSetNode]:
        return [n.selection_set for n in self.fields[key] if n.selection_set is not None]


def _included(node: Any, variables: Mapping[str, Any]) -> bool:
    for directive in node.directives or ():
        if directive.name.value not in ("skip", "include"):
            continue
        [argument] = directive.arguments
        value: Any = argument.value
        flag = variables.get(value.name.value) if isinstance(value, VariableNode) else value.value
        if (directive.name.value == "skip") == bool(flag):
            return False
    return True


def collect(
    selection_sets: Iterable[SelectionSetNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    type_name: str,
) -> Selection:
    """The fields of `selection_sets` on the object type `type_name`, as execution collects
    them. Our object types implement no interfaces, so a fragment applies when its condition
    names the type itself."""
    selection = Selection()

    def visit(selection_set: SelectionSetNode) -> None:
        for node in selection_set.selections:
            if not _included(node, variables):
                continue
            if isinstance(node, FieldNode):
                key = node.alias.value if node.alias else node.name.value
                selection.fields.setdefault(key, []).append(node)
            elif isinstance(node, InlineFragmentNode):
                if node.type_condition is None or node.type_condition.name.value == type_name:
                    visit(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                fragment = fragments[node.name.value]
                if fragment.type_condition.name.value == type_name:
                    visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return selection


# --- values ---------------------------------------------------------------------------------------


def _named(t: GraphQLOutputType) -> tuple[Any, bool, bool]:
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
        selection = collect(selection_sets, self.fragments, self.variables, object_type.name)
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
        named, _, is_list = _named(field_def.type)
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


def _projection(needs: Iterable[str]) -> LeadProjection:
    wanted = dict.fromkeys(needs)
    # works_it and the page's keys always need these.
    columns = tuple(
        n for n in dict.fromkeys(("id", "organisation_id", *wanted)) if n not in RELATIONS
    )
    return LeadProjection(
        columns,
        team="team" in wanted,
        history="history" in wanted,
        sender="sender" in wanted,
        favorite="favorite" in wanted,
    )


# --- root fields -------------------------------------------------------------------------------


@dataclass
class Prepared:
    """A root field's columns of the statement (none: answered without SQL) and how to shape
    what comes back in them."""

    columns: tuple[str, ...]
    shape: Callable[[tuple[Any, ...]], Any]


class RootField:
    def __init__(self, field_def: GraphQLField, node: FieldNode) -> None:
        self.field_def = field_def
        self.node = node

    def arguments(self, variables: VariableValues) -> dict[str, Any]:
        return get_argument_values(self.field_def, self.node, variables)

    def prepare(self, run: Run, variables: VariableValues, params: Params) -> Prepared:
        raise NotImplementedError


class TypenameRoot(RootField):
    def __init__(self) -> None:
        pass

    def prepare(self, run: Run, variables: VariableValues, params: Params) -> Prepared:
        return Prepared((), lambda _: "Query")


def _lead_object(
    compiler: Compiler, node_type: GraphQLObjectType, selection_sets: Sequence[SelectionSetNode]
) -> tuple[LeadProjection, Shape]:
    needs: dict[str, None] = {}
    expression = compiler.object(node_type, selection_sets, LEAD_READS, needs)
    projection = _projection(needs)
    return projection, compiler.shaper(expression, projection.slots)


class LeadRoot(RootField):
    """lead(id): the viewer's organisation's lead, or null."""

    def __init__(self, compiler: Compiler, field_def: GraphQLField, node: FieldNode) -> None:
        super().__init__(field_def, node)
        named, _, _ = _named(field_def.type)
        sets = [node.selection_set] if node.selection_set else []
        self.projection, self.shape = _lead_object(compiler, named, sets)

    def prepare(self, run: Run, variables: VariableValues, params: Params) -> Prepared:
        actor = run.actor
        try:
            lead_id = uuid.UUID(str(self.arguments(variables)["id"]))
        except ValueError:
            lead_id = None
        if actor is None or not actor.manages_leads or lead_id is None:
            return Prepared((), lambda _: None)
        shape = self.shape
        sql = compiled_reads.lead_by_id(self.projection, lead_id, actor, params)
        return Prepared((sql,), lambda values: None if not values[0] else shape(values[0][0], run))


# A connection's cursor is made from the order's column, whichever order a request asks for.
SORT_COLUMNS = tuple(dict.fromkeys(column for column, _ in ORDERS.values()))


@dataclass
class Page:
    """One page as a connection shapes it: its rows, and how to make a row's cursor."""

    rows: list[Any]
    count: int
    has_next: bool
    has_previous: bool
    cursor: Callable[[Any], str]


class Connection:
    """A Relay connection's selection: `nodes`, `edges { cursor node }`, `pageInfo`, a count
    field and `__typename`, over node records whose positions `finish` sets."""

    def __init__(
        self,
        compiler: Compiler,
        connection_type: Any,
        selection_sets: Sequence[SelectionSetNode],
        reads: Mapping[str, Read],
        needs: dict[str, None],
        count_field: str,
    ) -> None:
        self.compiler, self.name = compiler, connection_type.name
        node_type = _named(connection_type.fields["nodes"].type)[0]
        edge_type = _named(connection_type.fields["edges"].type)[0]
        self.edge_name = edge_type.name
        self.counted = False
        # (response key, what, detail): detail is a node expression or the sub-keys.
        self.plan: list[tuple[str, str, Any]] = []
        top = self._collect(selection_sets, connection_type)
        for key, name in top:
            sets = top.sub(key)
            if name == "nodes":
                self.plan.append((key, name, compiler.object(node_type, sets, reads, needs)))
            elif name == "edges":
                edge = self._collect(sets, edge_type)
                fields: list[tuple[str, str, Any]] = []
                for edge_key, edge_name in edge:
                    node = compiler.object(node_type, edge.sub(edge_key), reads, needs)
                    fields.append((edge_key, edge_name, node if edge_name == "node" else None))
                self.plan.append((key, name, fields))
            elif name == "pageInfo":
                info_type = _named(connection_type.fields["pageInfo"].type)[0]
                info = self._collect(sets, info_type)
                self.plan.append((key, name, [(k, what, None) for k, what in info]))
            elif name == count_field:
                self.counted = True
                self.plan.append((key, "count", None))
            elif name == "__typename":
                self.plan.append((key, name, self.name))
            else:
                raise Unsupported(f"{self.name}.{name}")
        self.edge_cursors = any(
            what == "cursor"
            for _, name, detail in self.plan
            if name == "edges"
            for _, what, _ in detail
        )

    def _collect(self, sets: Sequence[SelectionSetNode | None], object_type: Any) -> _Keys:
        selection = collect(
            [s for s in sets if s is not None],
            self.compiler.fragments,
            self.compiler.variables,
            object_type.name,
        )
        return _Keys(selection)

    def finish(self, slots: dict[str, int]) -> None:
        self.plan = [(k, name, _made(self.compiler, d, slots)) for k, name, d in self.plan]

    def shape(self, page: Page, run: Run) -> dict[str, Any]:
        rows = page.rows
        # Every row's cursor only when edges ask for it; pageInfo needs the first and last.
        ends = rows if self.edge_cursors else ([rows[0], rows[-1]] if rows else [])
        cursors = [page.cursor(row) for row in ends]
        edge_cursors = cursors if self.edge_cursors else [None] * len(rows)
        result: dict[str, Any] = {}
        for key, name, detail in self.plan:
            if name == "nodes":
                result[key] = [detail(row, run) for row in rows]
            elif name == "edges":
                result[key] = [
                    {
                        edge_key: cursor
                        if what == "cursor"
                        else self.edge_name
                        if what == "__typename"
                        else node_shape(row, run)
                        for edge_key, what, node_shape in detail
                    }
                    for cursor, row in zip(edge_cursors, rows, strict=True)
                ]
            elif name == "pageInfo":
                info = {
                    "hasNextPage": page.has_next,
                    "hasPreviousPage": page.has_previous,
                    "startCursor": cursors[0] if cursors else None,
                    "endCursor": cursors[-1] if cursors else None,
                    "__typename": "PageInfo",
                }
                result[key] = {info_key: info[what] for info_key, what, _ in detail}
            elif name == "count":
                result[key] = page.count
            else:
                result[key] = detail
        return result


class LeadConnectionRoot(RootField):
    """leads(...) and sentLeads(...): a keyset page of leads as a Relay connection."""

    def __init__(
        self, compiler: Compiler, field_def: GraphQLField, node: FieldNode, *, sent: bool
    ) -> None:
        super().__init__(field_def, node)
        self.sent = sent
        needs: dict[str, None] = dict.fromkeys(SORT_COLUMNS)
        sets = [node.selection_set] if node.selection_set else []
        connection_type = _named(field_def.type)[0]
        self.connection = Connection(
            compiler, connection_type, sets, LEAD_READS, needs, "totalCount"
        )
        self.projection = _projection(needs)
        self.connection.finish(self.projection.slots)

    def _request(
        self, run: Run, variables: VariableValues, params: Params
    ) -> tuple[LeadPageRequest | None, LeadOrder, bool]:
        args = self.arguments(variables)
        order = LeadOrder.RECEIVED_AT_DESC if self.sent else args["orderBy"]
        limit = page_size(args.get("first"), default=DEFAULT_PAGE, maximum=MAX_PAGE)
        if isinstance(limit, Refused):
            raise Unsupported("first")
        after = args.get("after")
        key = decode_cursor(after, order.value, datetime) if after is not None else None
        if isinstance(key, Refused):
            raise Unsupported("after")
        actor = run.actor
        if self.sent:
            if actor is None or not (actor.organisation_kind == "PLATFORM" or actor.manages_leads):
                return None, order, False
            where = compiled_reads.sent_where(actor, params)
        else:
            given = args.get("filter") or {}
            checked = check_filter(LeadFilter(**{to_snake_case(k): v for k, v in given.items()}))
            if isinstance(checked, Refused):
                raise Unsupported("filter")
            if actor is None or not actor.manages_leads:
                return None, order, False
            where = compiled_reads.inbox_where(actor, LeadTab(args["tab"]), checked, params)
        request = LeadPageRequest(where, order, limit, key, self.connection.counted)
        return request, order, after is not None

    def prepare(self, run: Run, variables: VariableValues, params: Params) -> Prepared:
        request, order, has_previous = self._request(run, variables, params)
        slots = self.projection.slots
        sort_i, id_i, tag = slots[ORDERS[order][0]], slots["id"], order.value

        def cursor(row: Any) -> str:
            return encode_cursor(tag, row[sort_i], row[id_i])

        if request is None or run.actor is None:
            empty = Page([], 0, False, False, cursor)
            return Prepared((), lambda _: self.connection.shape(empty, run))
        columns = compiled_reads.lead_page(self.projection, request, run.actor, params)
        limit = request.limit

        def shape(values: tuple[Any, ...]) -> dict[str, Any]:
            total, rows = values
            rows = rows or []
            page = Page(rows[:limit], int(total or 0), len(rows) > limit, has_previous, cursor)
            return self.connection.shape(page, run)

        return Prepared(columns, shape)


class NotificationsRoot(RootField):
    """notifications(first, after, unreadOnly): the viewer's, newest first."""

    def __init__(self, compiler: Compiler, field_def: GraphQLField, node: FieldNode) -> None:
        super().__init__(field_def, node)
        sets = [node.selection_set] if node.selection_set else []
        connection_type = _named(field_def.type)[0]
        self.connection = Connection(
            compiler, connection_type, sets, NOTIFICATION_READS, {}, "unreadCount"
        )
        self.connection.finish({name: i for i, name in enumerate(NOTIFICATION_COLUMNS)})

    def prepare(self, run: Run, variables: VariableValues, params: Params) -> Prepared:
        args = self.arguments(variables)
        limit = page_size(
            args.get("first"), default=notifications.DEFAULT_PAGE, maximum=notifications.MAX_PAGE
        )
        if isinstance(limit, Refused):
            raise Unsupported("first")
        after = args.get("after")
        tag = notifications.NEWEST_FIRST.tag
        key = decode_cursor(after, tag, datetime) if after is not None else None
        if isinstance(key, Refused):
            raise Unsupported("after")
        created, row_id = NOTIFICATION_COLUMNS.index("created_at"), NOTIFICATION_COLUMNS.index("id")

        def cursor(row: Any) -> str:
            return encode_cursor(tag, row[created], row[row_id])

        actor = run.actor
        if actor is None:
            empty = Page([], 0, False, False, cursor)
            return Prepared((), lambda _: self.connection.shape(empty, run))
        columns = compiled_reads.notification_page(
            actor,
            unread_only=bool(args.get("unreadOnly")),
            limit=limit,
            after=key,
            unread_count=self.connection.counted,
            params=params,
        )

        def shape(values: tuple[Any, ...]) -> dict[str, Any]:
            unread, rows = values
            rows = rows or []
            page = Page(
                rows[:limit], int(unread or 0), len(rows) > limit, after is not None, cursor
            )
            return self.connection.shape(page, run)

        return Prepared(columns, shape)


class _Keys:
    """A selection's (response key, field name) pairs, and each key's sub-selections."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection

    def __iter__(self) -> Any:
        return ((k, nodes[0].name.value) for k, nodes in self.selection.fields.items())

    def sub(self, key: str) -> list[SelectionSetNode]:
        return self.selection.sub(key)


def _made(compiler: Compiler, detail: Any, slots: dict[str, int]) -> Any:
    """Shaper expressions in a connection's plan, made functions for the records' slots."""
    if callable(detail):
        return compiler.shaper(detail, slots)
    if isinstance(detail, list):
        return [(k, what, compiler.shaper(f, slots) if callable(f) else f) for k, what, f in detail]
    return detail


class LeadCountsRoot(RootField):
    """leadCounts: every (tab, stage), zeros included."""

    def __init__(self, compiler: Compiler, field_def: GraphQLField, node: FieldNode) -> None:
        super().__init__(field_def, node)
        named, _, _ = _named(field_def.type)
        needs: dict[str, None] = {}
        sets = [node.selection_set] if node.selection_set else []
        self.shape = compiler.shaper(
            compiler.object(named, sets, LEAD_COUNT_READS, needs),
            {"tab": 0, "stage": 1, "count": 2},
        )

    def prepare(self, run: Run, variables: VariableValues, params: Params) -> Prepared:
        actor = run.actor
        if actor is None or not actor.manages_leads:
            return Prepared((), lambda _: self._shape(None, run))
        sql = compiled_reads.lead_counts(actor, params)
        return Prepared((sql,), lambda values: self._shape(values[0], run))

    def _shape(self, rows: Any, run: Run) -> list[Any]:
        counts = {(tab, stage): n for tab, stage, n in rows or ()}
        return [
            self.shape((tab.value, stage.value, counts.get((tab.value, stage.value), 0)), run)
            for tab in LeadTab
            for stage in LeadStage
        ]


class ViewerRoot(RootField):
    """viewer: the signed-in user, their organisation, its profile (null when anonymous)."""

    def __init__(self, compiler: Compiler, field_def: GraphQLField, node: FieldNode) -> None:
        super().__init__(field_def, node)
        sets = [node.selection_set] if node.selection_set else []
        expression = compiler.object(_named(field_def.type)[0], sets, VIEWER_READS, {})
        self.shape = compiler.shaper(expression, {n: i for i, n in enumerate(VIEWER_COLUMNS)})

    def prepare(self, run: Run, variables: VariableValues, params: Params) -> Prepared:
        if run.actor is None:
            return Prepared((), lambda _: None)
        sql = compiled_reads.own_organisation(run.actor, params)
        return Prepared((sql,), lambda values: self.shape(values[0][0], run))


ROOTS: dict[str, Callable[..., RootField]] = {
    "viewer": ViewerRoot,
    "lead": LeadRoot,
    "notifications": NotificationsRoot,
    "leads": lambda c, f, n: LeadConnectionRoot(c, f, n, sent=False),
    "sentLeads": lambda c, f, n: LeadConnectionRoot(c, f, n, sent=True),
    "leadCounts": LeadCountsRoot,
}


# --- operations --------------------------------------------------------------------------------


class LeadMutation:
    """A lead mutation with a `LeadPayload`: its input as strawberry's resolver receives it,
    its payload shaped by compiled functions (the lead read back by one compiled statement)."""

    def __init__(
        self, compiler: Compiler, field_def: GraphQLField, node: FieldNode, key: str
    ) -> None:
        self.name, self.key, self.node, self.field_def = node.name.value, key, node, field_def
        payload = _named(field_def.type)[0]
        lead_type = _named(payload.fields["lead"].type)[0]
        error_type = _named(payload.fields["errors"].type)[0]
        top = collect(
            [node.selection_set] if node.selection_set else [],
            compiler.fragments,
            compiler.variables,
            payload.name,
        )
        needs: dict[str, None] = {}
        self.parts: list[tuple[str, str, Any]] = []
        lead_sets: list[SelectionSetNode] = []
        for key_, nodes in top.fields.items():
            name = nodes[0].name.value
            if name == "lead":
                lead_sets += top.sub(key_)
                self.parts.append((key_, name, None))
            elif name == "errors":
                fields = collect(
                    top.sub(key_), compiler.fragments, compiler.variables, error_type.name
                )
                self.parts.append(
                    (key_, name, [(k, n[0].name.value) for k, n in fields.fields.items()])
                )
            elif name == "__typename":
                self.parts.append((key_, name, payload.name))
            else:
                raise Unsupported(f"{payload.name}.{name}")
        expression = compiler.object(lead_type, lead_sets, LEAD_READS, needs)
        self.projection = _projection(needs)
        self.lead_shape = compiler.shaper(expression, self.projection.slots)
        self.input_argument = field_def.extensions["strawberry-definition"].arguments

    def payload(self, lead: Any, errors: list[Any], run: Run) -> dict[str, Any]:
        """`lead` a record (or None), `errors` the resolver's UserErrors."""
        result: dict[str, Any] = {}
        for key, name, detail in self.parts:
            if name == "lead":
                result[key] = None if lead is None else self.lead_shape(lead, run)
            elif name == "errors":
                values = [
                    {
                        "code": e.code.value,
                        "field": e.field,
                        "message": e.message,
                        "__typename": "UserError",
                    }
                    for e in errors
                ]
                result[key] = [{k: v[what] for k, what in detail} for v in values]
            else:
                result[key] = detail
        return result


LEAD_MUTATIONS = frozenset(
    {
        "acceptLead",
        "declineLead",
        "updateLead",
        "addLeadTeamMember",
        "removeLeadTeamMember",
        "markLeadWon",
        "markLeadLost",
        "setLeadFavorite",
    }
)


@dataclass
class CompiledOperation:
    roots: list[tuple[str, RootField]]
    mutation: LeadMutation | None = None

    def prepare(
        self, run: Run, variables: VariableValues
    ) -> tuple[str | None, list[Any], Callable[[Any], dict[str, Any]]]:
        """The statement, its parameters, and how to turn its row into the response's data."""
        params = Params()
        parts: list[tuple[str, Prepared]] = [
            (key, root.prepare(run, variables, params)) for key, root in self.roots
        ]
        columns = [column for _, p in parts for column in p.columns]
        sql = "SELECT " + ", ".join(columns) if columns else None

        def data(row: Any) -> dict[str, Any]:
            values = tuple(row or ())
            result, at = {}, 0
            for key, p in parts:
                width = len(p.columns)
                result[key] = p.shape(values[at : at + width])
                at += width
            return result

        return sql, params.values, data


def compile_operation(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
) -> CompiledOperation | None:
    compiler = Compiler(schema, fragments, variables)
    if operation.operation is OperationType.MUTATION:
        mutation_type = schema.mutation_type
        assert mutation_type is not None
        top = collect([operation.selection_set], fragments, variables, mutation_type.name)
        if len(top.fields) != 1:
            return None
        [(key, nodes)] = top.fields.items()
        name = nodes[0].name.value
        if len(nodes) > 1 or name not in LEAD_MUTATIONS:
            return None
        try:
            mutation = LeadMutation(compiler, mutation_type.fields[name], nodes[0], key)
        except Unsupported:
            return None
        return CompiledOperation([], mutation)
    if operation.operation is not OperationType.QUERY:
        return None
    query_type = schema.query_type
    assert query_type is not None
    top = collect([operation.selection_set], fragments, variables, query_type.name)
    roots: list[tuple[str, RootField]] = []
    try:
        for key, nodes in top.fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                roots.append((key, TypenameRoot()))
                continue
            if len(nodes) > 1 or name not in ROOTS:
                return None
            roots.append((key, ROOTS[name](compiler, query_type.fields[name], nodes[0])))
    except Unsupported:
        return None
    return CompiledOperation(roots)
