"""The strawberry Schema, with the limits that keep one request from hurting the service."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema
from strawberry.extensions import MaskErrors, SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from app.config import MAX_QUERY_COST, REQUEST_TIMEOUT_SECONDS, Settings
from app.graphql import cost
from app.graphql.activities import ActivityMutation
from app.graphql.api_keys import ApiKeyMutation, ApiKeyQuery
from app.graphql.bulk import BulkMutation
from app.graphql.changes import ChangesQuery
from app.graphql.context import Context
from app.graphql.intake import IntakeMutation, IntakeQuery
from app.graphql.lead_views import LeadViewMutation, LeadViewQuery
from app.graphql.mutations import Mutation as LeadMutation
from app.graphql.nodes import NodeQuery
from app.graphql.notifications import NotificationMutation, NotificationQuery
from app.graphql.owners import RoutingMutation, RoutingQuery
from app.graphql.pipeline import PipelineQuery
from app.graphql.posture import Posture, Schema
from app.graphql.preferences import PreferencesMutation, PreferencesQuery
from app.graphql.privacy import PrivacyMutation, PrivacyQuery
from app.graphql.profiles import ProfileMutation, ProfileQuery
from app.graphql.queries import Query as LeadQuery
from app.graphql.reference import ReferenceQuery
from app.graphql.search import SearchQuery
from app.graphql.subscriptions import Subscription
from app.graphql.webhooks import WebhookMutation, WebhookQuery

Query = merge_types(
    "Query",
    (
        LeadQuery,
        NotificationQuery,
        WebhookQuery,
        SearchQuery,
        ProfileQuery,
        IntakeQuery,
        ApiKeyQuery,
        ChangesQuery,
        LeadViewQuery,
        PipelineQuery,
        PrivacyQuery,
        RoutingQuery,
        PreferencesQuery,
        NodeQuery,
        ReferenceQuery,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        LeadMutation,
        BulkMutation,
        NotificationMutation,
        WebhookMutation,
        ProfileMutation,
        IntakeMutation,
        ApiKeyMutation,
        LeadViewMutation,
        ActivityMutation,
        PrivacyMutation,
        RoutingMutation,
        PreferencesMutation,
    ),
)

INTERNAL_MESSAGE = "Internal server error"

log = logging.getLogger(__name__)


def _is_bug(error: GraphQLError) -> bool:
    """Expected failures are raised as GraphQLError (or are document errors, which have no
    original error); anything else escaping a resolver is a bug whose text stays on the server."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


class MaskBugs(MaskErrors):
    """Bugs reach clients as "Internal server error" with `extensions.code = INTERNAL`; their
    text stays in the server's log."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=_is_bug, error_message=INTERNAL_MESSAGE)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        masked = super().anonymise_error(error)
        masked.extensions = {"code": "INTERNAL"}
        return masked


class ReleaseSession(SchemaExtension):
    """Return the request's connection to the pool as soon as the operation is done."""

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        finally:
            context = self.execution_context.context
            if isinstance(context, Context):
                await context.close()


CACHE_SIZE = 1024  # distinct documents: SPAs and tools send a small, fixed set


class BoundedDocument(SchemaExtension):
    """The limits of app/graphql/cost.py, each before the step it protects: nesting and tokens
    while parsing, the document's shape before the standard rules (whose overlapping-fields rule
    is quadratic), the cost before execution. A refusal raised here is the response's only
    error. It parses too (cost.parse, cached as strawberry's ParserCache would) so that a token
    flood is refused with the limit's code rather than as a syntax error, and validates (once
    per distinct document, as strawberry's ValidationCache would, for both paths)."""

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None:
            self.execution_context.graphql_document = cost.parse(query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document, query = context.graphql_document, context.query
        if document is not None:
            errors = (
                cost.structure_errors(document)
                if query is None
                else by_text(_STRUCTURE, query, lambda: cost.structure_errors(document))
            )
            if errors:
                raise errors[0]
            if query is not None:
                # The validation cache's work, shared with the compiled path (`validated`).
                context.pre_execution_errors = validated(
                    context.schema._schema, query, document, context.validation_rules
                )
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        settings = getattr(context.context, "settings", None)
        limit = settings.max_query_cost if isinstance(settings, Settings) else MAX_QUERY_COST
        if context.graphql_document is not None and (
            errors := cost.cost_errors(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
                limit,
            )
        ):
            raise errors[0]
        yield


# What a document's text always gives the same answer to, kept per distinct text (and rule
# set) for the whole process: both execution paths and every app in it share one validation of
# a document. Keyed by the text, not by the parsed document: a node's hash walks its whole tree
# on every request (graphql-core's nodes are frozen dataclasses).
_STRUCTURE: OrderedDict[Any, list[GraphQLError]] = OrderedDict()
_VALIDATION: OrderedDict[Any, list[GraphQLError]] = OrderedDict()


def by_text(
    cache: OrderedDict[Any, list[GraphQLError]],
    key: Any,
    check: Callable[[], list[GraphQLError]],
) -> list[GraphQLError]:
    """`check()`'s errors, kept under `key` (a document's text, and what else decides them)."""
    errors = cache.get(key)
    if errors is None:
        errors = cache[key] = check()
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return errors


def validated(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
) -> list[GraphQLError]:
    """strawberry's validation of `document` (parsed from `query`) under `rules` (the standard
    rules and the request's posture rules; strawberry adds two of its own)."""
    return by_text(
        _VALIDATION, (schema, query, rules), lambda: validate_document(schema, document, rules)
    )


TIMEOUT = "TIMEOUT"


def timeout_error(seconds: float) -> GraphQLError:
    return GraphQLError(
        f"the operation took longer than {seconds:g} seconds and was cancelled",
        extensions={"code": TIMEOUT},
    )


class BoundedSchema(Schema):
    """Queries and mutations run under the request deadline (REQUEST_TIMEOUT_SECONDS): past it
    the operation is cancelled, so its transaction rolls back (Context.transact) and its
    connection goes back to the pool (ReleaseSession), and the client gets TIMEOUT."""

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        settings = getattr(context_value, "settings", None)
        seconds = (
            settings.request_timeout_seconds
            if isinstance(settings, Settings)
            else REQUEST_TIMEOUT_SECONDS
        )
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                return await super().execute(
                    query,
                    variable_values,
                    context_value,
                    root_value,
                    operation_name,
                    allowed_operation_types,
                    operation_extensions,
                )
        except TimeoutError:
            if not deadline.expired():
                raise
            log.info("operation cancelled after %gs (%s)", seconds, operation_name or "anonymous")
            return ExecutionResult(data=None, errors=[timeout_error(seconds)])


schema = BoundedSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        ReleaseSession,
        Posture,
        # It parses and validates (both cached), and may refuse before validating.
        BoundedDocument,
        MaskBugs,
    ],
)
