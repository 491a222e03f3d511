"""How failures reach clients: service paths become GraphQL paths in one place, and bugs are
masked as INTERNAL by their type, never by what their message says."""

from __future__ import annotations

import pytest
import strawberry
from graphql import GraphQLError

from app.graphql.errors import ARGUMENTS, INPUT, LEAD_INPUT, ArgumentPaths, query_error, user_errors
from app.graphql.schema import MaskBugs
from app.services.errors import ErrorCode, Refused, UserError

INTAKE = ArgumentPaths(under=("input",), renames={"profile_id": ("profileId",)})


@pytest.mark.parametrize(
    ("paths", "service_path", "graphql_path"),
    [
        (LEAD_INPUT, ("lead_id",), ["input", "id"]),
        (LEAD_INPUT, ("expected_version",), ["input", "expectedVersion"]),
        (LEAD_INPUT, ("estimated_value", "currency"), ["input", "estimatedValue", "currency"]),
        (LEAD_INPUT, ("team_members", "3", "email"), ["input", "teamMembers", "3", "email"]),
        (LEAD_INPUT, (), ["input"]),
        (INPUT, ("alerts_opted_out",), ["input", "alertsOptedOut"]),
        (ARGUMENTS, ("filter", "received_from"), ["filter", "receivedFrom"]),
        (ARGUMENTS, ("first",), ["first"]),
        (INTAKE, ("profile_id",), ["profileId"]),
        (INTAKE, ("company", "name"), ["input", "company", "name"]),
    ],
)
def test_service_paths_become_the_paths_the_client_sent(
    paths: ArgumentPaths, service_path: tuple[str, ...], graphql_path: list[str]
) -> None:
    # An empty path is a problem with the input as a whole ("change at least one field").
    refused = Refused([UserError(ErrorCode.VALIDATION, "is wrong", service_path)])
    [error] = user_errors(refused, paths)
    assert error.field == graphql_path
    assert error.code is ErrorCode.VALIDATION


def test_a_refusal_without_a_field_has_no_path() -> None:
    [error] = user_errors(Refused.one(ErrorCode.FORBIDDEN, "no"), LEAD_INPUT)
    assert error.field is None


def test_query_refusals_carry_code_and_mapped_field_in_extensions() -> None:
    error = query_error(Refused.one(ErrorCode.VALIDATION, "bad", "filter", "received_to"))
    assert isinstance(error, GraphQLError)
    assert error.extensions == {"code": "VALIDATION", "field": ["filter", "receivedTo"]}


@strawberry.type
class Faulty:
    @strawberry.field
    def bug(self) -> str:
        raise RuntimeError("password=hunter2 at /srv/app.py line 3")

    @strawberry.field
    def expected(self) -> str:
        raise GraphQLError("Internal server error", extensions={"code": "FORBIDDEN"})


FAULTY = strawberry.Schema(query=Faulty, extensions=[MaskBugs])


async def test_bugs_are_masked_as_internal_without_their_text() -> None:
    result = await FAULTY.execute("{ bug }")
    [error] = result.errors or []
    assert error.message == "Internal server error"
    assert error.extensions == {"code": "INTERNAL"}
    assert "hunter2" not in str(error.formatted)


async def test_an_expected_error_is_not_masked_whatever_its_message() -> None:
    result = await FAULTY.execute("{ expected }")
    [error] = result.errors or []
    assert error.extensions == {"code": "FORBIDDEN"}
