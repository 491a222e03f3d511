"""The strawberry Schema, with the limits that keep one request from hurting the service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from functools import lru_cache
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    SchemaExtension,
    ValidationCache,
)
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
from app.graphql.reference import ReferenceQuery
from app.graphql.pipeline import PipelineQuery
from app.graphql.posture import Posture, Schema
from app.graphql.preferences import PreferencesMutation, PreferencesQuery
from app.graphql.privacy import PrivacyMutation, PrivacyQuery
from app.graphql.profiles import ProfileMutation, ProfileQuery
from app.graphql.queries import Query as LeadQuery
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
    flood is refused with the limit's code rather than as a syntax error."""

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query
        if query is not None:
            self.execution_context.graphql_document = cost.parse(query)
        yield

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        if document is not None and (errors := _structure_errors(document)):
            raise errors[0]
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


# Keyed by the parsed document, which the parser cache hands out once per distinct text.
_structure_errors = lru_cache(maxsize=CACHE_SIZE)(cost.structure_errors)

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
        # It parses (cached), and its hooks run before the validation cache's: it may refuse.
        BoundedDocument,
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        MaskBugs,
    ],
)
