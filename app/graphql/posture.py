"""What the schema tells strangers, and what its errors leave in the log.

Settings decide per request (the schema is built once per process, apps with other settings
share it): introspection is refused by a validation rule added to the request's rules, so the
validation cache keys it apart; expected errors are logged as one line, bugs with their
traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import strawberry
from graphql import GraphQLError
from graphql.validation import (
    ASTValidationRule,
    NoSchemaIntrospectionCustomRule,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from app.config import Settings
from app.graphql.context import Context

log = logging.getLogger("app.graphql.errors")


def is_bug(error: GraphQLError) -> bool:
    """Expected failures are GraphQLErrors (or document errors, which have no original error);
    anything else that escaped is a bug."""
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError)


def error_code(error: GraphQLError) -> str:
    code = (error.extensions or {}).get("code")
    if isinstance(code, str):
        return code
    return "INTERNAL" if is_bug(error) else "VALIDATION"


class NoSuggestions(ValidationRule):
    """Checks nothing: it takes "Did you mean ...?" off the other rules' errors (suggestions
    map the schema for whoever asks) as they are reported."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        report = context.on_error

        def without_suggestions(error: GraphQLError) -> None:
            error.message = strip_suggestions(error.message)
            report(error)

        # graphql-core itself sets `on_error` per instance; so does this.
        vars(context)["on_error"] = without_suggestions


def posture_rules(settings: Settings) -> tuple[type[ASTValidationRule], ...]:
    """The validation rules these settings add (the compiled path validates with them too)."""
    added: list[type[ASTValidationRule]] = []
    if not settings.introspection_enabled:
        added.append(NoSchemaIntrospectionCustomRule)
    if not settings.suggestions_enabled:
        added.append(NoSuggestions)
    return tuple(added)


class Posture(SchemaExtension):
    """Introspection and "Did you mean ...?" suggestions off where the settings say so
    (production by default), for HTTP and websocket operations alike."""

    def _settings(self) -> Settings | None:
        context = self.execution_context.context
        return context.settings if isinstance(context, Context) else None

    def on_operation(self) -> Iterator[None]:
        settings = self._settings()
        if settings is not None:
            # Rules of the request: the validation cache keys each rule set apart.
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                *posture_rules(settings),
            )
        yield


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: Iterable[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if is_bug(error):
                log.error("%s (path %s)", error.message, error.path, exc_info=error.original_error)
            else:
                # A client's mistake or a refusal: one line, no traceback.
                log.info("%s: %s (path %s)", error_code(error), error.message, error.path)


def strip_suggestions(message: str) -> str:
    """'Cannot query field "x" on type "Query". Did you mean "y"?' without its last sentence."""
    head, found, _ = message.partition(" Did you mean ")
    return head if found else message
