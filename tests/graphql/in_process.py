"""The served schema run in-process on a request context the test sets up: who calls, from which
address, at what time, with which rate limiter, inside the test's rolled-back transaction.

Holds no tests. (`gql` in conftest goes through HTTP, where the caller's address and the clock
are the transport's.)"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.types import ExecutionResult

from app.config import Settings
from app.graphql.context import Context
from app.graphql.schema import schema
from app.services.auth import Actor


async def execute_in_process(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    document: str,
    variables: dict[str, Any] | None = None,
    *,
    actor: Actor | None = None,
    **context: Any,
) -> ExecutionResult:
    """`context`: the Context's other fields (`limiter`, `client_ip`, `now`, ...)."""
    request = Context(settings=settings, sessionmaker=sessionmaker, actor=actor, **context)
    try:
        return await schema.execute(document, variable_values=variables, context_value=request)
    finally:
        await request.close()


def data_of(result: ExecutionResult) -> dict[str, Any]:
    """The response's data, once it is known to have no errors."""
    assert result.errors is None, result.errors
    assert result.data is not None
    return result.data
