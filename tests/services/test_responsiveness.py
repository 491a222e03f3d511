"""Responsiveness scores in Postgres (SPEC R11): which leads count, the SQL formula equal to the
pure one, the set-based recompute equal to the single-profile one, and the viewer's own score."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import models
from app.domain.lifecycle import LeadOutcome, LeadStage
from app.domain.responsiveness import (
    PRIOR_SCORE,
    ResponseRecord,
    Responsiveness,
    round_score,
    score,
)
from app.services import responsiveness as service
from tests.factories import World, make_lead, make_partner
from tests.graphql_client import GraphQLClient

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RESPONSE = timedelta(days=14)  # make_lead's default: respond_by = received_at + 14 days


async def make_profile(session: AsyncSession, name: str = "Test Profile") -> models.BusinessProfile:
    partner = await make_partner(session)
    profile = models.BusinessProfile(
        id=uuid.uuid4(), organisation_id=partner.organisation_id, name=name, published=True
    )
    session.add(profile)
    await session.flush()
    return profile


class History:
    """Hand-made leads for one profile, each received `days_ago` before `now`."""

    def __init__(
        self, session: AsyncSession, profile: models.BusinessProfile, now: datetime = NOW
    ) -> None:
        self.session = session
        self.profile = profile
        self.now = now

    async def _lead(self, days_ago: float, **fields: Any) -> models.Lead:
        return await make_lead(
            self.session,
            organisation_id=self.profile.organisation_id,
            profile_id=self.profile.id,
            received_at=self.now - timedelta(days=days_ago),
            **fields,
        )

    async def accepted(self, days_ago: float, *, after_hours: float) -> models.Lead:
        received = self.now - timedelta(days=days_ago)
        return await self._lead(
            days_ago,
            stage=LeadStage.ACCEPTED,
            responded_at=received + timedelta(hours=after_hours),
        )

    async def won(self, days_ago: float, *, after_hours: float) -> models.Lead:
        received = self.now - timedelta(days=days_ago)
        return await self._lead(
            days_ago,
            stage=LeadStage.ARCHIVED,
            outcome=LeadOutcome.WON.value,
            deal_name="Won deal",
            responded_at=received + timedelta(hours=after_hours),
            archived_at=received + timedelta(days=30),
        )

    async def declined(self, days_ago: float, *, after_hours: float) -> models.Lead:
        responded = self.now - timedelta(days=days_ago) + timedelta(hours=after_hours)
        return await self._lead(
            days_ago,
            stage=LeadStage.ARCHIVED,
            outcome=LeadOutcome.DECLINED.value,
            decline_reason="NO_CAPACITY",
            responded_at=responded,
            archived_at=responded,
        )

    async def expired(self, days_ago: float) -> models.Lead:
        return await self._lead(
            days_ago,
            stage=LeadStage.ARCHIVED,
            outcome=LeadOutcome.EXPIRED.value,
            archived_at=self.now - timedelta(days=days_ago) + RESPONSE,
        )

    async def waiting(self, days_ago: float) -> models.Lead:
        """Still RECEIVED: inside its response window, or overdue when days_ago > 14."""
        return await self._lead(days_ago, stage=LeadStage.RECEIVED)

    async def recompute(self, settings: Settings) -> Responsiveness | None:
        """The profile's score recomputed as at `now`."""
        return await service.recompute_profile(
            self.session, self.profile.id, now=self.now, settings=settings
        )


@pytest.fixture
async def leads(session: AsyncSession) -> History:
    """Hand-made leads of a profile that has none yet."""
    return History(session, await make_profile(session))


@pytest.fixture
def config(settings: Settings) -> Settings:
    # The defaults, pinned: the expected numbers below depend on them.
    return settings.model_copy(update={"score_window_days": 180, "score_prior_weight": 10.0})


async def test_recompute_profile_equals_the_formula_on_the_counted_record(
    leads: History, session: AsyncSession, config: Settings
) -> None:
    await leads.accepted(30, after_hours=2)  # on time, 2 h
    await leads.won(60, after_hours=4)  # on time, 4 h
    await leads.declined(90, after_hours=10)  # on time, 10 h
    await leads.accepted(45, after_hours=15 * 24)  # late, 360 h
    await leads.accepted(1, after_hours=1)  # answered inside its window: counts, 1 h
    await leads.expired(40)  # expired
    await leads.waiting(20)  # past its deadline: expired in waiting
    await leads.waiting(3)  # still inside its window: not counted
    await leads.accepted(200, after_hours=1)  # outside the 180-day window: not counted
    # Counted: 7 leads, 4 answered on time, 2 expired; median of 1, 2, 4, 10, 360 h = 4 h.
    record = ResponseRecord(leads=7, answered_on_time=4, expired=2, median_response_hours=4.0)
    # on_time_s = 11/17, expired_s = 3.5/17, speed = 24/28, speed_s = (5 * 24/28 + 5) / 15
    # 100 * (0.323529 + 0.185714 + 0.158824) = 66.8067 -> 66.81
    expected = score(record, prior_weight=10.0)
    assert expected.score == 66.81

    result = await leads.recompute(config)

    assert result == expected
    assert result == Responsiveness(
        score=66.81,
        answered_on_time_share=4 / 7,
        median_response_hours=4.0,
        expired_share=2 / 7,
        leads_considered=7,
    )
    stored = await service.get_score(session, leads.profile.id)
    assert stored is not None
    assert (
        stored.score,
        stored.answered_on_time_share,
        stored.median_response_hours,
        stored.expired_share,
        stored.leads_considered,
        stored.computed_at,
    ) == (66.81, 4 / 7, 4.0, 2 / 7, 7, NOW)


async def test_leads_outside_the_window_or_inside_their_response_window_do_not_count(
    leads: History, config: Settings
) -> None:
    await leads.accepted(181, after_hours=1)
    await leads.expired(250)
    await leads.waiting(200)  # overdue, but received before the window
    await leads.waiting(13)
    await leads.waiting(0.5)

    result = await leads.recompute(config)

    assert result == Responsiveness(PRIOR_SCORE, 0.0, None, 0.0, 0)
    assert result == score(ResponseRecord(0, 0, 0, None))


async def test_window_and_deadline_boundaries(leads: History, config: Settings) -> None:
    await leads.accepted(180, after_hours=6)  # received exactly at the window's start: counts
    await leads.accepted(180 + 1 / 86400, after_hours=6)  # a second earlier: does not
    await leads.waiting(14)  # respond_by == NOW: not yet past its deadline
    await leads.waiting(14 + 1 / 86400)  # a second past its deadline: expired in waiting
    # An answer exactly at the deadline is on time.
    await leads.accepted(20, after_hours=14 * 24)

    result = await leads.recompute(config)

    # 3 counted: 2 answered on time (6 h and 336 h, median 171 h), 1 expired.
    assert result == score(ResponseRecord(3, 2, 1, 171.0))
    assert result is not None and result.leads_considered == 3


async def test_past_deadline_received_counts_as_expired(
    session: AsyncSession, config: Settings
) -> None:
    waiting = await make_profile(session)
    archived = await make_profile(session)
    for profile, add_expired in (
        (waiting, History(session, waiting).waiting),
        (archived, History(session, archived).expired),
    ):
        await History(session, profile).accepted(10, after_hours=3)
        await add_expired(30)
        await add_expired(50)

    by_sweep = await service.recompute_profile(session, archived.id, now=NOW, settings=config)
    in_waiting = await service.recompute_profile(session, waiting.id, now=NOW, settings=config)

    # The expiry sweep's delay changes nothing: 3 leads, 1 on time in 3 h, 2 expired.
    assert in_waiting == by_sweep == score(ResponseRecord(3, 1, 2, 3.0))
    assert in_waiting is not None and in_waiting.expired_share == 2 / 3


async def test_other_profiles_leads_and_leads_without_a_profile_do_not_count(
    session: AsyncSession, config: Settings
) -> None:
    profile = await make_profile(session)
    other = await make_profile(session)
    await History(session, profile).accepted(10, after_hours=5)
    await History(session, other).expired(20)
    await make_lead(
        session,
        organisation_id=profile.organisation_id,
        received_at=NOW - timedelta(days=30),
        stage=LeadStage.RECEIVED,
    )  # no profile

    result = await service.recompute_profile(session, profile.id, now=NOW, settings=config)

    assert result == score(ResponseRecord(1, 1, 0, 5.0))


async def test_recompute_uses_the_configured_window_and_prior_weight(
    leads: History, settings: Settings
) -> None:
    await leads.accepted(20, after_hours=12)
    await leads.expired(50)
    narrow = settings.model_copy(update={"score_window_days": 30, "score_prior_weight": 2.0})

    result = await leads.recompute(narrow)

    assert result == score(ResponseRecord(1, 1, 0, 12.0), prior_weight=2.0)
    unsmoothed = settings.model_copy(update={"score_prior_weight": 0.0})
    result = await leads.recompute(unsmoothed)
    # 1 of 2 on time, 1 of 2 expired, speed 1/(1 + 0.5): 100 * (0.25 + 0.2 + 0.1) = 55.0
    assert result == score(ResponseRecord(2, 1, 1, 12.0), prior_weight=0.0)
    assert result is not None and result.score == 55.0


async def test_recompute_overwrites_the_stored_score(
    leads: History, session: AsyncSession, config: Settings
) -> None:
    await leads.accepted(10, after_hours=1)
    first = await leads.recompute(config)
    await leads.expired(30)
    later = NOW + timedelta(hours=1)

    second = await service.recompute_profile(session, leads.profile.id, now=later, settings=config)

    assert first is not None and second is not None and second.score < first.score
    stored = await service.get_score(session, leads.profile.id)
    assert stored is not None
    assert (stored.score, stored.leads_considered, stored.computed_at) == (second.score, 2, later)
    rows = await session.scalar(
        select(func.count())
        .select_from(models.ResponsivenessScore)
        .where(models.ResponsivenessScore.profile_id == leads.profile.id)
    )
    assert rows == 1


async def test_unknown_profile_gives_none(session: AsyncSession, config: Settings) -> None:
    assert await service.recompute_profile(session, uuid.uuid4(), now=NOW, settings=config) is None
    assert await service.get_score(session, uuid.uuid4()) is None


async def test_recompute_all_writes_one_row_per_profile_equal_to_recompute_profile(
    session: AsyncSession, config: Settings, world: World
) -> None:
    now = datetime.now(UTC)  # the demo world's leads are relative to when it was seeded
    busy = await make_profile(session)
    leads = History(session, busy, now)
    for days in range(1, 60, 3):
        await leads.accepted(days, after_hours=days)
    await leads.declined(70, after_hours=400)
    await leads.expired(80)
    await leads.waiting(16)
    quiet = await make_profile(session)  # no leads at all
    await History(session, quiet, now).waiting(2)

    written = await service.recompute_all(session, now=now, settings=config)

    profiles = list(await session.scalars(select(models.BusinessProfile.id)))
    assert written == len(profiles) >= 5  # the demo's three and these two
    stored = {
        row.profile_id: row
        for row in await session.scalars(
            select(models.ResponsivenessScore).execution_options(populate_existing=True)
        )
    }
    assert set(stored) == set(profiles)
    assert stored[quiet.id].score == PRIOR_SCORE and stored[quiet.id].leads_considered == 0
    assert stored[busy.id].leads_considered == 23
    assert all(row.computed_at == now for row in stored.values())
    set_based = {
        profile_id: Responsiveness(
            row.score,
            row.answered_on_time_share,
            row.median_response_hours,
            row.expired_share,
            row.leads_considered,
        )
        for profile_id, row in stored.items()
    }
    for profile_id in profiles:
        single = await service.recompute_profile(session, profile_id, now=now, settings=config)
        assert single == set_based[profile_id], profile_id
        # And both equal the pure formula on the record they counted.
        assert single is not None
        on_time = round(single.answered_on_time_share * single.leads_considered)
        expired = round(single.expired_share * single.leads_considered)
        record = ResponseRecord(
            single.leads_considered, on_time, expired, single.median_response_hours
        )
        assert single == score(record, prior_weight=config.score_prior_weight), profile_id
    demo = await session.scalars(
        select(models.ResponsivenessScore.leads_considered)
        .join(models.BusinessProfile)
        .where(models.BusinessProfile.organisation_id == world.contoso.organisation_id)
    )
    assert demo.one() > 0


async def test_recompute_all_is_one_statement(
    session: AsyncSession, config: Settings, world: World, count_queries: Any
) -> None:
    profile = await make_profile(session)
    await History(session, profile).accepted(5, after_hours=1)

    with count_queries() as counter:
        written = await service.recompute_all(session, now=NOW, settings=config)

    assert counter.count == 1, counter.statements
    assert counter.statements[0].lstrip().upper().startswith("WITH")
    assert "INSERT INTO RESPONSIVENESS_SCORES" in counter.statements[0].upper()
    assert written >= 4


async def test_recompute_profile_is_one_statement(
    session: AsyncSession, config: Settings, count_queries: Any
) -> None:
    profile = await make_profile(session)
    await History(session, profile).accepted(5, after_hours=1)

    with count_queries() as counter:
        await service.recompute_profile(session, profile.id, now=NOW, settings=config)

    assert counter.count == 1, counter.statements


async def test_sql_rounding_matches_the_domain(session: AsyncSession) -> None:
    for value in [72.125, 66.805, 0.005, 99.99499999999, 12.344999999999999, 50.0]:
        in_sql = await session.scalar(
            text("SELECT round(CAST(:v AS float8)::numeric, 2)::float8"), {"v": value}
        )
        assert in_sql == round_score(value), value


VIEWER = """
{ viewer { organisation { slug profile { name responsiveness {
    score answeredOnTimeShare medianResponseHours expiredShare leadsConsidered computedAt
} } } } }
"""


async def test_viewer_sees_its_own_profiles_score_null_before_computation(
    gql: GraphQLClient, session: AsyncSession, world: World, config: Settings
) -> None:
    contoso = gql.as_user(world.contoso.referrals_admin)
    before = await contoso.data(VIEWER)
    assert before["viewer"]["organisation"]["profile"]["responsiveness"] is None

    profile_id = await session.scalar(
        select(models.BusinessProfile.id).where(
            models.BusinessProfile.organisation_id == world.contoso.organisation_id
        )
    )
    assert profile_id is not None
    now = datetime.now(UTC).replace(microsecond=0)
    computed = await service.recompute_profile(session, profile_id, now=now, settings=config)
    assert computed is not None and computed.leads_considered > 0

    after = await contoso.data(VIEWER)
    assert after["viewer"]["organisation"]["slug"] == "contoso"
    assert after["viewer"]["organisation"]["profile"]["responsiveness"] == {
        "score": computed.score,
        "answeredOnTimeShare": computed.answered_on_time_share,
        "medianResponseHours": computed.median_response_hours,
        "expiredShare": computed.expired_share,
        "leadsConsidered": computed.leads_considered,
        "computedAt": now.isoformat(),
    }
    # Another partner sees only its own profile, whose score is not computed yet.
    fabrikam = await gql.as_user(world.fabrikam.partner_admin).data(VIEWER)
    assert fabrikam["viewer"]["organisation"]["slug"] == "fabrikam"
    assert fabrikam["viewer"]["organisation"]["profile"]["responsiveness"] is None
    # Any user of the partner sees what the score is made of (R11), not only lead managers.
    member = await gql.as_user(world.contoso.member).data(VIEWER)
    assert member["viewer"]["organisation"]["profile"]["responsiveness"]["score"] == (
        computed.score
    )
    # Platform staff have no profile.
    seller = await gql.as_user(world.seller).data(VIEWER)
    assert seller["viewer"]["organisation"]["profile"] is None


async def test_viewer_with_its_score_costs_no_extra_statement(
    gql: GraphQLClient, world: World, session: AsyncSession, config: Settings, count_queries: Any
) -> None:
    await service.recompute_all(session, now=datetime.now(UTC), settings=config)
    contoso = gql.as_user(world.contoso.referrals_admin)
    await contoso.data(VIEWER)  # warm whatever is cached per process

    with count_queries() as plain:
        await contoso.data("{ viewer { organisation { slug profile { name } } } }")
    with count_queries() as scored:
        data = await contoso.data(VIEWER)

    assert data["viewer"]["organisation"]["profile"]["responsiveness"] is not None
    assert scored.count == plain.count, (plain.statements, scored.statements)
