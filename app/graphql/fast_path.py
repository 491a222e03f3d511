"""Answering compiled queries before any per-request machinery is built.

For a JSON POST whose query the planner covers, the view calls `FastPath.answer`: the document
is parsed and validated once (the same limits as the schema's extensions), the operation
compiled once per (document, operation name, `@include`/`@skip` variable values), and each
request then binds its variables, runs one statement on the read pool and writes the bytes. Any
request it does not answer (None) goes to strawberry unchanged, which also produces every error:
a document or variable error, a refused argument, a bad token.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from graphql import (
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    VariableNode,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import VariableValues, get_variable_values
from graphql.language import Visitor, visit

from app.config import Settings
from app.graphql.compiled import CompiledOperation, Unsupported, compile_operation
from app.graphql.reads import Run
from app.graphql.schema import CACHE_SIZE, LIMIT_RULES, MAX_TOKENS
from app.services import lead_reads
from app.services.auth import Actor


@dataclass(frozen=True)
class Document:
    node: DocumentNode
    operations: dict[str | None, OperationDefinitionNode]
    fragments: dict[str, FragmentDefinitionNode]
    # Variables that @include/@skip read: their values change which fields are selected.
    directive_variables: tuple[str, ...]


class _DirectiveVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, None] = {}

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        if node.name.value in ("include", "skip"):
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    self.names[argument.value.name.value] = None


# orjson writes what the records hold, except asyncpg's own uuid class and decimals, which it
# hands to `default=str`: the same strings strawberry's ID and Decimal scalars write.


class _Lru(OrderedDict[Any, Any]):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Any, value: Any) -> Any:
        self[key] = value
        if len(self) > self.size:
            self.popitem(last=False)
        return value


class FastPath:
    def __init__(self, schema: GraphQLSchema, settings: Settings) -> None:
        self.schema = schema
        self.settings = settings
        self.rules = [*specified_rules, *LIMIT_RULES]
        self._documents = _Lru(CACHE_SIZE)
        self._plans = _Lru(CACHE_SIZE)

    def _document(self, query: str) -> Document | None:
        if query in self._documents:
            self._documents.move_to_end(query)
            found: Document | None = self._documents[query]
            return found
        try:
            node = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError:
            return self._documents.put(query, None)  # type: ignore[no-any-return]
        if validate(self.schema, node, self.rules):
            return self._documents.put(query, None)  # type: ignore[no-any-return]
        operations: dict[str | None, OperationDefinitionNode] = {}
        fragments: dict[str, FragmentDefinitionNode] = {}
        for definition in node.definitions:
            if isinstance(definition, OperationDefinitionNode):
                operations[definition.name.value if definition.name else None] = definition
            elif isinstance(definition, FragmentDefinitionNode):
                fragments[definition.name.value] = definition
        directives = _DirectiveVariables()
        visit(node, directives)
        document = Document(node, operations, fragments, tuple(directives.names))
        return self._documents.put(query, document)  # type: ignore[no-any-return]

    def plan(
        self, query: str, operation_name: str | None, raw_variables: Mapping[str, Any]
    ) -> tuple[CompiledOperation, VariableValues] | None:
        """The compiled operation and the request's coerced variables; None if strawberry must
        answer this request."""
        document = self._document(query)
        if document is None:
            return None
        if operation_name is None and len(document.operations) != 1:
            return None
        operation = (
            next(iter(document.operations.values()))
            if operation_name is None
            else document.operations.get(operation_name)
        )
        if operation is None:
            return None
        variables = get_variable_values(
            self.schema, operation.variable_definitions or (), dict(raw_variables)
        )
        if not isinstance(variables, VariableValues):
            return None
        signature = tuple(
            bool(variables.coerced.get(name)) for name in document.directive_variables
        )
        key = (query, operation_name, signature)
        if key in self._plans:
            compiled = self._plans[key]
        else:
            compiled = self._plans.put(
                key,
                compile_operation(self.schema, operation, document.fragments, variables.coerced),
            )
        if compiled is None:
            return None
        return compiled, variables

    async def answer(
        self,
        body: Mapping[str, Any],
        actor: Actor | None,
        fetch: lead_reads.Fetch,
        *,
        now: datetime,
    ) -> bytes | None:
        """The response body for a compiled query, or None for strawberry to answer it."""
        query = body.get("query")
        operation_name = body.get("operationName")
        raw_variables = body.get("variables") or {}
        if not isinstance(query, str) or not isinstance(raw_variables, dict):
            return None
        if operation_name is not None and not isinstance(operation_name, str):
            return None
        planned = self.plan(query, operation_name, raw_variables)
        if planned is None:
            return None
        compiled, variables = planned
        run = Run(actor=actor, now=now, settings=self.settings)
        try:
            sql, params, data = compiled.prepare(run, variables)
        except Unsupported:
            return None
        row = await fetch(sql, params) if sql is not None else None
        return orjson.dumps({"data": data(row)}, default=str)
