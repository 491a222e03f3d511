"""Which operation a request runs, before strawberry runs it: a query may read on a replica,
anything else (or a document that does not say) reads where it writes; and its name, for the
request's metrics and log lines. The parse is cached and shared with strawberry's."""

from __future__ import annotations

from graphql import GraphQLError, OperationDefinitionNode, get_operation_ast
from strawberry.types.graphql import OperationType

from app.graphql import cost


def operation_of(query: str | None, operation_name: str | None) -> OperationDefinitionNode | None:
    """The operation the request runs; None when the document does not parse or name one
    (strawberry then answers with the error)."""
    if not query:
        return None
    try:
        document = cost.parse(query)
    except GraphQLError:
        return None
    return get_operation_ast(document, operation_name)


def operation_type(query: str | None, operation_name: str | None) -> OperationType | None:
    operation = operation_of(query, operation_name)
    return OperationType(operation.operation.value) if operation is not None else None
