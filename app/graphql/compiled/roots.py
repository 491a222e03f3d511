"""The root fields the compiled path answers, each its part of the statement and its shaping."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import FieldNode, GraphQLField, GraphQLObjectType, SelectionSetNode
from graphql.execution.values import VariableValues, get_argument_values
from strawberry.utils.str_converters import to_snake_case

from app.domain.lifecycle import LeadStage, LeadTab
from app.domain.privacy import contact_hidden_before
from app.graphql.compiled.codegen import Compiler, Unsupported, named_type
from app.graphql.compiled.selection import Selection, collect
from app.graphql.notifications import NOTIFICATION_READS
from app.graphql.reads import Read, Run
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

Shape = Callable[[Any, Run], Any]
RELATIONS = ("team", "history", "sender", "favorite", "owner")


def lead_projection(needs: Iterable[str]) -> LeadProjection:
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
        owner="owner" in wanted,
    )


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
    projection = lead_projection(needs)
    return projection, compiler.shaper(expression, projection.slots)


class LeadRoot(RootField):
    """lead(id): the viewer's organisation's lead, or null."""

    def __init__(self, compiler: Compiler, field_def: GraphQLField, node: FieldNode) -> None:
        super().__init__(field_def, node)
        named, _, _ = named_type(field_def.type)
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
        node_type = named_type(connection_type.fields["nodes"].type)[0]
        edge_type = named_type(connection_type.fields["edges"].type)[0]
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
                info_type = named_type(connection_type.fields["pageInfo"].type)[0]
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
        connection_type = named_type(field_def.type)[0]
        self.connection = Connection(
            compiler, connection_type, sets, LEAD_READS, needs, "totalCount"
        )
        self.projection = lead_projection(needs)
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
        given = args.get("filter") or {}
        checked = check_filter(LeadFilter(**{to_snake_case(k): v for k, v in given.items()}))
        if isinstance(checked, Refused):
            raise Unsupported("filter")
        hidden_before = contact_hidden_before(run.now, run.settings.contact_hidden_after_days)
        if self.sent:
            if actor is None or not (actor.organisation_kind == "PLATFORM" or actor.manages_leads):
                return None, order, False
            where = compiled_reads.sent_where(
                actor, checked, params, contact_hidden_before=hidden_before
            )
        else:
            if actor is None or not actor.manages_leads:
                return None, order, False
            where = compiled_reads.inbox_where(
                actor, LeadTab(args["tab"]), checked, params, contact_hidden_before=hidden_before
            )
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
        connection_type = named_type(field_def.type)[0]
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
        named, _, _ = named_type(field_def.type)
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
        expression = compiler.object(named_type(field_def.type)[0], sets, VIEWER_READS, {})
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
