"""Customer search (R2) and partner suggestions (R12) over GraphQL: public fields only, pages,
typed errors with the argument paths clients sent, and the per-client rate limit."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.types import ExecutionResult

from app.config import Settings
from app.domain.reference import CompanySize
from app.graphql.search import SEARCH_LIMIT
from app.ratelimit import RateLimiter
from app.services.auth import Actor, load_actor
from tests.factories import World, make_profile
from tests.graphql.in_process import execute_in_process
from tests.lead_history import answered

SEARCH = """
query($q: String, $filter: PartnerSearchFilter, $first: Int, $after: String) {
  searchPartners(query: $q, filter: $filter, first: $first, after: $after) {
    edges { cursor node { rank } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes {
      rank
      reasons {
        relevance responsivenessScore visibility similarDeals matchedPreferences matchedKeywords
      }
      profile {
        id name description website keywords industries solutionAreas preferredSizes
        competencies endorsements countries responsivenessScore
      }
    }
  }
}
"""


@pytest.fixture
async def limiter(settings: Settings) -> AsyncIterator[RateLimiter]:
    limiter = RateLimiter(settings.redis_url)
    yield limiter
    await limiter.close()


Execute = Callable[..., Awaitable[ExecutionResult]]


@pytest.fixture
def execute(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], limiter: RateLimiter
) -> Execute:
    """`await execute(document, variables, client_ip=..., actor=...)`: anonymous by default."""

    async def run(
        document: str,
        variables: dict[str, Any] | None = None,
        *,
        client_ip: str = "1.2.3.4",
        actor: Actor | None = None,
    ) -> ExecutionResult:
        return await execute_in_process(
            settings,
            sessionmaker,
            document,
            variables,
            actor=actor,
            limiter=limiter,
            client_ip=client_ip,
        )

    return run


async def test_graphql_search_returns_public_fields_only(
    execute: Execute, session: AsyncSession, world: World
) -> None:
    profile = await make_profile(
        session,
        name="Zyxpublic Partners",
        keywords=["zyxpublic"],
        description="Public words.",
        industries=["Retail"],
        solution_areas=["Security"],
        preferred_sizes=[CompanySize.SIZE_51_250],
        competencies=["Azure"],
        countries=["US", "CA"],
        score=73.5,
    )
    await answered(session, profile.organisation_id, "ACCEPTED", 3, industry="Retail")
    await answered(session, profile.organisation_id, "DECLINED", 1, industry="Retail")
    await session.commit()  # a savepoint release: the request's session sees it

    result = await execute(
        SEARCH,
        {"q": "zyxpublic", "filter": {"companySize": "SIZE_51_250", "country": "us"}},
        client_ip=f"10.0.0.{uuid.uuid4().int % 250}",
    )
    assert result.errors is None, result.errors
    connection = result.data["searchPartners"]
    assert len(connection["nodes"]) == 1
    node = connection["nodes"][0]
    assert node["profile"] == {
        "id": str(profile.id),
        "name": "Zyxpublic Partners",
        "description": "Public words.",
        "website": profile.website,
        "keywords": ["zyxpublic"],
        "industries": ["Retail"],
        "solutionAreas": ["Security"],
        "preferredSizes": ["SIZE_51_250"],
        "competencies": ["Azure"],
        "endorsements": ["Gold partner"],
        "countries": ["CA", "US"],
        "responsivenessScore": 73.5,
    }
    assert node["reasons"]["responsivenessScore"] == 73.5
    assert node["reasons"]["matchedPreferences"] == ["COMPANY_SIZE", "COUNTRY"]
    assert node["reasons"]["matchedKeywords"] == ["zyxpublic"]
    assert connection["edges"][0]["node"]["rank"] == node["rank"]
    assert connection["pageInfo"]["hasNextPage"] is False

    # Nothing private anywhere in the answer: no contacts, opt-outs, score parts or leads.
    raw = json.dumps(result.data)
    for secret in ("secret.example", "555 0199", "0.123", "45.6", "0.789", "Adatum", "ana@"):
        assert secret not in raw

    # And the types cannot carry it: their fields are exactly these.
    introspection = await execute(
        '{ p: __type(name: "PublicProfile") { fields { name } } '
        'r: __type(name: "RankReasons") { fields { name } } }',
    )
    assert {f["name"] for f in introspection.data["p"]["fields"]} == {
        "id",
        "name",
        "description",
        "website",
        "keywords",
        "industries",
        "solutionAreas",
        "preferredSizes",
        "competencies",
        "endorsements",
        "countries",
        "responsivenessScore",
    }
    assert {f["name"] for f in introspection.data["r"]["fields"]} == {
        "relevance",
        "responsivenessScore",
        "visibility",
        "similarDeals",
        "matchedPreferences",
        "matchedKeywords",
    }


async def test_graphql_search_pages_and_typed_errors(
    execute: Execute, session: AsyncSession, world: World
) -> None:
    for i in range(3):
        await make_profile(session, name=f"Zyxgql {i}", keywords=["zyxgql"])
    await session.commit()
    ip = f"10.1.0.{uuid.uuid4().int % 250}"
    first = await execute(SEARCH, {"q": "zyxgql", "first": 2}, client_ip=ip)
    assert first.errors is None, first.errors
    info = first.data["searchPartners"]["pageInfo"]
    assert info["hasNextPage"] is True and info["hasPreviousPage"] is False
    second = await execute(
        SEARCH,
        {"q": "zyxgql", "first": 2, "after": info["endCursor"]},
        client_ip=ip,
    )
    names = [n["profile"]["name"] for n in first.data["searchPartners"]["nodes"]] + [
        n["profile"]["name"] for n in second.data["searchPartners"]["nodes"]
    ]
    assert sorted(names) == ["Zyxgql 0", "Zyxgql 1", "Zyxgql 2"]

    for variables in ({"first": 51}, {"q": "x" * 201}, {"after": "garbage"}):
        bad = await execute(SEARCH, variables, client_ip=ip)
        assert bad.data is None
        assert bad.errors[0].extensions["code"] == "VALIDATION"


async def test_graphql_search_is_rate_limited_per_client(
    execute: Execute, limiter: RateLimiter, world: World
) -> None:
    ip = f"rate-test-{uuid.uuid4().hex[:8]}"
    # The client has used up its window.
    for _ in range(SEARCH_LIMIT.per_window):
        assert (await limiter.hit(SEARCH_LIMIT, ip)).allowed
    result = await execute(SEARCH, {"q": "x"}, client_ip=ip)
    assert result.data is None
    error = result.errors[0]
    assert error.extensions["code"] == "RATE_LIMITED"
    assert 1 <= error.extensions["retryAfterSeconds"] <= SEARCH_LIMIT.window_seconds
    # Another client is not affected.
    other = await execute(SEARCH, {"q": "x"}, client_ip=ip + "-other")
    assert other.errors is None


async def test_graphql_search_counts_requests_up_to_the_limit(
    execute: Execute, world: World
) -> None:
    # A moving window: every request of the last minute counts, wherever the clock's minute
    # turns, so the limit is reached exactly at the (per_window + 1)th request.
    ip = f"count-test-{uuid.uuid4().hex[:8]}"
    codes = []
    for _ in range(SEARCH_LIMIT.per_window + 1):
        result = await execute(
            "{ searchPartners(first: 0) { nodes { rank } } }",
            client_ip=ip,
        )
        codes.append(result.errors[0].extensions["code"] if result.errors else "OK")
    assert codes == ["OK"] * SEARCH_LIMIT.per_window + ["RATE_LIMITED"]


SUGGEST = """
query($need: LeadNeedInput!, $first: Int) {
  suggestPartners(need: $need, first: $first) {
    score reasons profile { id name keywords countries responsivenessScore }
  }
}
"""


async def test_graphql_suggest_partners(
    execute: Execute, session: AsyncSession, world: World
) -> None:
    profile = await make_profile(
        session, name="Zyxgraph Partner", keywords=["zyxgraph"], industries=["Retail"]
    )
    await answered(session, profile.organisation_id, "ACCEPTED", 2, industry="Retail")
    await session.commit()

    async def run(user: uuid.UUID | None, first: int = 20) -> Any:
        need = {"description": "zyxgraph", "industry": "Retail"}
        who = await load_actor(session, user) if user else None
        return await execute(SUGGEST, {"need": need, "first": first}, actor=who)

    result = await run(world.seller)
    assert result.errors is None, result.errors
    top = result.data["suggestPartners"][0]
    assert top["profile"]["id"] == str(profile.id)
    assert "accepted 2 of 2 Retail leads" in top["reasons"]
    assert 0 < top["score"] <= 1

    for user, code in (
        (None, "UNAUTHENTICATED"),
        (world.fabrikam.partner_admin, "FORBIDDEN"),
    ):
        refused = await run(user)
        assert refused.data is None
        assert refused.errors[0].extensions["code"] == code
    bad = await run(world.marketer, first=100)
    assert bad.errors[0].extensions["code"] == "VALIDATION"


@pytest.mark.parametrize(
    ("document", "variables", "field"),
    [
        (SEARCH, {"q": "x" * 201}, ["query"]),
        (SEARCH, {"first": 51}, ["first"]),
        (SEARCH, {"after": "garbage"}, ["after"]),
        (SEARCH, {"filter": {"country": "USA"}}, ["filter", "country"]),
        (SEARCH, {"filter": {"industry": "x" * 101}}, ["filter", "industry"]),
        (SEARCH, {"filter": {"solutionArea": "x" * 101}}, ["filter", "solutionArea"]),
        (SUGGEST, {"need": {"description": "x" * 2001}}, ["need", "description"]),
        (SUGGEST, {"need": {"solutionArea": "x" * 101}}, ["need", "solutionArea"]),
        (SUGGEST, {"need": {"country": "USA"}}, ["need", "country"]),
        (SUGGEST, {"need": {}, "first": 0}, ["first"]),
    ],
)
async def test_graphql_errors_name_the_arguments_clients_sent(
    execute: Execute,
    session: AsyncSession,
    world: World,
    document: str,
    variables: dict[str, Any],
    field: list[str],
) -> None:
    seller = await load_actor(session, world.seller)
    ip = f"paths-{uuid.uuid4().hex[:8]}"
    result = await execute(document, variables, client_ip=ip, actor=seller)
    assert result.data is None
    assert result.errors[0].extensions == {"code": "VALIDATION", "field": field}


PROFILE = """query($id: ID!) {
  profile(id: $id) {
    id name description website keywords industries solutionAreas preferredSizes
    competencies endorsements countries responsivenessScore
  }
}"""


async def test_a_partners_page_is_its_published_profile_as_search_shows_it(
    execute: Execute, session: AsyncSession, world: World
) -> None:
    profile = await make_profile(
        session,
        name="Pagepartner Ltd",
        keywords=["pagepartner"],
        description="Seen on its own page.",
        industries=["Retail"],
        countries=["BR", "PT"],
        score=61.0,
    )
    hidden = await make_profile(session, name="Unpublished Ltd", published=False)
    await session.commit()
    ip = f"10.1.0.{uuid.uuid4().int % 250}"
    page = await execute(PROFILE, {"id": str(profile.id)}, client_ip=ip)
    search = await execute(SEARCH, {"q": "pagepartner"}, client_ip=ip)
    assert page.errors is None and search.errors is None, (page.errors, search.errors)
    [found] = search.data["searchPartners"]["nodes"]
    assert page.data["profile"] == found["profile"]
    assert page.data["profile"]["countries"] == ["BR", "PT"]
    assert page.data["profile"]["responsivenessScore"] == 61.0
    # Unpublished, unknown or not an id at all: nothing, the same way for each.
    for missing in (str(hidden.id), str(uuid.uuid4()), "not-an-id"):
        result = await execute(PROFILE, {"id": missing}, client_ip=ip)
        assert (result.errors, result.data) == (None, {"profile": None}), missing


async def test_a_partners_page_counts_against_the_search_budget(
    execute: Execute, limiter: RateLimiter, world: World
) -> None:
    ip = f"page-test-{uuid.uuid4().hex[:8]}"
    for _ in range(SEARCH_LIMIT.per_window):
        assert (await limiter.hit(SEARCH_LIMIT, ip)).allowed
    result = await execute(PROFILE, {"id": str(uuid.uuid4())}, client_ip=ip)
    assert result.data == {"profile": None}
    assert [e.extensions["code"] for e in result.errors] == ["RATE_LIMITED"]
