"""Customer search (R2): relevance, responsiveness visibility (R11), the similar-deals nudge
(R12), size preferences, filters, keyset pages, and nothing private in what it returns.

Each test builds its own corpus of profiles with made-up words ("zyxquantum") so the demo world's
published profiles, also in the test database, never decide an assertion."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
import strawberry
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.tools import merge_types

from app.config import Settings
from app.db import models
from app.domain.lifecycle import LeadOutcome, LeadStage, LeadType
from app.domain.reference import CompanySize
from app.domain.responsiveness import PRIOR_SCORE
from app.graphql.context import Context
from app.graphql.mutations import Mutation
from app.graphql.queries import Query
from app.graphql.search import SEARCH_LIMIT, SearchQuery
from app.ratelimit import RateLimiter
from app.services import search
from app.services.errors import ErrorCode, Refused
from app.services.profiles import refresh_search_document
from app.services.search import PreferenceMatch, SearchHit, SearchPage
from tests.factories import World, make_lead, make_profile, set_score

NOW = datetime.now(UTC)

async def run(session: AsyncSession, **kwargs: Any) -> SearchPage:
    page = await search.search_partners(session, now=NOW, **kwargs)
    assert not isinstance(page, Refused), page
    return page


def mine(page: SearchPage, *profiles: models.BusinessProfile) -> list[uuid.UUID]:
    ids = {p.id for p in profiles}
    return [hit.profile.id for hit in page.hits if hit.profile.id in ids]


def hit_for(page: SearchPage, profile: models.BusinessProfile) -> SearchHit:
    return next(hit for hit in page.hits if hit.profile.id == profile.id)


@pytest.fixture
async def corpus(session: AsyncSession, world: World) -> dict[str, models.BusinessProfile]:
    return {
        # the word in the name (A) and a keyword (B)
        "name": await make_profile(
            session, name="Zyxquantum Consulting", keywords=["zyxquantum", "cloud"]
        ),
        # a keyword (B)
        "keyword": await make_profile(session, name="Blue Yonder", keywords=["zyxquantum"]),
        # only in the description (C)
        "description": await make_profile(
            session, name="Green Field", description="We also do zyxquantum projects."
        ),
        # not at all
        "other": await make_profile(session, name="Unrelated Ltd", keywords=["payroll"]),
    }


async def test_relevance_orders_results_when_responsiveness_is_equal(
    session: AsyncSession, corpus: dict[str, models.BusinessProfile]
) -> None:
    page = await run(session, query="zyxquantum")
    order = mine(page, *corpus.values())
    assert order == [corpus["name"].id, corpus["keyword"].id, corpus["description"].id]
    relevances = [hit_for(page, corpus[k]).reasons.relevance for k in order_keys(corpus, order)]
    assert relevances == sorted(relevances, reverse=True) and relevances[-1] > 0
    for hit in page.hits:
        if hit.profile.id in order:
            assert hit.reasons.responsiveness_score == PRIOR_SCORE
            assert hit.reasons.similar_deals == pytest.approx(1.0)
            assert hit.rank == pytest.approx(
                hit.reasons.relevance * (0.5 + PRIOR_SCORE / 100) * hit.reasons.similar_deals
            )
    assert hit_for(page, corpus["name"]).reasons.matched_keywords == ["zyxquantum"]


def order_keys(corpus: dict[str, models.BusinessProfile], ids: list[uuid.UUID]) -> list[str]:
    by_id = {p.id: k for k, p in corpus.items()}
    return [by_id[i] for i in ids]


async def test_responsiveness_moves_a_partner_up_and_down(
    session: AsyncSession, corpus: dict[str, models.BusinessProfile]
) -> None:
    # The keyword match answers badly, the description match answers at once.
    await set_score(session, corpus["keyword"], 0)
    await set_score(session, corpus["description"], 100)
    page = await run(session, query="zyxquantum")
    assert order_keys(corpus, mine(page, *corpus.values())) == ["name", "description", "keyword"]
    hit = hit_for(page, corpus["description"])
    assert hit.reasons.responsiveness_score == 100
    assert hit.reasons.visibility == pytest.approx(1.5)
    assert hit_for(page, corpus["keyword"]).reasons.visibility == pytest.approx(0.5)

    # Better answers later: back up.
    await set_score(session, corpus["keyword"], 100)
    page = await run(session, query="zyxquantum")
    assert order_keys(corpus, mine(page, *corpus.values())) == ["name", "keyword", "description"]


async def test_no_query_lists_every_published_profile_ordered_by_visibility(
    session: AsyncSession, corpus: dict[str, models.BusinessProfile]
) -> None:
    await set_score(session, corpus["other"], 99)
    await set_score(session, corpus["keyword"], 1)
    page = await run(session, first=50)
    order = order_keys(corpus, mine(page, *corpus.values()))
    assert order[0] == "other" and order[-1] == "keyword" and len(order) == 4
    assert all(hit.reasons.relevance == 1 for hit in page.hits)
    assert all(hit.reasons.matched_keywords == [] for hit in page.hits)


async def test_size_preferences_exclude_a_partner_for_that_size_only(
    session: AsyncSession, world: World
) -> None:
    small_only = await make_profile(
        session, name="Small Only", keywords=["zyxsizes"], preferred_sizes=[CompanySize.SIZE_1_9]
    )
    every_size = await make_profile(session, name="Every Size", keywords=["zyxsizes"])
    mid = await make_profile(
        session,
        name="Mid Market",
        keywords=["zyxsizes"],
        preferred_sizes=[CompanySize.SIZE_51_250, CompanySize.SIZE_251_1000],
    )
    profiles = (small_only, every_size, mid)

    page = await run(session, query="zyxsizes", company_size=CompanySize.SIZE_51_250)
    assert set(mine(page, *profiles)) == {every_size.id, mid.id}
    assert hit_for(page, mid).reasons.matched_preferences == [PreferenceMatch.COMPANY_SIZE]
    assert hit_for(page, every_size).reasons.matched_preferences == []

    page = await run(session, query="zyxsizes", company_size=CompanySize.SIZE_1_9)
    assert set(mine(page, *profiles)) == {small_only.id, every_size.id}

    page = await run(session, query="zyxsizes")
    assert set(mine(page, *profiles)) == {p.id for p in profiles}

    # The partner updates the preference: shown again for that size.
    await session.execute(
        text("UPDATE business_profiles SET preferred_sizes = '{}' WHERE id = :id"),
        {"id": small_only.id},
    )
    page = await run(session, query="zyxsizes", company_size=CompanySize.SIZE_51_250)
    assert set(mine(page, *profiles)) == {p.id for p in profiles}


async def test_a_removed_keyword_stops_matching(session: AsyncSession, world: World) -> None:
    profile = await make_profile(
        session, name="Keyword Keeper", keywords=["zyxkeep", "zyxunwanted"]
    )
    page = await run(session, query="zyxunwanted")
    assert mine(page, profile) == [profile.id]
    assert hit_for(page, profile).reasons.matched_keywords == ["zyxunwanted"]

    await session.execute(
        text("UPDATE business_profiles SET keywords = ARRAY['zyxkeep'] WHERE id = :id"),
        {"id": profile.id},
    )
    await refresh_search_document(session, profile.id)
    assert mine(await run(session, query="zyxunwanted"), profile) == []
    assert mine(await run(session, query="zyxkeep"), profile) == [profile.id]


async def test_websearch_syntax_or_and_exclusion(session: AsyncSession, world: World) -> None:
    alpha = await make_profile(session, name="Alpha", keywords=["zyxalpha", "zyxshared"])
    beta = await make_profile(session, name="Beta", keywords=["zyxbeta", "zyxshared"])
    assert set(mine(await run(session, query="zyxalpha or zyxbeta"), alpha, beta)) == {
        alpha.id,
        beta.id,
    }
    assert mine(await run(session, query="zyxshared -zyxbeta"), alpha, beta) == [alpha.id]
    assert mine(await run(session, query="zyxalpha zyxbeta"), alpha, beta) == []
    # Stemming: the plural finds the singular keyword.
    assert mine(await run(session, query="zyxalphas"), alpha, beta) == [alpha.id]


async def test_filters_industry_solution_area_and_country(
    session: AsyncSession, world: World
) -> None:
    retail_us = await make_profile(
        session,
        name="Retail US",
        keywords=["zyxfilter"],
        industries=["Retail", "Manufacturing"],
        solution_areas=["Data & AI"],
        countries=["US"],
    )
    retail_de = await make_profile(
        session,
        name="Retail DE",
        keywords=["zyxfilter"],
        industries=["Retail"],
        solution_areas=["Security"],
        countries=["DE", "AT"],
    )
    health_de = await make_profile(
        session,
        name="Health DE",
        keywords=["zyxfilter"],
        industries=["Healthcare"],
        countries=["DE"],
    )
    profiles = (retail_us, retail_de, health_de)

    async def found(**kwargs: Any) -> set[uuid.UUID]:
        return set(mine(await run(session, query="zyxfilter", **kwargs), *profiles))

    assert await found(industry="retail") == {retail_us.id, retail_de.id}
    assert await found(country="de") == {retail_de.id, health_de.id}
    assert await found(country="AT") == {retail_de.id}
    assert await found(industry="Retail", country="DE") == {retail_de.id}
    assert await found(solution_area="data & ai") == {retail_us.id}
    assert await found(industry="Energy") == set()

    page = await run(session, query="zyxfilter", industry="Retail", country="DE")
    assert hit_for(page, retail_de).reasons.matched_preferences == [
        PreferenceMatch.INDUSTRY,
        PreferenceMatch.COUNTRY,
    ]
    assert hit_for(page, retail_de).profile.countries == ["AT", "DE"]
    # Filters without a query.
    page = await run(session, industry="Healthcare", country="DE", first=50)
    assert mine(page, *profiles) == [health_de.id]


async def test_pages_cover_every_result_once_in_rank_order(
    session: AsyncSession, world: World
) -> None:
    # Identical documents tie on rank: the id decides, across pages too.
    profiles = [
        await make_profile(session, name=f"Pager {i}", keywords=["zyxpager"], score=score)
        for i, score in enumerate([50, 50, 50, 80, 80, 20, 50])
    ]
    seen: list[SearchHit] = []
    after = None
    pages = 0
    while True:
        page = await run(session, query="zyxpager", first=3, after=after)
        pages += 1
        seen.extend(page.hits)
        assert page.has_previous_page == (after is not None)
        if not page.has_next_page:
            break
        after = page.hits[-1].cursor
    assert pages == 3
    ids = [hit.profile.id for hit in seen]
    assert len(ids) == len(set(ids)) == len(profiles)
    keys = [(-hit.rank, str(hit.profile.id)) for hit in seen]
    assert keys == sorted(keys)


async def test_pages_without_a_query_walk_every_published_profile(
    session: AsyncSession, world: World
) -> None:
    for i in range(3):
        await make_profile(session, name=f"Walker {i}", score=60)
    await make_profile(session, name="Hidden Walker", published=False)
    published = await session.scalar(
        select(func.count())
        .select_from(models.BusinessProfile)
        .where(models.BusinessProfile.published)
    )
    ids: list[uuid.UUID] = []
    after = None
    while True:
        page = await run(session, first=2, after=after)
        ids.extend(hit.profile.id for hit in page.hits)
        if not page.has_next_page:
            break
        after = page.hits[-1].cursor
    assert len(ids) == len(set(ids)) == published


async def test_unpublished_profiles_are_never_shown(session: AsyncSession, world: World) -> None:
    draft = await make_profile(session, name="Zyxdraft", keywords=["zyxdraft"], published=False)
    assert mine(await run(session, query="zyxdraft"), draft) == []
    assert mine(await run(session, first=50), draft) == []
    await session.execute(
        text("UPDATE business_profiles SET published = true WHERE id = :id"), {"id": draft.id}
    )
    assert mine(await run(session, query="zyxdraft"), draft) == [draft.id]


async def make_history(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    *,
    accepted: int = 0,
    declined: int = 0,
    **fields: Any,
) -> None:
    for _ in range(accepted):
        await make_lead(
            session,
            organisation_id=organisation_id,
            stage=LeadStage.ACCEPTED,
            received_at=NOW - timedelta(days=20),
            **fields,
        )
    for _ in range(declined):
        await make_lead(
            session,
            organisation_id=organisation_id,
            stage=LeadStage.ARCHIVED,
            outcome=LeadOutcome.DECLINED.value,
            decline_reason="NOT_A_FIT_FOR_EXPERTISE",
            responded_at=NOW - timedelta(days=19),
            received_at=NOW - timedelta(days=20),
            **fields,
        )


async def test_similar_deals_nudge_customer_search(session: AsyncSession, world: World) -> None:
    keen = await make_profile(session, name="Keen", keywords=["zyxnudge"], industries=["Retail"])
    picky = await make_profile(session, name="Picky", keywords=["zyxnudge"], industries=["Retail"])
    new = await make_profile(session, name="New", keywords=["zyxnudge"], industries=["Retail"])
    await make_history(
        session,
        keen.organisation_id,
        accepted=10,
        industry="Retail",
        type=LeadType.CUSTOMER_INQUIRY,
    )
    await make_history(
        session,
        picky.organisation_id,
        declined=10,
        industry="Retail",
        type=LeadType.CUSTOMER_INQUIRY,
    )
    page = await run(session, query="zyxnudge", industry="Retail")
    assert mine(page, keen, picky, new) == [keen.id, new.id, picky.id]
    assert 1.0 < hit_for(page, keen).reasons.similar_deals <= 1.1
    assert hit_for(page, new).reasons.similar_deals == pytest.approx(1.0)
    assert 0.9 <= hit_for(page, picky).reasons.similar_deals < 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"query": "x" * 201}, ["query"]),
        ({"first": 51}, ["first"]),
        ({"first": -1}, ["first"]),
        ({"after": "not-a-cursor"}, ["after"]),
        ({"after": "WyJzIiwiYSJd"}, ["after"]),  # ["s","a"]
        ({"country": "USA"}, ["filter", "country"]),
        ({"industry": "x" * 101}, ["filter", "industry"]),
    ],
)
async def test_bad_input_is_a_validation_error(
    session: AsyncSession, kwargs: dict[str, Any], field: list[str]
) -> None:
    refused = await search.search_partners(session, now=NOW, **kwargs)
    assert isinstance(refused, Refused)
    assert refused.errors[0].code is ErrorCode.VALIDATION
    assert list(refused.errors[0].field or ()) == field


async def test_a_cursor_from_another_search_is_refused(
    session: AsyncSession, corpus: dict[str, models.BusinessProfile]
) -> None:
    page = await run(session, query="zyxquantum", first=1)
    cursor = page.hits[0].cursor
    refused = await search.search_partners(session, query="cloud", after=cursor)
    assert isinstance(refused, Refused) and refused.errors[0].code is ErrorCode.VALIDATION
    # Same search, same cursor: fine.
    assert not isinstance(
        await search.search_partners(session, query="zyxquantum", after=cursor), Refused
    )


# --- GraphQL ------------------------------------------------------------------------------------

schema = strawberry.Schema(query=merge_types("Query", (Query, SearchQuery)), mutation=Mutation)

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
async def limiter(settings: Settings) -> Any:
    limiter = RateLimiter(settings.redis_url)
    yield limiter
    await limiter.close()


async def execute(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    limiter: RateLimiter,
    query: str,
    variables: dict[str, Any] | None = None,
    client_ip: str = "1.2.3.4",
) -> Any:
    context = Context(
        settings=settings,
        sessionmaker=sessionmaker,
        actor=None,
        limiter=limiter,
        client_ip=client_ip,
    )
    try:
        return await schema.execute(query, variable_values=variables, context_value=context)
    finally:
        await context.close()


async def test_graphql_search_returns_public_fields_only(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    limiter: RateLimiter,
    world: World,
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
    await make_history(session, profile.organisation_id, accepted=3, declined=1, industry="Retail")
    await session.commit()  # a savepoint release: the request's session sees it

    result = await execute(
        settings,
        sessionmaker,
        limiter,
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
        settings,
        sessionmaker,
        limiter,
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
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    limiter: RateLimiter,
    world: World,
) -> None:
    for i in range(3):
        await make_profile(session, name=f"Zyxgql {i}", keywords=["zyxgql"])
    await session.commit()
    ip = f"10.1.0.{uuid.uuid4().int % 250}"
    first = await execute(
        settings, sessionmaker, limiter, SEARCH, {"q": "zyxgql", "first": 2}, client_ip=ip
    )
    assert first.errors is None, first.errors
    info = first.data["searchPartners"]["pageInfo"]
    assert info["hasNextPage"] is True and info["hasPreviousPage"] is False
    second = await execute(
        settings,
        sessionmaker,
        limiter,
        SEARCH,
        {"q": "zyxgql", "first": 2, "after": info["endCursor"]},
        client_ip=ip,
    )
    names = [n["profile"]["name"] for n in first.data["searchPartners"]["nodes"]] + [
        n["profile"]["name"] for n in second.data["searchPartners"]["nodes"]
    ]
    assert sorted(names) == ["Zyxgql 0", "Zyxgql 1", "Zyxgql 2"]

    for variables in ({"first": 51}, {"q": "x" * 201}, {"after": "garbage"}):
        bad = await execute(settings, sessionmaker, limiter, SEARCH, variables, client_ip=ip)
        assert bad.data is None
        assert bad.errors[0].extensions["code"] == "VALIDATION"


async def test_graphql_search_is_rate_limited_per_client(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    limiter: RateLimiter,
    world: World,
) -> None:
    ip = f"rate-test-{uuid.uuid4().hex[:8]}"
    # The client has used up this window (and the next, in case the minute turns now).
    client = aioredis.from_url(settings.redis_url)
    try:
        window = int(time.time()) // SEARCH_LIMIT.window_seconds
        for w in (window, window + 1):
            await client.set(
                f"ratelimit:{SEARCH_LIMIT.name}:{ip}:{w}", SEARCH_LIMIT.per_window, ex=130
            )
        result = await execute(settings, sessionmaker, limiter, SEARCH, {"q": "x"}, client_ip=ip)
        assert result.data is None
        error = result.errors[0]
        assert error.extensions["code"] == "RATE_LIMITED"
        assert 1 <= error.extensions["retryAfterSeconds"] <= SEARCH_LIMIT.window_seconds
        # Another client is not affected.
        other = await execute(
            settings, sessionmaker, limiter, SEARCH, {"q": "x"}, client_ip=ip + "-other"
        )
        assert other.errors is None
    finally:
        await client.aclose()


async def test_graphql_search_counts_requests_up_to_the_limit(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    limiter: RateLimiter,
    world: World,
) -> None:
    ip = f"count-test-{uuid.uuid4().hex[:8]}"
    window = int(time.time()) // SEARCH_LIMIT.window_seconds
    if int(time.time()) % SEARCH_LIMIT.window_seconds > SEARCH_LIMIT.window_seconds - 5:
        await asyncio.sleep(6)  # start inside one window: the count must not reset half-way
        window += 1
    codes = []
    for _ in range(SEARCH_LIMIT.per_window + 1):
        result = await execute(
            settings,
            sessionmaker,
            limiter,
            "{ searchPartners(first: 0) { nodes { rank } } }",
            client_ip=ip,
        )
        codes.append(result.errors[0].extensions["code"] if result.errors else "OK")
    assert int(time.time()) // SEARCH_LIMIT.window_seconds == window
    assert codes == ["OK"] * SEARCH_LIMIT.per_window + ["RATE_LIMITED"]
