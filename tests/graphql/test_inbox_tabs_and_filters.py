"""The inbox tabs (R5), their filters and search, over GraphQL."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from tests.factories import World, WorldPartner, make_lead
from tests.graphql.inbox_support import (
    BASE,
    LEADS,
    NOON,
    QUALIFIED_TYPES,
    SET_FAVORITE,
    favorite,
    fetch_page,
    inbox_lead,
    iso,
    only_error,
    page_ids,
    sid,
    walk,
)
from tests.graphql_client import GraphQLClient

# --- tabs ----------------------------------------------------------------------------------


async def test_marketplace_holds_only_inquiries_and_qualified_only_mql_and_sql(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    inquiries = [
        await inbox_lead(session, org, LeadType.CUSTOMER_INQUIRY, 1),
        await inbox_lead(session, org, LeadType.CUSTOMER_INQUIRY, 2, "ACCEPTED"),
        await inbox_lead(session, org, LeadType.CUSTOMER_INQUIRY, 3, "DECLINED"),
    ]
    qualified = [
        await inbox_lead(session, org, LeadType.MARKETING_QUALIFIED, 4),
        await inbox_lead(session, org, LeadType.SALES_QUALIFIED, 5, "ACCEPTED"),
        await inbox_lead(session, org, LeadType.SALES_QUALIFIED, 6, "WON"),
    ]

    for tab, leads, types in (
        ("MARKETPLACE", inquiries, {"CUSTOMER_INQUIRY"}),
        ("QUALIFIED", qualified, QUALIFIED_TYPES),
    ):
        page = await fetch_page(admin, tab, first=100)
        assert [e["node"]["id"] for e in page["edges"]] == [sid(x) for x in leads]
        assert {e["node"]["type"] for e in page["edges"]} == types
        assert {e["node"]["tab"] for e in page["edges"]} == {tab}
        assert page["totalCount"] == 3


async def test_demo_tabs_split_every_lead_by_type(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.partner_admin)
    by_type = dict(
        (
            await session.execute(
                select(models.Lead.type, func.count())
                .where(models.Lead.organisation_id == world.contoso.organisation_id)
                .group_by(models.Lead.type)
            )
        ).all()
    )
    marketplace_ids, pages = await walk(client, "MARKETPLACE", first=25)
    types = Counter(e["node"]["type"] for p in pages for e in p["edges"])
    assert types == Counter({"CUSTOMER_INQUIRY": by_type.get("CUSTOMER_INQUIRY", 0)})
    assert len(marketplace_ids) == len(set(marketplace_ids)) == pages[0]["totalCount"]

    qualified_ids, pages = await walk(client, "QUALIFIED", first=25)
    types = Counter(e["node"]["type"] for p in pages for e in p["edges"])
    assert types == Counter({t: n for t, n in by_type.items() if t in QUALIFIED_TYPES})
    assert len(qualified_ids) == len(set(qualified_ids)) == pages[0]["totalCount"]
    assert not set(marketplace_ids) & set(qualified_ids)


async def test_favorites_tab_holds_the_viewers_hearts_from_both_tabs(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    inquiry = await inbox_lead(session, org, LeadType.CUSTOMER_INQUIRY, 1)
    mql = await inbox_lead(session, org, LeadType.MARKETING_QUALIFIED, 2)
    sql_lead = await inbox_lead(session, org, LeadType.SALES_QUALIFIED, 3, "LOST")
    other_admins = await make_lead(session, organisation_id=org, received_at=BASE)
    await make_lead(session, organisation_id=org, received_at=BASE - timedelta(hours=4))

    # The referrals admin hearts three through the API (one twice: idempotent) ...
    for lead in (inquiry, mql, sql_lead, mql):
        data = await admin.data(SET_FAVORITE, {"id": sid(lead), "favorite": True})
        assert data["setLeadFavorite"] == {
            "lead": {"id": sid(lead), "isFavorite": True},
            "errors": [],
        }
    # ... the partner admin hearts another one, and one of the same.
    await favorite(session, partner.partner_admin, other_admins, inquiry)

    connection = await fetch_page(admin, "FAVORITES", first=100)
    assert [e["node"]["id"] for e in connection["edges"]] == [sid(inquiry), sid(mql), sid(sql_lead)]
    assert {e["node"]["tab"] for e in connection["edges"]} == {"MARKETPLACE", "QUALIFIED"}
    assert all(e["node"]["isFavorite"] for e in connection["edges"])
    assert connection["totalCount"] == 3

    partner_admin = gql.as_user(partner.partner_admin)
    assert await page_ids(partner_admin, "FAVORITES") == [sid(other_admins), sid(inquiry)]
    # Hearts are personal: the partner admin sees their own marks, not the referrals admin's.
    marks = {
        e["node"]["id"]: e["node"]["isFavorite"]
        for e in (await fetch_page(partner_admin, "MARKETPLACE", first=100))["edges"]
    }
    assert marks[sid(other_admins)] is True
    assert marks[sid(inquiry)] is True
    qualified_marks = {
        e["node"]["id"]: e["node"]["isFavorite"]
        for e in (await fetch_page(partner_admin, "QUALIFIED", first=100))["edges"]
    }
    assert qualified_marks == {sid(mql): False, sid(sql_lead): False}

    # Un-hearting takes the lead out of the tab.
    data = await admin.data(SET_FAVORITE, {"id": sid(mql), "favorite": False})
    assert data["setLeadFavorite"]["lead"] == {"id": sid(mql), "isFavorite": False}
    assert await page_ids(admin, "FAVORITES") == [sid(inquiry), sid(sql_lead)]


async def test_favorites_tab_applies_filters(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    received = await make_lead(session, organisation_id=org, received_at=BASE)
    accepted = await make_lead(
        session,
        organisation_id=org,
        stage=LeadStage.ACCEPTED,
        type=LeadType.SALES_QUALIFIED,
        received_at=BASE - timedelta(days=1),
    )
    await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED)  # not hearted
    await favorite(session, partner.referrals_admin, received, accepted)

    assert await page_ids(admin, "FAVORITES", filter={"stages": ["ACCEPTED"]}) == [sid(accepted)]
    assert await page_ids(admin, "FAVORITES", filter={"types": ["CUSTOMER_INQUIRY"]}) == [
        sid(received)
    ]


# --- filters -------------------------------------------------------------------------------


MQL, SQL = LeadType.MARKETING_QUALIFIED, LeadType.SALES_QUALIFIED
# name: (type, state, contact requested), received an hour apart before BASE in this order
MIXED = {
    "mql_received": (MQL, "RECEIVED", True),
    "sql_received": (SQL, "RECEIVED", False),
    "mql_accepted": (MQL, "ACCEPTED", True),
    "sql_won": (SQL, "WON", False),
    "sql_lost": (SQL, "LOST", True),
    "mql_declined": (MQL, "DECLINED", False),
    "mql_expired": (MQL, "EXPIRED", False),
    "inquiry": (LeadType.CUSTOMER_INQUIRY, "RECEIVED", True),
}
# Every lead of the QUALIFIED tab, newest first.
ALL_QUALIFIED = [name for name, (type, _, _) in MIXED.items() if type in (MQL, SQL)]


@pytest.fixture
async def mixed(session: AsyncSession, partner: WorldPartner) -> dict[str, models.Lead]:
    """One lead per interesting combination, all in the QUALIFIED tab unless named inquiry."""
    org = partner.organisation_id
    leads = {}
    for hours, (name, (type, state, contact_requested)) in enumerate(MIXED.items(), 1):
        leads[name] = await inbox_lead(
            session, org, type, hours, state, contact_requested=contact_requested
        )
    return leads


def names(mixed: dict[str, models.Lead], ids: list[str]) -> list[str]:
    by_id = {sid(lead): name for name, lead in mixed.items()}
    return [by_id[i] for i in ids]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        (
            {"types": ["MARKETING_QUALIFIED"]},
            ["mql_received", "mql_accepted", "mql_declined", "mql_expired"],
        ),
        ({"types": ["SALES_QUALIFIED"]}, ["sql_received", "sql_won", "sql_lost"]),
        ({"types": ["CUSTOMER_INQUIRY"]}, []),
        ({"types": []}, []),
        ({"types": ["SALES_QUALIFIED", "MARKETING_QUALIFIED"]}, ALL_QUALIFIED),
        ({"stages": ["RECEIVED"]}, ["mql_received", "sql_received"]),
        ({"stages": ["ACCEPTED"]}, ["mql_accepted"]),
        ({"stages": ["ARCHIVED"]}, ["sql_won", "sql_lost", "mql_declined", "mql_expired"]),
        ({"stages": ["RECEIVED", "ACCEPTED"]}, ["mql_received", "sql_received", "mql_accepted"]),
        ({"outcomes": ["WON"]}, ["sql_won"]),
        ({"outcomes": ["LOST", "DECLINED"]}, ["sql_lost", "mql_declined"]),
        ({"outcomes": ["EXPIRED"]}, ["mql_expired"]),
        ({"contactRequested": True}, ["mql_received", "mql_accepted", "sql_lost"]),
        ({"contactRequested": False}, ["sql_received", "sql_won", "mql_declined", "mql_expired"]),
        # combinations are ANDed
        (
            {"types": ["MARKETING_QUALIFIED"], "contactRequested": True},
            ["mql_received", "mql_accepted"],
        ),
        (
            {"stages": ["ARCHIVED"], "types": ["SALES_QUALIFIED"], "outcomes": ["WON", "EXPIRED"]},
            ["sql_won"],
        ),
        ({"stages": ["RECEIVED"], "outcomes": ["WON"]}, []),
        (
            {
                "contactRequested": True,
                "receivedFrom": iso(BASE - timedelta(hours=3)),
                "receivedTo": iso(BASE - timedelta(hours=1)),
            },
            ["mql_accepted"],
        ),
        ({}, ALL_QUALIFIED),
    ],
)
async def test_filters(
    admin: GraphQLClient,
    mixed: dict[str, models.Lead],
    filter: dict[str, Any],
    expected: list[str],
) -> None:
    connection = await fetch_page(admin, "QUALIFIED", filter=filter, first=100)
    assert names(mixed, [e["node"]["id"] for e in connection["edges"]]) == expected
    assert connection["totalCount"] == len(expected)


async def test_received_range_is_inclusive_from_and_exclusive_to(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    t0, t1, t2 = BASE, BASE + timedelta(hours=1), BASE + timedelta(hours=2)
    at_t0 = await make_lead(session, organisation_id=org, received_at=t0)
    at_t1 = await make_lead(session, organisation_id=org, received_at=t1)
    at_t2 = await make_lead(session, organisation_id=org, received_at=t2)
    just_before_t1 = await make_lead(
        session, organisation_id=org, received_at=t1 - timedelta(microseconds=1)
    )

    async def between(**bounds: datetime) -> list[str]:
        f = {"receivedFrom" if k == "start" else "receivedTo": iso(v) for k, v in bounds.items()}
        return await page_ids(admin, "MARKETPLACE", filter=f, order_by="RECEIVED_AT_ASC")

    assert await between(start=t1, end=t2) == [sid(at_t1)]
    assert await between(start=t1) == [sid(at_t1), sid(at_t2)]
    assert await between(end=t1) == [sid(at_t0), sid(just_before_t1)]
    assert await between(start=t0, end=t2 + timedelta(microseconds=1)) == [
        sid(at_t0),
        sid(just_before_t1),
        sid(at_t1),
        sid(at_t2),
    ]
    # an empty range is not an error
    assert await between(start=t1, end=t1) == []
    # the same instant in another offset
    plus_two = timezone(timedelta(hours=2))
    assert await between(start=t1.astimezone(plus_two), end=t2.astimezone(plus_two)) == [sid(at_t1)]


async def test_received_from_after_received_to_is_a_validation_error(
    admin: GraphQLClient, mixed: dict[str, models.Lead]
) -> None:
    body = await admin(
        LEADS,
        {
            "tab": "QUALIFIED",
            "filter": {"receivedFrom": iso(BASE), "receivedTo": iso(BASE - timedelta(seconds=1))},
        },
    )
    error = only_error(body)
    assert error["extensions"]["code"] == "VALIDATION"
    assert error["extensions"]["field"] == ["filter", "receivedFrom"]
    assert body["data"] is None


@pytest.mark.parametrize(
    "bounds",
    [
        # A client mixing a local (offset-less) time with a UTC one.
        pytest.param(
            {"receivedFrom": "2026-01-02T00:00:00", "receivedTo": NOON}, id="naive-from-aware-to"
        ),
        pytest.param(
            {"receivedFrom": NOON, "receivedTo": "2026-01-02T00:00:00"}, id="aware-from-naive-to"
        ),
        # Dates the DateTime scalar accepts but Postgres cannot hold once moved to UTC.
        pytest.param({"receivedFrom": "0001-01-01T00:00:00+01:00"}, id="from-before-year-1"),
        pytest.param({"receivedTo": "9999-12-31T23:00:00-05:00"}, id="to-after-year-9999"),
    ],
)
async def test_odd_received_bounds_are_answered_not_internal_errors(
    admin: GraphQLClient, mixed: dict[str, models.Lead], bounds: dict[str, str]
) -> None:
    """Whatever the API decides for such bounds (a result, or a VALIDATION error naming the
    filter), the client's input must not surface as a masked INTERNAL error."""
    body = await admin(LEADS, {"tab": "QUALIFIED", "filter": bounds})
    for error in body.get("errors") or []:
        assert error["extensions"]["code"] == "VALIDATION", body
        assert error["extensions"].get("field", ["filter"])[0] == "filter", body
    if not body.get("errors"):
        assert isinstance(body["data"]["leads"]["totalCount"], int)


@pytest.fixture
async def searchable(session: AsyncSession, partner: WorldPartner) -> dict[str, models.Lead]:
    """Leads whose every searchable word is distinct, so each search names its matches."""
    org = partner.organisation_id

    async def lead(name: str, hours: int, **fields: Any) -> models.Lead:
        values: dict[str, Any] = {
            "company_name": f"Quorra {name}",
            "contact_name": f"Zed {name}",
            "contact_email": f"{name.lower()}@mail.example",
            "need": "Storage",
            "industry": "Mining",
        }
        values.update(fields)
        return await make_lead(
            session,
            organisation_id=org,
            type=LeadType.SALES_QUALIFIED,
            received_at=BASE - timedelta(hours=hours),
            **values,
        )

    return {
        "northwind": await lead("N", 1, company_name="Northwind Traders"),
        "rossi": await lead("R", 2, contact_name="Bruno Rossi"),
        "bluesky": await lead("B", 3, stage=LeadStage.ACCEPTED, deal_name="Blue Sky Rollout"),
        "tailspin": await lead("T", 4, company_name="Tailspin Toys", contact_name="Bruno Costa"),
    }


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("Northwind", ["northwind"]),
        ("north", ["northwind"]),  # a prefix of the company name
        ("NORTHW", ["northwind"]),  # case does not matter
        ("trad", ["northwind"]),  # prefix of a later word
        ("wind", []),  # a prefix, not a substring
        ("ross", ["rossi"]),  # contact name
        ("bruno", ["rossi", "tailspin"]),
        ("bruno costa", ["tailspin"]),  # words are ANDed
        ("costa bruno", ["tailspin"]),  # in any order
        ("bruno northwind", []),  # words from two different leads match neither
        ("blue sk", ["bluesky"]),  # deal name, every word a prefix
        ("rollout", ["bluesky"]),
        ("  tailspin,   toys!  ", ["tailspin"]),  # punctuation and spaces separate words
        ("!!!", []),  # only punctuation: nothing, not an error
        ("-- & | ! ' : * ( )", []),  # tsquery operators are not operators here
        ("quorra", ["rossi", "bluesky"]),
    ],
)
async def test_search(
    admin: GraphQLClient, searchable: dict[str, models.Lead], search: str, expected: list[str]
) -> None:
    by_id = {sid(lead): name for name, lead in searchable.items()}
    connection = await fetch_page(admin, "QUALIFIED", filter={"search": search}, first=100)
    assert [by_id[e["node"]["id"]] for e in connection["edges"]] == expected
    assert connection["totalCount"] == len(expected)


async def test_search_combines_with_other_filters(
    admin: GraphQLClient, searchable: dict[str, models.Lead]
) -> None:
    ids = await page_ids(admin, "QUALIFIED", filter={"search": "quorra", "stages": ["ACCEPTED"]})
    assert ids == [sid(searchable["bluesky"])]
    ids = await page_ids(
        admin,
        "QUALIFIED",
        filter={"search": "bruno", "receivedFrom": iso(BASE - timedelta(hours=3))},
    )
    assert ids == [sid(searchable["rossi"])]
    # search applies within the tab
    assert await page_ids(admin, "MARKETPLACE", filter={"search": "northwind"}) == []


async def test_search_longer_than_the_limit_is_a_validation_error(
    admin: GraphQLClient, searchable: dict[str, models.Lead]
) -> None:
    body = await admin(LEADS, {"tab": "QUALIFIED", "filter": {"search": "a" * 201}})
    error = only_error(body)
    assert error["extensions"] == {"code": "VALIDATION", "field": ["filter", "search"]}
