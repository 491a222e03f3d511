"""Which kind of operation a request runs, before strawberry runs it: a query may read on a
replica, anything else (or a document that does not say) reads where it writes."""

from __future__ import annotations

from graphql import GraphQLError, get_operation_ast
from strawberry.types.graphql import OperationType

from app.graphql import cost


def operation_type(query: str | None, operation_name: str | None) -> OperationType | None:
    """The operation's type; None when the document does not parse or name one (strawberry
    then answers with the error). The parse is cached and shared with strawberry's."""
    if not query:
        return None
    try:
        document = cost.parse(query)
    except GraphQLError:
        return None
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return None
    return OperationType(operation.operation.value)
