"""Similar-deal counts (R12): affinity read from `affinity_counts` is exactly what the aggregate
over every answered lead gave (`tests.affinity_reference`), with and without the window, and so
are suggestions and search; refreshes write what the leads say and only answers stage one."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import TRANSITIONS, LeadAction, LeadState, LeadType, Transition
from app.domain.reference import CompanySize
from app.services import affinity_counts, matching, search
from app.services.matching import AFFINITY_WINDOW, LeadNeed
from tests.affinity_reference import reference_affinity_sql
from tests.factories import World, make_lead, make_partner, make_profile
from tests.lead_history import answered

NOW = datetime.now(UTC)
# Window starts that meet each way `window_split` counts a month.
EDGES = [
    datetime(2025, 1, 1, tzinfo=UTC),  # a month's (and a year's) first instant
    datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),  # a month's last
    datetime(2025, 3, 10, 8, 30, tzinfo=UTC),  # early in a month: subtract
    datetime(2025, 3, 20, 12, tzinfo=UTC),  # late in a month: add
    datetime(2024, 2, 15, 12, tzinfo=UTC),  # the middle of a leap February
]
WINDOWS: list[datetime | None] = [None, *EDGES, NOW - AFFINITY_WINDOW]
OUTCOMES = ["RECEIVED", "ACCEPTED", "WON", "LOST", "DECLINED", "EXPIRED"]
INDUSTRIES = ["Retail", "retail", "RETAIL", " Retail", "Healthcare", None]
SIZES = [CompanySize.SIZE_1_9, CompanySize.SIZE_51_250, CompanySize.SIZE_251_1000]
SOLUTION_AREAS = ["Security", "security", "Data & AI", None]


def needs() -> list[LeadNeed]:
    """Every combination of given attributes, and values in other cases, blank, and unknown."""
    given: dict[str, Any] = {
        "industry": "retail",
        "company_size": CompanySize.SIZE_51_250,
        "lead_type": LeadType.SALES_QUALIFIED,
        "solution_area": "SECURITY",
    }
    combinations = [
        LeadNeed(**dict(chosen))
        for size in range(len(given) + 1)
        for chosen in itertools.combinations(given.items(), size)
    ]
    return [
        *combinations,
        LeadNeed(industry=" Retail ", solution_area="  "),
        LeadNeed(industry="Mining", solution_area="data & ai"),
        LeadNeed(
            industry="Healthcare",
            company_size=CompanySize.SIZE_1_9,
            lead_type=LeadType.CUSTOMER_INQUIRY,
        ),
    ]


@pytest.fixture
async def partners(session: AsyncSession, world: World) -> list[models.BusinessProfile]:
    """Published partners with answers of every kind, many at the window's edges, spread over
    two years; one that never answered."""
    rng = random.Random(8)
    profiles = []
    for i in range(4):
        profile = await make_profile(
            session,
            name=f"Affinity Partner {i}",
            keywords=["zyxaffinity"],
            industries=["Retail", "Healthcare"][: 1 + i % 2],
            solution_areas=["Security", "Data & AI"][i % 2 :],
        )
        profiles.append(profile)
        moments = [edge + timedelta(microseconds=d) for edge in EDGES for d in (-1, 0, 1)]
        moments += [edge + timedelta(days=rng.uniform(-20, 20)) for edge in EDGES]
        moments += [NOW - timedelta(days=rng.uniform(0, 800)) for _ in range(25)]
        for moment in moments:
            outcome = rng.choice(OUTCOMES)
            fields: dict[str, Any] = {
                "received_at": moment,
                "industry": rng.choice(INDUSTRIES),
                "company_size": rng.choice(SIZES).value,
                "type": rng.choice(list(LeadType)),
                "solution_area": rng.choice(SOLUTION_AREAS),
            }
            if outcome == "RECEIVED":
                await make_lead(session, organisation_id=profile.organisation_id, **fields)
            else:
                await answered(session, profile.organisation_id, outcome, **fields)
    silent = await make_profile(session, name="Affinity Silent", keywords=["zyxaffinity"])
    await answered(session, silent.organisation_id, "EXPIRED", 3, industry="Retail")
    return [*profiles, silent]


async def affinity_rows(
    session: AsyncSession,
    sql_of: Any,
    need: LeadNeed,
    since: datetime | None,
    partners: list[models.BusinessProfile],
) -> tuple[list[str], list[tuple[Any, ...]]]:
    # Only this test's partners: other tests may commit answers whose counts they never refresh.
    ids = ", ".join(f"'{p.organisation_id}'" for p in partners)
    sql, params = sql_of(need, f"SELECT id FROM organisations WHERE id IN ({ids})", since=since)
    result = await session.execute(text(sql + " ORDER BY 1"), params)
    return list(result.keys()), [tuple(row) for row in result.all()]


async def test_affinity_from_counts_is_the_aggregate_over_answered_leads(
    session: AsyncSession, partners: list[models.BusinessProfile]
) -> None:
    mismatches = []
    windowed_differs = False
    for need, since in itertools.product(needs(), WINDOWS):
        expected = await affinity_rows(session, reference_affinity_sql, need, since, partners)
        got = await affinity_rows(session, matching.affinity_sql, need, since, partners)
        if got != expected:
            mismatches.append((need, since, got, expected))
        if since is not None:
            everything = await affinity_rows(session, reference_affinity_sql, need, None, partners)
            windowed_differs = windowed_differs or everything != expected
    assert mismatches == []
    # The data is one the window and the attributes tell apart.
    assert windowed_differs
    ours = {p.organisation_id for p in partners}
    _, rows = await affinity_rows(
        session, matching.affinity_sql, LeadNeed(industry="retail"), None, partners
    )
    scores = {row[-1] for row in rows if row[0] in ours}
    assert len(scores) == len(partners) - 1  # the silent partner has no row: neutral


async def test_suggestions_and_search_rank_as_before(
    session: AsyncSession, partners: list[models.BusinessProfile], monkeypatch: Any
) -> None:
    for need in needs():
        described = LeadNeed(
            description="zyxaffinity rollout",
            industry=need.industry,
            company_size=need.company_size,
            lead_type=need.lead_type,
            solution_area=need.solution_area,
        )
        customer = search.SearchFilter(
            company_size=need.company_size,
            industry=need.industry.strip() if need.industry else None,
            solution_area=need.solution_area.strip() or None if need.solution_area else None,
        )
        ranked = await matching.rank_partners(session, described, first=20)
        pages = [
            await search.search_partners(
                session, filter=customer, first=50, now=since + AFFINITY_WINDOW
            )
            for since in EDGES
        ]
        with monkeypatch.context() as before:
            before.setattr(matching, "affinity_sql", reference_affinity_sql)
            assert await matching.rank_partners(session, described, first=20) == ranked
            for since, page in zip(EDGES, pages, strict=True):
                assert (
                    await search.search_partners(
                        session, filter=customer, first=50, now=since + AFFINITY_WINDOW
                    )
                    == page
                )
        assert {s.profile.id for s in ranked} >= {p.id for p in partners}


def test_only_accepting_and_declining_change_what_a_lead_counts_as() -> None:
    steps = [
        Transition(LeadState(stage) if stage else None, state, action)
        for (stage, action), state in TRANSITIONS.items()
    ]
    changing = {step.action for step in steps if affinity_counts.answers_changed(step)}
    assert changing == {LeadAction.ACCEPT, LeadAction.DECLINE}


async def stored_counts(session: AsyncSession, org: uuid.UUID) -> Counter[tuple[str, str, date]]:
    rows = await session.execute(
        select(models.AffinityCount).where(models.AffinityCount.organisation_id == org)
    )
    counts: Counter[tuple[str, str, date]] = Counter()
    for (row,) in rows:
        counts[(row.attribute, row.value, row.month)] += row.answered * 1000 + row.accepted
    return counts


def expected_counts(leads: list[models.Lead]) -> Counter[tuple[str, str, date]]:
    """The rows the leads call for, counted here in Python: answered * 1000 + accepted."""
    counts: Counter[tuple[str, str, date]] = Counter()
    for lead in leads:
        accepted = lead.stage == "ACCEPTED" or lead.outcome in ("WON", "LOST")
        if not (accepted or lead.outcome == "DECLINED"):
            continue
        month = lead.received_at.astimezone(UTC).date().replace(day=1)
        values = {
            "all": "",
            "industry": lead.industry.lower() if lead.industry is not None else None,
            "company_size": lead.company_size,
            "type": lead.type,
            "solution_area": lead.solution_area.lower() if lead.solution_area is not None else None,
        }
        for attribute, value in values.items():
            if value is not None:
                counts[(attribute, value, month)] += 1000 + int(accepted)
    return counts


async def leads_of(session: AsyncSession, org: uuid.UUID) -> list[models.Lead]:
    session.expire_all()
    statement = (
        select(models.Lead)
        .where(models.Lead.organisation_id == org)
        .order_by(models.Lead.received_at)
    )
    return list(await session.scalars(statement))


async def test_refresh_writes_what_the_leads_say_and_nothing_when_nothing_changed(
    session: AsyncSession, world: World
) -> None:
    partner = await make_partner(session)
    org = partner.organisation_id
    await answered(session, org, "WON", 2, industry="Retail", received_at=EDGES[0])
    await answered(session, org, "DECLINED", 1, industry="retail", received_at=EDGES[1])
    leads = await leads_of(session, org)
    assert await stored_counts(session, org) == expected_counts(leads)
    assert ("industry", "retail", date(2024, 12, 1)) in await stored_counts(session, org)
    assert await affinity_counts.refresh(session, [org]) == 0

    # Changed behind the lifecycle's back: one lead deleted, one moved to another industry.
    declined, won, _ = leads
    await session.execute(delete(models.Lead).where(models.Lead.id == won.id))
    await session.execute(
        update(models.Lead).where(models.Lead.id == declined.id).values(industry="Healthcare")
    )
    assert await affinity_counts.refresh(session) > 0  # every organisation: the cron's rebuild
    stored = await stored_counts(session, org)
    assert stored == expected_counts(await leads_of(session, org))
    assert ("industry", "healthcare", date(2024, 12, 1)) in stored
    assert ("industry", "retail", date(2024, 12, 1)) not in stored
    assert await affinity_counts.refresh(session) == 0
