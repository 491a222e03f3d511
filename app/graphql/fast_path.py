"""Answering compiled queries before any per-request machinery is built.

For a JSON POST whose query the planner covers, the view calls `FastPath.answer`: the document
is parsed and validated once (the same limits as the schema's extensions), the operation
compiled once per (document, operation name, `@include`/`@skip` variable values), and each
request then binds its variables, runs one statement on the read pool and writes the bytes. Any
request it does not answer (None) goes to strawberry unchanged, which also produces every error:
a document or variable error, a refused argument, a bad token.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import strawberry
from graphql import (
    ArgumentNode,
    DirectiveNode,
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    VariableNode,
    specified_rules,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import Visitor, visit
from strawberry.types.arguments import convert_arguments

from app.config import Settings
from app.graphql import cost
from app.graphql.compiled import CompiledOperation, LeadMutation, Unsupported, compile_operation
from app.graphql.context import Context
from app.graphql.errors import LEAD_INPUT, user_errors
from app.graphql.mutations import LEAD_ACTIONS
from app.graphql.posture import posture_rules
from app.graphql.reads import Run
from app.graphql.schema import CACHE_SIZE, INTERNAL_MESSAGE, timeout_error, validated
from app.observability import metrics
from app.services import compiled_reads
from app.services.auth import Actor, AuthenticationError
from app.services.errors import Refused

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Document:
    node: DocumentNode
    operations: dict[str | None, OperationDefinitionNode]
    fragments: dict[str, FragmentDefinitionNode]
    # Variables that @include/@skip read: their values change which fields are selected.
    directive_variables: tuple[str, ...]
    # Variables that size a list: their values change the operation's cost.
    size_variables: tuple[str, ...]


class _DirectiveVariables(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: dict[str, None] = {}
        self.sizes: dict[str, None] = {}

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        if node.name.value in ("include", "skip"):
            for argument in node.arguments or ():
                if isinstance(argument.value, VariableNode):
                    self.names[argument.value.name.value] = None

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        if node.name.value in cost.SIZE_ARGUMENTS and isinstance(node.value, VariableNode):
            self.sizes[node.value.name.value] = None


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
    def __init__(self, schema: strawberry.Schema, settings: Settings) -> None:
        self.schema = schema._schema
        self.scalars = schema.schema_converter.scalar_registry
        self.config = schema.config
        self.settings = settings
        self._documents = _Lru(CACHE_SIZE)
        self._plans = _Lru(CACHE_SIZE)
        self._costs = _Lru(CACHE_SIZE)

    def _document(self, query: str) -> Document | None:
        if query in self._documents:
            self._documents.move_to_end(query)
            found: Document | None = self._documents[query]
            return found
        # The limits run in strawberry's order (app/graphql/schema.py: BoundedDocument), so a
        # hostile document costs this path no more than it costs strawberry's, which refuses it.
        try:
            node = cost.parse(query)
        except GraphQLError:
            return self._documents.put(query, None)  # type: ignore[no-any-return]
        # The rules strawberry validates this request with (Posture adds the settings'): one
        # validation serves both paths.
        rules = (*specified_rules, *posture_rules(self.settings))
        if cost.structure_errors(node) or validated(self.schema, query, node, rules):
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
        document = Document(
            node, operations, fragments, tuple(directives.names), tuple(directives.sizes)
        )
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
        if not self._affordable(query, document, operation_name, raw_variables):
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

    def _affordable(
        self,
        query: str,
        document: Document,
        operation_name: str | None,
        raw_variables: Mapping[str, Any],
    ) -> bool:
        """The operation's cost is within the limit (strawberry refuses it otherwise). The
        raw variables, as strawberry costs them."""
        sizes = tuple(raw_variables.get(name) for name in document.size_variables)
        try:
            key = (query, operation_name, sizes)
            hash(key)
        except TypeError:  # a list or object where a size goes: coercion refuses it
            return False
        if key not in self._costs:
            errors = cost.cost_errors(
                self.schema,
                document.node,
                operation_name,
                raw_variables,
                self.settings.max_query_cost,
            )
            self._costs.put(key, not errors)
        affordable: bool = self._costs[key]
        return affordable

    async def answer(
        self,
        body: Mapping[str, Any],
        *,
        reader: Callable[[], Awaitable[Actor | None]],
        loader: Callable[[Context], Awaitable[Actor | None]],
        fetch: compiled_reads.Fetch,
        context: Callable[[], Context],
        now: datetime,
        primary: compiled_reads.Fetch | None = None,
    ) -> bytes | None:
        """The response body for a compiled operation, or None for strawberry to answer it.
        A mutation reads its lead back with `primary` (default: `fetch`), where it just wrote.
        Queries read as `reader()` (a user's actor may be cached; a key's never is); mutations
        load the actor afresh in the request's `context()` (`loader`), as strawberry's path
        does. Credentials either refuses (AuthenticationError) are left to strawberry's path,
        which answers 401."""
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
        seconds = self.settings.request_timeout_seconds
        # The request deadline, as BoundedSchema.execute sets it on strawberry's path.
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await self._respond(
                    compiled, variables, reader, loader, fetch, context, now, primary or fetch
                )
        except TimeoutError:
            if not deadline.expired():
                raise
            log.info("compiled operation cancelled after %gs", seconds)
            metrics.count_errors(("TIMEOUT",))
            return orjson.dumps({"data": None, "errors": [timeout_error(seconds).formatted]})

    async def _respond(
        self,
        compiled: CompiledOperation,
        variables: VariableValues,
        reader: Callable[[], Awaitable[Actor | None]],
        loader: Callable[[Context], Awaitable[Actor | None]],
        fetch: compiled_reads.Fetch,
        context: Callable[[], Context],
        now: datetime,
        primary: compiled_reads.Fetch,
    ) -> bytes | None:
        if compiled.mutation is not None:
            try:
                data = await self._mutate(compiled.mutation, variables, loader, primary, context())
            except AuthenticationError:
                return None
            except Exception:
                # A bug: answered as strawberry masks one (its text stays in the log).
                log.exception("compiled mutation failed")
                metrics.count_errors(("INTERNAL",))
                return orjson.dumps(
                    {
                        "data": None,
                        "errors": [
                            {
                                "message": INTERNAL_MESSAGE,
                                "path": [compiled.mutation.key],
                                "extensions": {"code": "INTERNAL"},
                            }
                        ],
                    }
                )
            return None if data is None else orjson.dumps({"data": data}, default=str)
        try:
            actor = await reader()
        except AuthenticationError:
            return None  # unknown, inactive, revoked or expired: strawberry answers 401
        run = Run(actor=actor, now=now, settings=self.settings)
        try:
            sql, params, shape = compiled.prepare(run, variables)
        except Unsupported:
            return None
        try:
            row = (
                await fetch(sql, params, compiled_reads.tenant_of(actor))
                if sql is not None
                else None
            )
        except Exception:
            log.exception("compiled read failed; strawberry answers instead")
            return None
        return orjson.dumps({"data": shape(row)}, default=str)

    async def _mutate(
        self,
        mutation: LeadMutation,
        variables: VariableValues,
        loader: Callable[[Context], Awaitable[Actor | None]],
        fetch: compiled_reads.Fetch,
        context: Context,
    ) -> dict[str, Any] | None:
        """The mutation's service call in one transaction, as its resolver makes it; then the
        lead read back by one compiled statement."""
        try:
            arguments = convert_arguments(
                get_argument_values(mutation.field_def, mutation.node, variables),
                mutation.input_argument,
                scalar_registry=self.scalars,
                config=self.config,
            )
            context.actor = await loader(context)
            result = await context.transact(
                LEAD_ACTIONS[mutation.name](context, arguments["input"])
            )
            run = Run(actor=context.actor, now=context.now, settings=self.settings)
            if isinstance(result, Refused):
                payload = mutation.payload(None, user_errors(result, LEAD_INPUT), run)
            else:
                assert context.actor is not None
                record = await compiled_reads.read_lead(
                    fetch, mutation.projection, result.id, context.actor
                )
                payload = mutation.payload(record, [], run)
        finally:
            await context.close()
        return {mutation.key: payload}
