"""Similar deals (R12): affinity learned from accepts and declines, and partner suggestions for
sellers and marketers. Over GraphQL: tests/graphql/test_search.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from app.domain.reference import CompanySize
from app.domain.responsiveness import PRIOR_SCORE
from app.services import affinity_counts, matching
from app.services.auth import Actor, load_actor
from app.services.errors import ErrorCode, Refused
from app.services.matching import LeadNeed, Suggestion
from tests.factories import World, make_lead, make_partner, make_profile, set_score
from tests.lead_history import answered

NOW = datetime.now(UTC)


def expected_share(acc: int, n: int, p: float) -> float:
    return (acc + matching.PRIOR_WEIGHT * p) / (n + matching.PRIOR_WEIGHT)


async def test_affinity_smooths_each_attribute_toward_the_partners_own_rate(
    session: AsyncSession, world: World
) -> None:
    partner = await make_partner(session)
    org = partner.organisation_id
    mid = {"company_size": CompanySize.SIZE_51_250.value}
    # Retail: 8 accepted (kept, won, lost all count) of 10 answered.
    await answered(session, org, "ACCEPTED", 4, industry="Retail", **mid)
    await answered(session, org, "WON", 2, industry="Retail", **mid)
    await answered(session, org, "LOST", 2, industry="retail", **mid)
    await answered(session, org, "DECLINED", 2, industry="Retail", **mid)
    # Healthcare: declined 5 of 5, other size.
    await answered(session, org, "DECLINED", 5, industry="Healthcare", company_size="SIZE_1_9")
    # Not answers: expired, and still waiting.
    await answered(session, org, "EXPIRED", 3, industry="Retail", **mid)
    await make_lead(session, organisation_id=org, industry="Retail")

    need = LeadNeed(
        industry="Retail",
        company_size=CompanySize.SIZE_51_250,
        lead_type=LeadType.CUSTOMER_INQUIRY,
    )
    result = await matching.affinity(session, [org], need=need)
    aff = result[org]
    assert (aff.accepted, aff.answered) == (8, 15)
    p = (8 + 1) / (15 + 2)
    assert aff.overall_rate == pytest.approx(p)
    by_attribute = {a.attribute: a for a in aff.attributes}
    assert (by_attribute["industry"].accepted, by_attribute["industry"].answered) == (8, 10)
    assert (by_attribute["company_size"].accepted, by_attribute["company_size"].answered) == (
        8,
        10,
    )
    assert (by_attribute["type"].accepted, by_attribute["type"].answered) == (8, 15)
    expected = (expected_share(8, 10, p) * 2 + expected_share(8, 15, p)) / 3
    assert aff.score == pytest.approx(expected)
    assert aff.nudge == pytest.approx(0.9 + 0.2 * expected)
    assert aff.reasons == [
        "accepted 8 of 10 Retail leads",
        "accepted 8 of 10 51-250 employee leads",
        "accepted 8 of 15 customer inquiry leads",
    ]

    healthcare = (await matching.affinity(session, [org], need=LeadNeed(industry="Healthcare")))[
        org
    ]
    assert healthcare.reasons == ["accepted 0 of 5 Healthcare leads"]
    assert healthcare.score == pytest.approx(expected_share(0, 5, p))
    assert healthcare.score < 0.5 < aff.score


async def test_affinity_of_partners_without_history_is_neutral_and_one_statement(
    session: AsyncSession, world: World, count_queries: Any
) -> None:
    quiet = await make_partner(session)
    busy = await make_partner(session)
    await answered(session, busy.organisation_id, "ACCEPTED", 3, industry="Retail")
    with count_queries() as counter:
        result = await matching.affinity(
            session,
            [quiet.organisation_id, busy.organisation_id],
            need=LeadNeed(industry="Retail", solution_area="Security"),
            now=NOW,
        )
    assert counter.count == 1
    assert result[quiet.organisation_id].score == 0.5
    assert result[quiet.organisation_id].nudge == pytest.approx(1.0)
    assert result[quiet.organisation_id].reasons == []
    busy_aff = result[busy.organisation_id]
    assert busy_aff.reasons == ["accepted 3 of 3 Retail leads"]  # no Security history
    assert busy_aff.score > 0.5
    assert await matching.affinity(session, [], need=LeadNeed()) == {}


async def test_affinity_window_forgets_old_history(session: AsyncSession, world: World) -> None:
    partner = await make_partner(session)
    await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ACCEPTED,
        received_at=NOW - timedelta(days=400),
    )
    await affinity_counts.refresh(session, [partner.organisation_id])
    need = LeadNeed(industry="Retail")
    assert (await matching.affinity(session, [partner.organisation_id], need=need))[
        partner.organisation_id
    ].answered == 1
    recent = await matching.affinity(session, [partner.organisation_id], need=need, now=NOW)
    assert recent[partner.organisation_id].answered == 0


async def actor(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    found = await load_actor(session, user_id)
    assert found is not None
    return found


async def suggest(
    session: AsyncSession, who: Actor | None, need: LeadNeed, first: int = 20
) -> list[Suggestion]:
    result = await matching.suggest_partners(session, who, need=need, first=first)
    assert not isinstance(result, Refused), result
    return result


def names(result: list[Suggestion], *profiles: models.BusinessProfile) -> list[str]:
    ids = {p.id for p in profiles}
    return [s.profile.name for s in result if s.profile.id in ids]


async def test_suggestions_follow_accept_and_decline_history(
    session: AsyncSession, world: World
) -> None:
    common: dict[str, Any] = {
        "keywords": ["zyxrouting", "pos"],
        "industries": ["Retail"],
        "countries": ["US"],
    }
    keen = await make_profile(session, name="Keen Retail", **common)
    picky = await make_profile(session, name="Picky Retail", **common)
    fresh = await make_profile(session, name="Fresh Retail", **common)
    retail_sql = {"industry": "Retail", "type": LeadType.SALES_QUALIFIED}
    await answered(session, keen.organisation_id, "WON", 4, **retail_sql)
    await answered(session, keen.organisation_id, "ACCEPTED", 4, **retail_sql)
    await answered(session, keen.organisation_id, "DECLINED", 2, **retail_sql)
    await answered(session, picky.organisation_id, "DECLINED", 9, **retail_sql)
    await answered(session, picky.organisation_id, "ACCEPTED", 1, **retail_sql)
    # Picky likes healthcare, which does not help with a retail lead.
    await answered(session, picky.organisation_id, "ACCEPTED", 6, industry="Healthcare")

    seller = await actor(session, world.seller)
    need = LeadNeed(
        description="Zyxrouting rollout for point of sale (POS) terminals",
        industry="Retail",
        country="US",
    )
    result = await suggest(session, seller, need)
    assert names(result, keen, picky, fresh) == ["Keen Retail", "Fresh Retail", "Picky Retail"]
    by_name = {s.profile.name: s for s in result}
    assert by_name["Keen Retail"].reasons == [
        "keywords match: zyxrouting, pos",
        "serves the Retail industry",
        "has a location in US",
        f"responsiveness score {PRIOR_SCORE:g}",
        "accepted 8 of 10 Retail leads",
        "accepted 8 of 10 sales-qualified leads",
    ]
    assert "accepted 1 of 10 Retail leads" in by_name["Picky Retail"].reasons
    assert by_name["Fresh Retail"].affinity.score == 0.5
    scores = [s.score for s in result]
    assert scores == sorted(scores, reverse=True)
    keen_s = by_name["Keen Retail"]
    assert keen_s.score == pytest.approx(
        matching.W_TEXT * keen_s.text_match
        + matching.W_PREFERENCES * 1.0
        + matching.W_RESPONSIVENESS * PRIOR_SCORE / 100
        + matching.W_AFFINITY * keen_s.affinity.score,
        abs=1e-6,
    )


async def test_suggestions_weigh_text_preferences_and_responsiveness(
    session: AsyncSession, world: World
) -> None:
    text_match = await make_profile(session, name="Text Match", keywords=["zyxledger", "zyxaudit"])
    prefs = await make_profile(
        session,
        name="Prefs Match",
        keywords=["payroll"],
        industries=["Banking"],
        solution_areas=["Security"],
        countries=["DE"],
        preferred_sizes=[CompanySize.SIZE_251_1000],
    )
    both = await make_profile(
        session,
        name="Both Match",
        keywords=["zyxledger"],
        industries=["Banking"],
        solution_areas=["Security"],
        countries=["DE"],
    )
    excluded = await make_profile(
        session,
        name="Small Only",
        keywords=["zyxledger", "zyxaudit"],
        industries=["Banking"],
        preferred_sizes=[CompanySize.SIZE_1_9],
    )
    marketer = await actor(session, world.marketer)
    need = LeadNeed(
        description="A zyxledger and zyxaudit project",
        industry="banking",
        solution_area="Security",
        country="de",
        company_size=CompanySize.SIZE_251_1000,
    )
    profiles = (text_match, prefs, both, excluded)
    result = await suggest(session, marketer, need)
    assert names(result, *profiles) == ["Both Match", "Prefs Match", "Text Match"]
    by_name = {s.profile.name: s for s in result}
    assert by_name["Prefs Match"].preference_fit == 1.0
    assert by_name["Both Match"].preference_fit == 0.75  # it does not list the size
    assert by_name["Text Match"].preference_fit == 0.0
    assert "prefers 251-1000 employee companies" in by_name["Prefs Match"].reasons

    # Responsiveness moves one up.
    await set_score(session, text_match, 100)
    await set_score(session, prefs, 0)
    result = await suggest(session, marketer, need)
    assert names(result, *profiles)[0] == "Both Match"
    assert "responsiveness score 100" in by_name_of(result, "Text Match").reasons

    # Without a size, the size-restricted partner comes back.
    unsized = LeadNeed(description="A zyxledger and zyxaudit project", industry="Banking")
    assert "Small Only" in names(await suggest(session, marketer, unsized), *profiles)

    # first limits; unpublished never suggested.
    assert len(await suggest(session, marketer, need, first=2)) == 2
    draft = await make_profile(
        session, name="Draft", keywords=["zyxledger", "zyxaudit"], published=False
    )
    assert names(await suggest(session, marketer, unsized), draft) == []


def by_name_of(result: list[Suggestion], name: str) -> Suggestion:
    return next(s for s in result if s.profile.name == name)


async def test_only_marketers_and_sellers_get_suggestions(
    session: AsyncSession, world: World
) -> None:
    need = LeadNeed(description="anything")
    refused = await matching.suggest_partners(session, None, need=need)
    assert isinstance(refused, Refused)
    assert refused.errors[0].code is ErrorCode.UNAUTHENTICATED
    for user in (
        world.contoso.partner_admin,
        world.contoso.referrals_admin,
        world.contoso.member,
        world.platform_admin,
    ):
        refused = await matching.suggest_partners(session, await actor(session, user), need=need)
        assert isinstance(refused, Refused)
        assert refused.errors[0].code is ErrorCode.FORBIDDEN
    for user in (world.seller, world.marketer):
        assert isinstance(
            await matching.suggest_partners(session, await actor(session, user), need=need), list
        )


@pytest.mark.parametrize(
    ("need", "first", "field"),
    [
        (LeadNeed(description="x" * 2001), 5, ["need", "description"]),
        (LeadNeed(country="USA"), 5, ["need", "country"]),
        (LeadNeed(industry="x" * 101), 5, ["need", "industry"]),
        (LeadNeed(solution_area="x" * 101), 5, ["need", "solution_area"]),
        (LeadNeed(country="u"), 5, ["need", "country"]),
        (LeadNeed(), 0, ["first"]),
        (LeadNeed(), 21, ["first"]),
    ],
)
async def test_bad_needs_are_validation_errors(
    session: AsyncSession, world: World, need: LeadNeed, first: int, field: list[str]
) -> None:
    refused = await matching.suggest_partners(
        session, await actor(session, world.seller), need=need, first=first
    )
    assert isinstance(refused, Refused)
    assert refused.errors[0].code is ErrorCode.VALIDATION
    assert list(refused.errors[0].field or ()) == field
