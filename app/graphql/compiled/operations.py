"""Operations planned once: which root fields, or which lead mutation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues

from app.graphql.compiled.codegen import Compiler, Unsupported, named_type
from app.graphql.compiled.roots import (
    ROOTS,
    Prepared,
    RootField,
    TypenameRoot,
    lead_projection,
)
from app.graphql.compiled.selection import collect
from app.graphql.reads import Run
from app.graphql.types.lead import LEAD_READS
from app.services.compiled_reads import Params, statement


class LeadMutation:
    """A lead mutation with a `LeadPayload`: its input as strawberry's resolver receives it,
    its payload shaped by compiled functions (the lead read back by one compiled statement)."""

    def __init__(
        self, compiler: Compiler, field_def: GraphQLField, node: FieldNode, key: str
    ) -> None:
        self.name, self.key, self.node, self.field_def = node.name.value, key, node, field_def
        payload = named_type(field_def.type)[0]
        lead_type = named_type(payload.fields["lead"].type)[0]
        error_type = named_type(payload.fields["errors"].type)[0]
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
        self.projection = lead_projection(needs)
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
        "markCustomerContacted",
        "assignLead",
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
        sql = statement(columns)

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
