"""The strawberry Schema, with the limits that keep one request from hurting the service."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.tools import merge_types

from app.graphql.context import Context
from app.graphql.intake import IntakeMutation, IntakeQuery
from app.graphql.mutations import Mutation as LeadMutation
from app.graphql.notifications import NotificationMutation, NotificationQuery
from app.graphql.posture import Posture, Schema
from app.graphql.profiles import ProfileMutation, ProfileQuery
from app.graphql.queries import Query as LeadQuery
from app.graphql.search import SearchQuery
from app.graphql.subscriptions import Subscription
from app.graphql.webhooks import WebhookMutation, WebhookQuery

Query = merge_types(
    "Query",
    (LeadQuery, NotificationQuery, WebhookQuery, SearchQuery, ProfileQuery, IntakeQuery),
)
Mutation = merge_types(
    "Mutation",
    (LeadMutation, NotificationMutation, WebhookMutation, ProfileMutation, IntakeMutation),
)

INTERNAL_MESSAGE = "Internal server error"


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


# The limit rules are built once: the validation cache is keyed by the rule classes, and a fresh
# limiter per request would miss it every time (about 3 ms per request per limiter).
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=12).validation_rules,
    *MaxAliasesLimiter(max_alias_count=30).validation_rules,
]
CACHE_SIZE = 1024  # distinct documents: SPAs and tools send a small, fixed set
MAX_TOKENS = 5000

schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        ReleaseSession,
        Posture,
        lambda: ParserCache(maxsize=CACHE_SIZE),
        lambda: ValidationCache(maxsize=CACHE_SIZE),
        lambda: AddValidationRules(LIMIT_RULES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        MaskBugs,
    ],
)
