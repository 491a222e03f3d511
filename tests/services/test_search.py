"""Customer search (R2): relevance, responsiveness visibility (R11), the similar-deals nudge
(R12), size preferences, filters, keyset pages, and the refusals naming the argument that was
wrong. Over GraphQL: tests/graphql/test_search.py.

Each test builds its own corpus of profiles with made-up words ("zyxquantum") so the demo world's
published profiles, also in the test database, never decide an assertion."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadType
from app.domain.reference import CompanySize
from app.domain.responsiveness import PRIOR_SCORE
from app.services import search
from app.services.errors import ErrorCode, Refused
from app.services.paging import Page
from app.services.profiles import refresh_search_document
from app.services.search import PreferenceMatch, SearchFilter, SearchHit
from tests.factories import World, make_profile, set_score
from tests.lead_history import answered

NOW = datetime.now(UTC)
FILTER_FIELDS = {"company_size", "industry", "country", "solution_area"}


async def search_with(session: AsyncSession, **kwargs: Any) -> Page[SearchHit] | Refused:
    """`search_partners` with the filter's fields given as keywords too."""
    customer = {name: kwargs.pop(name) for name in FILTER_FIELDS & kwargs.keys()}
    return await search.search_partners(session, filter=SearchFilter(**customer), now=NOW, **kwargs)


async def run(session: AsyncSession, **kwargs: Any) -> Page[SearchHit]:
    page = await search_with(session, **kwargs)
    assert not isinstance(page, Refused), page
    return page


def mine(page: Page[SearchHit], *profiles: models.BusinessProfile) -> list[uuid.UUID]:
    ids = {p.id for p in profiles}
    return [hit.profile.id for hit in page.items if hit.profile.id in ids]


def hit_for(page: Page[SearchHit], profile: models.BusinessProfile) -> SearchHit:
    return next(hit for hit in page.items if hit.profile.id == profile.id)


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
    for hit in page.items:
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
    assert all(hit.reasons.relevance == 1 for hit in page.items)
    assert all(hit.reasons.matched_keywords == [] for hit in page.items)


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
    # name: (industries, solution areas, countries); each has the keyword zyxfilter
    kinds = {
        "Retail US": (["Retail", "Manufacturing"], ["Data & AI"], ["US"]),
        "Retail DE": (["Retail"], ["Security"], ["DE", "AT"]),
        "Health DE": (["Healthcare"], [], ["DE"]),
    }
    profiles = [
        await make_profile(
            session,
            name=name,
            keywords=["zyxfilter"],
            industries=industries,
            solution_areas=areas,
            countries=countries,
        )
        for name, (industries, areas, countries) in kinds.items()
    ]
    retail_us, retail_de, health_de = profiles

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
        seen.extend(page.items)
        assert page.has_previous_page == (after is not None)
        if not page.has_next_page:
            break
        after = page.cursors[-1]
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
        ids.extend(hit.profile.id for hit in page.items)
        if not page.has_next_page:
            break
        after = page.cursors[-1]
    assert len(ids) == len(set(ids)) == published


async def test_unpublished_profiles_are_never_shown(session: AsyncSession, world: World) -> None:
    draft = await make_profile(session, name="Zyxdraft", keywords=["zyxdraft"], published=False)
    assert mine(await run(session, query="zyxdraft"), draft) == []
    assert mine(await run(session, first=50), draft) == []
    await session.execute(
        text("UPDATE business_profiles SET published = true WHERE id = :id"), {"id": draft.id}
    )
    assert mine(await run(session, query="zyxdraft"), draft) == [draft.id]


async def test_similar_deals_nudge_customer_search(session: AsyncSession, world: World) -> None:
    keen = await make_profile(session, name="Keen", keywords=["zyxnudge"], industries=["Retail"])
    picky = await make_profile(session, name="Picky", keywords=["zyxnudge"], industries=["Retail"])
    new = await make_profile(session, name="New", keywords=["zyxnudge"], industries=["Retail"])
    inquiries = {"industry": "Retail", "type": LeadType.CUSTOMER_INQUIRY}
    await answered(session, keen.organisation_id, "ACCEPTED", 10, **inquiries)
    await answered(session, picky.organisation_id, "DECLINED", 10, **inquiries)
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
        ({"solution_area": "x" * 101}, ["filter", "solution_area"]),
        ({"country": " "}, ["filter", "country"]),
    ],
)
async def test_bad_input_is_a_validation_error(
    session: AsyncSession, kwargs: dict[str, Any], field: list[str]
) -> None:
    refused = await search_with(session, **kwargs)
    assert isinstance(refused, Refused)
    assert refused.errors[0].code is ErrorCode.VALIDATION
    assert list(refused.errors[0].field or ()) == field


async def test_a_cursor_from_another_search_is_refused(
    session: AsyncSession, corpus: dict[str, models.BusinessProfile]
) -> None:
    page = await run(session, query="zyxquantum", first=1)
    cursor = page.cursors[0]
    refused = await search.search_partners(session, query="cloud", after=cursor)
    assert isinstance(refused, Refused) and refused.errors[0].code is ErrorCode.VALIDATION
    # Same search, same cursor: fine.
    assert not isinstance(
        await search.search_partners(session, query="zyxquantum", after=cursor), Refused
    )
