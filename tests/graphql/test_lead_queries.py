"""Reading leads over GraphQL: tabs, filters, orders, keyset paging, badge counts, one lead,
who sees what, and the number of SQL statements a page costs."""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from tests.conftest import GraphQLClient
from tests.factories import World, WorldPartner, make_lead, make_partner

TABS = ("MARKETPLACE", "QUALIFIED", "FAVORITES")
STAGES = ("RECEIVED", "ACCEPTED", "ARCHIVED")
QUALIFIED_TYPES = {"MARKETING_QUALIFIED", "SALES_QUALIFIED"}

NOON = "2026-01-01T12:00:00+00:00"
# A fixed past instant for leads whose clock does not matter (ordering, paging, filters).
BASE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

LEADS = """
query Leads($tab: LeadTab!, $filter: LeadFilter, $orderBy: LeadOrder! = RECEIVED_AT_DESC,
            $first: Int, $after: String) {
  leads(tab: $tab, filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id type tab stage outcome isFavorite } }
    nodes { id }
  }
}
"""

LEAD = """
query Lead($id: ID!) {
  lead(id: $id) {
    id version type tab stage outcome receivedAt respondBy timeLeftToRespond respondedAt
    archivedAt updatedAt contactAlert allowedActions isFavorite
    customer {
      companyName companySize industry country contactName contactEmail contactPhone need
      contactRequested consentToContact
    }
    deal {
      name estimatedValue { amount currency } estimatedPurchaseDate notes crmId campaignId
      declineReason declineNotes finalValue { amount currency } closingDate lostReason lostNotes
    }
    sender { kind name organisationName }
    team { id name email phone addedAt }
    history { id action fromStage toStage outcome at actor { kind name } changes { field } }
  }
}
"""

COUNTS = "query { leadCounts { tab stage count } }"

SET_FAVORITE = """
mutation Heart($id: ID!, $favorite: Boolean!) {
  setLeadFavorite(input: {id: $id, favorite: $favorite}) {
    lead { id isFavorite }
    errors { code field message }
  }
}
"""


# --- helpers -------------------------------------------------------------------------------


async def fetch_page(
    client: GraphQLClient, tab: str, *, filter: dict[str, Any] | None = None,
    order_by: str | None = None, first: int | None = None, after: str | None = None,
) -> dict[str, Any]:
    variables: dict[str, Any] = {"tab": tab, "filter": filter, "first": first, "after": after}
    if order_by is not None:
        variables["orderBy"] = order_by
    data = await client.data(LEADS, variables)
    connection: dict[str, Any] = data["leads"]
    # edges and nodes are the same leads in the same order
    assert [e["node"]["id"] for e in connection["edges"]] == [n["id"] for n in connection["nodes"]]
    return connection


async def page_ids(client: GraphQLClient, tab: str, **kwargs: Any) -> list[str]:
    """Ids of the first page (first=100 unless given): enough for a fresh partner's leads."""
    kwargs.setdefault("first", 100)
    connection = await fetch_page(client, tab, **kwargs)
    assert not connection["pageInfo"]["hasNextPage"], "use walk() for more than one page"
    return [e["node"]["id"] for e in connection["edges"]]


async def walk(
    client: GraphQLClient, tab: str, *, first: int, **kwargs: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every page of a list, following endCursor; the ids in order and the pages."""
    ids: list[str] = []
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        connection = await fetch_page(client, tab, first=first, after=after, **kwargs)
        pages.append(connection)
        ids.extend(e["node"]["id"] for e in connection["edges"])
        if not connection["pageInfo"]["hasNextPage"]:
            return ids, pages
        after = connection["pageInfo"]["endCursor"]
        assert len(pages) < 200, "paging does not terminate"


def only_error(body: dict[str, Any]) -> dict[str, Any]:
    """The single GraphQL error of a refused query, with its extensions."""
    assert body.get("errors"), body
    assert len(body["errors"]) == 1, body["errors"]
    error: dict[str, Any] = body["errors"][0]
    return error


def iso(moment: datetime) -> str:
    return moment.isoformat()


def sid(lead: models.Lead) -> str:
    return str(lead.id)


def forge_cursor(payload: Any) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def favorite(session: AsyncSession, user_id: uuid.UUID, *leads: models.Lead) -> None:
    for lead in leads:
        session.add(models.LeadFavorite(user_id=user_id, lead_id=lead.id))
    await session.flush()


async def platform_org_id(session: AsyncSession, world: World) -> uuid.UUID:
    org_id = await session.scalar(
        select(models.User.organisation_id).where(models.User.id == world.seller)
    )
    assert org_id is not None
    return org_id


async def archived(session: AsyncSession, organisation_id: uuid.UUID, outcome: str,
                   **fields: Any) -> models.Lead:
    """An ARCHIVED lead with the columns its outcome requires."""
    extra: dict[str, Any] = {"outcome": outcome, "archived_at": BASE}
    if outcome in ("WON", "LOST"):
        extra["deal_name"] = "Closed deal"
    if outcome == "LOST":
        extra["lost_reason"] = "PRICE"
    if outcome == "DECLINED":
        extra["decline_reason"] = "SPAM"
    extra.update(fields)
    return await make_lead(session, organisation_id=organisation_id, stage=LeadStage.ARCHIVED,
                           **extra)


@pytest.fixture
async def partner(session: AsyncSession) -> WorldPartner:
    """A partner with no leads yet: every test below says exactly which leads it has."""
    return await make_partner(session)


@pytest.fixture
def admin(gql: GraphQLClient, partner: WorldPartner) -> GraphQLClient:
    return gql.as_user(partner.referrals_admin)


# --- tabs ----------------------------------------------------------------------------------


async def test_marketplace_holds_only_inquiries_and_qualified_only_mql_and_sql(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    inquiries = [
        await make_lead(session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY,
                        received_at=BASE - timedelta(hours=1)),
        await make_lead(session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY,
                        stage=LeadStage.ACCEPTED, received_at=BASE - timedelta(hours=2)),
        await archived(session, org, "DECLINED", type=LeadType.CUSTOMER_INQUIRY,
                       received_at=BASE - timedelta(hours=3)),
    ]
    qualified = [
        await make_lead(session, organisation_id=org, type=LeadType.MARKETING_QUALIFIED,
                        received_at=BASE - timedelta(hours=4)),
        await make_lead(session, organisation_id=org, type=LeadType.SALES_QUALIFIED,
                        stage=LeadStage.ACCEPTED, received_at=BASE - timedelta(hours=5)),
        await archived(session, org, "WON", type=LeadType.SALES_QUALIFIED,
                       received_at=BASE - timedelta(hours=6)),
    ]

    marketplace = await fetch_page(admin, "MARKETPLACE", first=100)
    assert [e["node"]["id"] for e in marketplace["edges"]] == [sid(x) for x in inquiries]
    assert {e["node"]["type"] for e in marketplace["edges"]} == {"CUSTOMER_INQUIRY"}
    assert {e["node"]["tab"] for e in marketplace["edges"]} == {"MARKETPLACE"}
    assert marketplace["totalCount"] == 3

    qualified_page = await fetch_page(admin, "QUALIFIED", first=100)
    assert [e["node"]["id"] for e in qualified_page["edges"]] == [sid(x) for x in qualified]
    assert {e["node"]["type"] for e in qualified_page["edges"]} == QUALIFIED_TYPES
    assert {e["node"]["tab"] for e in qualified_page["edges"]} == {"QUALIFIED"}
    assert qualified_page["totalCount"] == 3


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
    inquiry = await make_lead(session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY,
                              received_at=BASE - timedelta(hours=1))
    mql = await make_lead(session, organisation_id=org, type=LeadType.MARKETING_QUALIFIED,
                          received_at=BASE - timedelta(hours=2))
    sql_lead = await archived(session, org, "LOST", type=LeadType.SALES_QUALIFIED,
                              received_at=BASE - timedelta(hours=3))
    other_admins = await make_lead(session, organisation_id=org, received_at=BASE)
    await make_lead(session, organisation_id=org, received_at=BASE - timedelta(hours=4))

    # The referrals admin hearts three through the API (one twice: idempotent) ...
    for lead in (inquiry, mql, sql_lead, mql):
        data = await admin.data(SET_FAVORITE, {"id": sid(lead), "favorite": True})
        assert data["setLeadFavorite"] == {"lead": {"id": sid(lead), "isFavorite": True},
                                           "errors": []}
    # ... the partner admin hearts another one, and one of the same.
    await favorite(session, partner.partner_admin, other_admins, inquiry)

    connection = await fetch_page(admin, "FAVORITES", first=100)
    assert [e["node"]["id"] for e in connection["edges"]] == [
        sid(inquiry), sid(mql), sid(sql_lead)
    ]
    assert {e["node"]["tab"] for e in connection["edges"]} == {"MARKETPLACE", "QUALIFIED"}
    assert all(e["node"]["isFavorite"] for e in connection["edges"])
    assert connection["totalCount"] == 3

    partner_admin = gql.as_user(partner.partner_admin)
    assert await page_ids(partner_admin, "FAVORITES") == [sid(other_admins), sid(inquiry)]
    # Hearts are personal: the partner admin sees their own marks, not the referrals admin's.
    marks = {e["node"]["id"]: e["node"]["isFavorite"]
             for e in (await fetch_page(partner_admin, "MARKETPLACE", first=100))["edges"]}
    assert marks[sid(other_admins)] is True
    assert marks[sid(inquiry)] is True
    qualified_marks = {e["node"]["id"]: e["node"]["isFavorite"]
                       for e in (await fetch_page(partner_admin, "QUALIFIED", first=100))["edges"]}
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
    accepted = await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED,
                               type=LeadType.SALES_QUALIFIED, received_at=BASE - timedelta(days=1))
    await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED)  # not hearted
    await favorite(session, partner.referrals_admin, received, accepted)

    assert await page_ids(admin, "FAVORITES", filter={"stages": ["ACCEPTED"]}) == [sid(accepted)]
    assert await page_ids(admin, "FAVORITES", filter={"types": ["CUSTOMER_INQUIRY"]}) == [
        sid(received)
    ]


# --- filters -------------------------------------------------------------------------------


@pytest.fixture
async def mixed(session: AsyncSession, partner: WorldPartner) -> dict[str, models.Lead]:
    """One lead per interesting combination, all in the QUALIFIED tab unless named inquiry."""
    org = partner.organisation_id
    leads = {
        "mql_received": await make_lead(
            session, organisation_id=org, type=LeadType.MARKETING_QUALIFIED,
            received_at=BASE - timedelta(hours=1), contact_requested=True),
        "sql_received": await make_lead(
            session, organisation_id=org, type=LeadType.SALES_QUALIFIED,
            received_at=BASE - timedelta(hours=2)),
        "mql_accepted": await make_lead(
            session, organisation_id=org, type=LeadType.MARKETING_QUALIFIED,
            stage=LeadStage.ACCEPTED, received_at=BASE - timedelta(hours=3),
            contact_requested=True),
        "sql_won": await archived(
            session, org, "WON", type=LeadType.SALES_QUALIFIED,
            received_at=BASE - timedelta(hours=4)),
        "sql_lost": await archived(
            session, org, "LOST", type=LeadType.SALES_QUALIFIED,
            received_at=BASE - timedelta(hours=5), contact_requested=True),
        "mql_declined": await archived(
            session, org, "DECLINED", type=LeadType.MARKETING_QUALIFIED,
            received_at=BASE - timedelta(hours=6)),
        "mql_expired": await archived(
            session, org, "EXPIRED", type=LeadType.MARKETING_QUALIFIED,
            received_at=BASE - timedelta(hours=7)),
        "inquiry": await make_lead(
            session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY,
            received_at=BASE - timedelta(hours=8), contact_requested=True),
    }
    return leads


def names(mixed: dict[str, models.Lead], ids: list[str]) -> list[str]:
    by_id = {sid(lead): name for name, lead in mixed.items()}
    return [by_id[i] for i in ids]


@pytest.mark.parametrize(
    ("filter", "expected"),
    [
        ({"types": ["MARKETING_QUALIFIED"]},
         ["mql_received", "mql_accepted", "mql_declined", "mql_expired"]),
        ({"types": ["SALES_QUALIFIED"]}, ["sql_received", "sql_won", "sql_lost"]),
        ({"types": ["CUSTOMER_INQUIRY"]}, []),
        ({"types": []}, []),
        ({"types": ["SALES_QUALIFIED", "MARKETING_QUALIFIED"]},
         ["mql_received", "sql_received", "mql_accepted", "sql_won", "sql_lost", "mql_declined",
          "mql_expired"]),
        ({"stages": ["RECEIVED"]}, ["mql_received", "sql_received"]),
        ({"stages": ["ACCEPTED"]}, ["mql_accepted"]),
        ({"stages": ["ARCHIVED"]}, ["sql_won", "sql_lost", "mql_declined", "mql_expired"]),
        ({"stages": ["RECEIVED", "ACCEPTED"]}, ["mql_received", "sql_received", "mql_accepted"]),
        ({"outcomes": ["WON"]}, ["sql_won"]),
        ({"outcomes": ["LOST", "DECLINED"]}, ["sql_lost", "mql_declined"]),
        ({"outcomes": ["EXPIRED"]}, ["mql_expired"]),
        ({"contactRequested": True}, ["mql_received", "mql_accepted", "sql_lost"]),
        ({"contactRequested": False},
         ["sql_received", "sql_won", "mql_declined", "mql_expired"]),
        # combinations are ANDed
        ({"types": ["MARKETING_QUALIFIED"], "contactRequested": True},
         ["mql_received", "mql_accepted"]),
        ({"stages": ["ARCHIVED"], "types": ["SALES_QUALIFIED"], "outcomes": ["WON", "EXPIRED"]},
         ["sql_won"]),
        ({"stages": ["RECEIVED"], "outcomes": ["WON"]}, []),
        ({"contactRequested": True, "receivedFrom": iso(BASE - timedelta(hours=3)),
          "receivedTo": iso(BASE - timedelta(hours=1))}, ["mql_accepted"]),
        ({}, ["mql_received", "sql_received", "mql_accepted", "sql_won", "sql_lost",
              "mql_declined", "mql_expired"]),
    ],
)
async def test_filters(
    admin: GraphQLClient, mixed: dict[str, models.Lead], filter: dict[str, Any],
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
    just_before_t1 = await make_lead(session, organisation_id=org,
                                     received_at=t1 - timedelta(microseconds=1))

    async def between(**bounds: datetime) -> list[str]:
        f = {"receivedFrom" if k == "start" else "receivedTo": iso(v) for k, v in bounds.items()}
        return await page_ids(admin, "MARKETPLACE", filter=f, order_by="RECEIVED_AT_ASC")

    assert await between(start=t1, end=t2) == [sid(at_t1)]
    assert await between(start=t1) == [sid(at_t1), sid(at_t2)]
    assert await between(end=t1) == [sid(at_t0), sid(just_before_t1)]
    assert await between(start=t0, end=t2 + timedelta(microseconds=1)) == [
        sid(at_t0), sid(just_before_t1), sid(at_t1), sid(at_t2)
    ]
    # an empty range is not an error
    assert await between(start=t1, end=t1) == []
    # the same instant in another offset
    plus_two = timezone(timedelta(hours=2))
    assert await between(start=t1.astimezone(plus_two), end=t2.astimezone(plus_two)) == [
        sid(at_t1)
    ]


async def test_received_from_after_received_to_is_a_validation_error(
    admin: GraphQLClient, mixed: dict[str, models.Lead]
) -> None:
    body = await admin(LEADS, {"tab": "QUALIFIED", "filter": {
        "receivedFrom": iso(BASE), "receivedTo": iso(BASE - timedelta(seconds=1))}})
    error = only_error(body)
    assert error["extensions"]["code"] == "VALIDATION"
    assert error["extensions"]["field"] == ["filter", "receivedFrom"]
    assert body["data"] is None


@pytest.mark.parametrize(
    "bounds",
    [
        # A client mixing a local (offset-less) time with a UTC one.
        pytest.param({"receivedFrom": "2026-01-02T00:00:00", "receivedTo": NOON},
                     id="naive-from-aware-to"),
        pytest.param({"receivedFrom": NOON, "receivedTo": "2026-01-02T00:00:00"},
                     id="aware-from-naive-to"),
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
            "company_name": f"Quorra {name}", "contact_name": f"Zed {name}",
            "contact_email": f"{name.lower()}@mail.example", "need": "Storage",
            "industry": "Mining",
        }
        values.update(fields)
        return await make_lead(session, organisation_id=org, type=LeadType.SALES_QUALIFIED,
                               received_at=BASE - timedelta(hours=hours), **values)

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
    ids = await page_ids(admin, "QUALIFIED", filter={
        "search": "bruno", "receivedFrom": iso(BASE - timedelta(hours=3))})
    assert ids == [sid(searchable["rossi"])]
    # search applies within the tab
    assert await page_ids(admin, "MARKETPLACE", filter={"search": "northwind"}) == []


async def test_search_longer_than_the_limit_is_a_validation_error(
    admin: GraphQLClient, searchable: dict[str, models.Lead]
) -> None:
    body = await admin(LEADS, {"tab": "QUALIFIED", "filter": {"search": "a" * 201}})
    error = only_error(body)
    assert error["extensions"] == {"code": "VALIDATION", "field": ["filter", "search"]}


# --- ordering ------------------------------------------------------------------------------


def expected_order(leads: list[models.Lead], order_by: str) -> list[str]:
    column, descending = {
        "RECEIVED_AT_DESC": ("received_at", True),
        "RECEIVED_AT_ASC": ("received_at", False),
        "RESPOND_BY_ASC": ("respond_by", False),
        "UPDATED_AT_DESC": ("updated_at", True),
    }[order_by]
    ordered = sorted(leads, key=lambda x: (getattr(x, column), x.id), reverse=descending)
    return [sid(x) for x in ordered]


async def test_default_order_breaks_received_at_ties_by_id_across_pages(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    leads = [await make_lead(session, organisation_id=org, received_at=BASE) for _ in range(7)]
    leads.append(await make_lead(session, organisation_id=org, received_at=BASE + timedelta(1)))
    leads.append(await make_lead(session, organisation_id=org, received_at=BASE - timedelta(1)))
    expected = expected_order(leads, "RECEIVED_AT_DESC")

    for first in (1, 2, 3, 4):
        ids, pages = await walk(admin, "MARKETPLACE", first=first)
        assert ids == expected, f"first={first}"
        assert len(pages) == -(-len(expected) // first)
    # without orderBy it is the same order as RECEIVED_AT_DESC named
    assert await page_ids(admin, "MARKETPLACE") == expected
    assert await page_ids(admin, "MARKETPLACE", order_by="RECEIVED_AT_DESC") == expected


@pytest.mark.parametrize(
    "order_by", ["RECEIVED_AT_DESC", "RECEIVED_AT_ASC", "RESPOND_BY_ASC", "UPDATED_AT_DESC"]
)
async def test_orders_page_in_keyset_order(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient, order_by: str
) -> None:
    org = partner.organisation_id
    leads: list[models.Lead] = []
    # received_at, response days and updated_at chosen so that each order differs from the
    # others, with ties in every column.
    plan = [(0, 14, 5), (0, 7, 5), (1, 14, 0), (2, 3, 5), (2, 14, 9), (3, 14, 9), (3, 1, 1),
            (4, 30, 5), (0, 14, 9)]
    for received_hours, response_days, updated_hours in plan:
        lead = await make_lead(session, organisation_id=org,
                               received_at=BASE + timedelta(hours=received_hours),
                               response_days=response_days)
        lead.updated_at = BASE + timedelta(days=30, hours=updated_hours)
        leads.append(lead)
    await session.flush()
    expected = expected_order(leads, order_by)
    orders = ("RECEIVED_AT_DESC", "RECEIVED_AT_ASC", "RESPOND_BY_ASC", "UPDATED_AT_DESC")
    assert len({tuple(expected_order(leads, o)) for o in orders}) == 4

    ids, pages = await walk(admin, "MARKETPLACE", first=2, order_by=order_by)
    assert ids == expected
    assert {p["totalCount"] for p in pages} == {len(plan)}
    assert await page_ids(admin, "MARKETPLACE", order_by=order_by) == expected


# --- cursor paging -------------------------------------------------------------------------


async def test_walking_pages_of_three_returns_the_full_list_with_page_info(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    for i in range(9):
        await make_lead(session, organisation_id=org, received_at=BASE - timedelta(minutes=i))
    await make_lead(session, organisation_id=org, type=LeadType.SALES_QUALIFIED)  # other tab

    full = await fetch_page(admin, "MARKETPLACE", first=100)
    full_ids = [e["node"]["id"] for e in full["edges"]]
    assert len(full_ids) == 9
    assert full["pageInfo"] == {
        "hasNextPage": False, "hasPreviousPage": False,
        "startCursor": full["edges"][0]["cursor"], "endCursor": full["edges"][-1]["cursor"],
    }

    ids, pages = await walk(admin, "MARKETPLACE", first=3)
    assert ids == full_ids
    # 9 leads in pages of 3: exactly three pages, the last says there is no next one
    assert [len(p["edges"]) for p in pages] == [3, 3, 3]
    for index, p in enumerate(pages):
        info = p["pageInfo"]
        assert p["totalCount"] == 9
        assert info["startCursor"] == p["edges"][0]["cursor"]
        assert info["endCursor"] == p["edges"][-1]["cursor"]
        assert info["hasNextPage"] is (index < 2)
        assert info["hasPreviousPage"] is (index > 0)
    # a cursor names the same position whichever page it came from
    assert [e["cursor"] for p in pages for e in p["edges"]] == [e["cursor"] for e in full["edges"]]

    # continuing after any edge gives the rest of the list
    after_fourth = await fetch_page(admin, "MARKETPLACE", first=100,
                                    after=full["edges"][3]["cursor"])
    assert [e["node"]["id"] for e in after_fourth["edges"]] == full_ids[4:]
    assert after_fourth["totalCount"] == 9
    # after the last lead: an empty page
    after_last = await fetch_page(admin, "MARKETPLACE", first=3,
                                  after=full["edges"][-1]["cursor"])
    assert after_last["edges"] == []
    assert after_last["pageInfo"]["hasNextPage"] is False
    assert after_last["pageInfo"]["startCursor"] is None
    assert after_last["pageInfo"]["endCursor"] is None
    assert after_last["totalCount"] == 9


async def test_total_count_counts_matching_leads_not_the_page(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    for i in range(7):
        await make_lead(session, organisation_id=org, received_at=BASE - timedelta(minutes=i),
                        contact_requested=i % 2 == 0)
    ids, pages = await walk(admin, "MARKETPLACE", first=3,
                            filter={"contactRequested": True})
    assert len(ids) == 4
    assert [p["totalCount"] for p in pages] == [4, 4]


async def test_demo_inbox_walks_without_gaps_or_repeats(
    gql: GraphQLClient, world: World
) -> None:
    client = gql.as_user(world.fabrikam.referrals_admin)
    full = await fetch_page(client, "QUALIFIED", first=100)
    full_ids = [e["node"]["id"] for e in full["edges"]]
    assert full["totalCount"] == len(full_ids) > 6
    ids, pages = await walk(client, "QUALIFIED", first=3)
    assert ids == full_ids
    assert {p["totalCount"] for p in pages} == {len(full_ids)}


async def test_leads_arriving_while_paging_neither_duplicate_nor_drop_the_original_set(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    originals = [
        await make_lead(session, organisation_id=org, received_at=BASE - timedelta(hours=i // 2))
        for i in range(10)
    ]
    expected = expected_order(originals, "RECEIVED_AT_DESC")

    seen: list[str] = []
    arrivals: list[models.Lead] = []
    after = None
    totals = []
    for round_ in range(20):
        connection = await fetch_page(admin, "MARKETPLACE", first=3, after=after)
        seen.extend(e["node"]["id"] for e in connection["edges"])
        totals.append(connection["totalCount"])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        # New leads arrive, newer than anything in the inbox, between two page requests.
        for k in range(2):
            arrivals.append(await make_lead(
                session, organisation_id=org,
                received_at=BASE + timedelta(minutes=10 * round_ + k + 1)))
    assert seen == expected
    assert len(seen) == len(set(seen))
    # totalCount tracks the inbox as it is at each request
    assert totals == [10 + 2 * i for i in range(len(totals))]
    # the arrivals are all at the top of a fresh first page
    top = await fetch_page(admin, "MARKETPLACE", first=len(arrivals))
    assert {e["node"]["id"] for e in top["edges"]} == {sid(x) for x in arrivals}


async def test_first_zero_returns_no_edges(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    for _ in range(2):
        await make_lead(session, organisation_id=partner.organisation_id)
    connection = await fetch_page(admin, "MARKETPLACE", first=0)
    assert connection["edges"] == []
    assert connection["nodes"] == []
    assert connection["totalCount"] == 2
    assert connection["pageInfo"]["startCursor"] is None
    assert connection["pageInfo"]["endCursor"] is None
    assert connection["pageInfo"]["hasNextPage"] is True


async def test_first_defaults_to_twenty_and_allows_one_hundred(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    for i in range(21):
        await make_lead(session, organisation_id=partner.organisation_id,
                        received_at=BASE - timedelta(minutes=i))
    default = await fetch_page(admin, "MARKETPLACE")
    assert len(default["edges"]) == 20
    assert default["pageInfo"]["hasNextPage"] is True
    hundred = await fetch_page(admin, "MARKETPLACE", first=100)
    assert len(hundred["edges"]) == 21
    assert hundred["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [1000, 101, -1])
async def test_first_out_of_range_is_a_validation_error(
    admin: GraphQLClient, first: int
) -> None:
    body = await admin(LEADS, {"tab": "MARKETPLACE", "first": first})
    error = only_error(body)
    assert error["extensions"] == {"code": "VALIDATION", "field": ["first"]}
    assert error["path"] == ["leads"]
    assert body["data"] is None


async def test_a_cursor_from_another_order_is_a_validation_error(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    for _ in range(3):
        await make_lead(session, organisation_id=partner.organisation_id)
    cursor = (await fetch_page(admin, "MARKETPLACE", first=1))["pageInfo"]["endCursor"]
    assert cursor
    for other in ("RECEIVED_AT_ASC", "RESPOND_BY_ASC", "UPDATED_AT_DESC"):
        body = await admin(LEADS, {"tab": "MARKETPLACE", "orderBy": other, "first": 1,
                                   "after": cursor})
        error = only_error(body)
        assert error["extensions"] == {"code": "VALIDATION", "field": ["after"]}, other
    # the cursor still works with its own order
    ok = await fetch_page(admin, "MARKETPLACE", first=1, after=cursor)
    assert len(ok["edges"]) == 1


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage", id="word"),
        pytest.param("", id="empty"),
        pytest.param("!!!!", id="punctuation"),
        pytest.param("%%%===", id="padding"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(), id="not-utf8"),
        pytest.param(forge_cursor({"order": "RECEIVED_AT_DESC"}), id="json-object"),
        pytest.param(forge_cursor(42), id="json-number"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON]), id="two-parts"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", "not a date", str(uuid.uuid4())]),
                     id="bad-date"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", "2026-01-01T00:00:00", str(uuid.uuid4())]),
                     id="naive-date"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, "not-a-uuid"]), id="bad-id"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", 1767225600, str(uuid.uuid4())]),
                     id="date-as-number"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, None]), id="id-null"),
        # The right shape, but the id is not a string: uuid.UUID() raises AttributeError.
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, 12345]), id="id-number"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, {"a": 1}]), id="id-object"),
        # Dates Python parses but Postgres cannot hold once moved to UTC.
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", "0001-01-01T00:00:00+05:00",
                                   str(uuid.uuid4())]), id="date-before-year-1"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", "9999-12-31T23:59:59-05:00",
                                   str(uuid.uuid4())]), id="date-after-year-9999"),
    ],
)
async def test_a_garbage_cursor_is_a_validation_error_on_after(
    admin: GraphQLClient, cursor: str
) -> None:
    body = await admin(LEADS, {"tab": "MARKETPLACE", "first": 3, "after": cursor})
    error = only_error(body)
    assert error["extensions"] == {"code": "VALIDATION", "field": ["after"]}
    assert body["data"] is None


# --- leadCounts ----------------------------------------------------------------------------


def as_table(counts: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    table = {(c["tab"], c["stage"]): c["count"] for c in counts}
    assert len(table) == len(counts), "a (tab, stage) pair appears twice"
    return table


def zeros() -> dict[tuple[str, str], int]:
    return {(tab, stage): 0 for tab in TABS for stage in STAGES}


async def test_lead_counts_list_every_pair_with_zeros(admin: GraphQLClient) -> None:
    counts = (await admin.data(COUNTS))["leadCounts"]
    assert len(counts) == 9
    assert as_table(counts) == zeros()


async def test_lead_counts_match_a_partners_leads(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    org = partner.organisation_id
    made = [
        await make_lead(session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY),
        await make_lead(session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY),
        await make_lead(session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY,
                        stage=LeadStage.ACCEPTED),
        await archived(session, org, "EXPIRED"),
        await make_lead(session, organisation_id=org, type=LeadType.MARKETING_QUALIFIED),
        await make_lead(session, organisation_id=org, type=LeadType.SALES_QUALIFIED,
                        stage=LeadStage.ACCEPTED),
        await make_lead(session, organisation_id=org, type=LeadType.MARKETING_QUALIFIED,
                        stage=LeadStage.ACCEPTED),
        await archived(session, org, "WON", type=LeadType.SALES_QUALIFIED),
        await archived(session, org, "LOST", type=LeadType.SALES_QUALIFIED),
        await archived(session, org, "DECLINED", type=LeadType.MARKETING_QUALIFIED),
    ]
    # another partner's leads do not count
    other = await make_partner(session)
    await make_lead(session, organisation_id=other.organisation_id)
    await favorite(session, partner.referrals_admin, made[0], made[5], made[7], made[8])
    await favorite(session, partner.partner_admin, made[1])
    await favorite(session, other.referrals_admin)

    expected = zeros() | {
        ("MARKETPLACE", "RECEIVED"): 2, ("MARKETPLACE", "ACCEPTED"): 1,
        ("MARKETPLACE", "ARCHIVED"): 1,
        ("QUALIFIED", "RECEIVED"): 1, ("QUALIFIED", "ACCEPTED"): 2,
        ("QUALIFIED", "ARCHIVED"): 3,
        ("FAVORITES", "RECEIVED"): 1, ("FAVORITES", "ACCEPTED"): 1,
        ("FAVORITES", "ARCHIVED"): 2,
    }
    counts = (await admin.data(COUNTS))["leadCounts"]
    assert len(counts) == 9
    assert as_table(counts) == expected

    # Favorites are counted per viewer.
    theirs = as_table((await gql.as_user(partner.partner_admin).data(COUNTS))["leadCounts"])
    assert theirs == expected | {("FAVORITES", "RECEIVED"): 1, ("FAVORITES", "ACCEPTED"): 0,
                                 ("FAVORITES", "ARCHIVED"): 0}

    # The counts agree with the lists they badge.
    for (tab, stage), count in expected.items():
        connection = await fetch_page(admin, tab, filter={"stages": [stage]}, first=0)
        assert connection["totalCount"] == count, (tab, stage)


async def test_lead_counts_follow_a_heart(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    lead = await make_lead(session, organisation_id=partner.organisation_id,
                           stage=LeadStage.ACCEPTED)
    await admin.data(SET_FAVORITE, {"id": sid(lead), "favorite": True})
    table = as_table((await admin.data(COUNTS))["leadCounts"])
    assert table[("FAVORITES", "ACCEPTED")] == 1
    await admin.data(SET_FAVORITE, {"id": sid(lead), "favorite": False})
    table = as_table((await admin.data(COUNTS))["leadCounts"])
    assert table[("FAVORITES", "ACCEPTED")] == 0
    assert table[("MARKETPLACE", "ACCEPTED")] == 1


# --- lead(id) ------------------------------------------------------------------------------


async def test_own_lead_with_all_its_fields(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    received_at = datetime.now(UTC) - timedelta(hours=1)
    lead = await make_lead(
        session, organisation_id=partner.organisation_id, type=LeadType.CUSTOMER_INQUIRY,
        received_at=received_at, contact_requested=True, company_name="Contoso Pharma",
        contact_name="Ana Silva", contact_email="ana@pharma.example", contact_phone="+1 555 0100",
        need="Move the lab systems to the cloud", industry="Healthcare", country="PT",
        company_size="SIZE_251_1000",
    )
    before = datetime.now(UTC)
    data = await admin.data(LEAD, {"id": sid(lead)})
    after = datetime.now(UTC)
    got = data["lead"]
    assert got is not None

    respond_by = received_at + timedelta(days=14)
    assert got["id"] == sid(lead)
    assert got["version"] == 1
    assert (got["type"], got["tab"], got["stage"], got["outcome"]) == (
        "CUSTOMER_INQUIRY", "MARKETPLACE", "RECEIVED", None)
    assert datetime.fromisoformat(got["receivedAt"]) == received_at
    assert datetime.fromisoformat(got["respondBy"]) == respond_by
    assert got["respondedAt"] is None
    assert got["archivedAt"] is None
    assert datetime.fromisoformat(got["updatedAt"]) == received_at
    assert got["contactAlert"] == "URGENT"
    # seconds from the request's clock to respond_by
    assert int((respond_by - after).total_seconds()) - 1 <= got["timeLeftToRespond"]
    assert got["timeLeftToRespond"] <= int((respond_by - before).total_seconds())
    assert got["allowedActions"] == ["ACCEPT", "DECLINE"]
    assert got["isFavorite"] is False
    assert got["customer"] == {
        "companyName": "Contoso Pharma", "companySize": "SIZE_251_1000",
        "industry": "Healthcare", "country": "PT", "contactName": "Ana Silva",
        "contactEmail": "ana@pharma.example", "contactPhone": "+1 555 0100",
        "need": "Move the lab systems to the cloud", "contactRequested": True,
        "consentToContact": True,
    }
    assert got["deal"] is None
    assert got["sender"] == {"kind": "CUSTOMER", "name": "Ana Silva",
                             "organisationName": "Contoso Pharma"}
    assert got["team"] == []
    assert len(got["history"]) == 1
    entry = got["history"][0]
    assert {k: entry[k] for k in ("action", "fromStage", "toStage", "outcome", "actor",
                                  "changes")} == {
        "action": "RECEIVE", "fromStage": None, "toStage": "RECEIVED", "outcome": None,
        "actor": {"kind": "SYSTEM", "name": None}, "changes": [],
    }
    assert datetime.fromisoformat(entry["at"]) == received_at

    await admin.data(SET_FAVORITE, {"id": sid(lead), "favorite": True})
    assert (await admin.data(LEAD, {"id": sid(lead)}))["lead"]["isFavorite"] is True
    # the heart is the viewer's: the partner admin has not hearted it
    theirs = await gql.as_user(partner.partner_admin).data(LEAD, {"id": sid(lead)})
    assert theirs["lead"]["isFavorite"] is False


@pytest.mark.parametrize(
    ("hours_ago", "requested", "stage", "expected"),
    [
        (1, True, "RECEIVED", "URGENT"),
        (71, True, "RECEIVED", "URGENT"),
        (73, True, "RECEIVED", "REMINDER"),
        (80, True, "RECEIVED", "REMINDER"),
        (1, False, "RECEIVED", None),
        (80, False, "RECEIVED", None),
        (1, True, "ACCEPTED", "URGENT"),
        (80, True, "ACCEPTED", "REMINDER"),
        (1, True, "ARCHIVED", None),
    ],
)
async def test_contact_alert(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient, hours_ago: int,
    requested: bool, stage: str, expected: str | None,
) -> None:
    received_at = datetime.now(UTC) - timedelta(hours=hours_ago)
    if stage == "ARCHIVED":
        lead = await archived(session, partner.organisation_id, "WON", received_at=received_at,
                              contact_requested=requested)
    else:
        lead = await make_lead(session, organisation_id=partner.organisation_id,
                               stage=LeadStage(stage), received_at=received_at,
                               contact_requested=requested)
    got = (await admin.data(LEAD, {"id": sid(lead)}))["lead"]
    assert got["contactAlert"] == expected


async def test_accepted_lead_has_deal_team_and_history_without_a_clock(
    session: AsyncSession, world: World, partner: WorldPartner, admin: GraphQLClient
) -> None:
    received_at = datetime.now(UTC) - timedelta(days=2)
    lead = await make_lead(
        session, organisation_id=partner.organisation_id, type=LeadType.SALES_QUALIFIED,
        stage=LeadStage.ACCEPTED, received_at=received_at, crm_id="CRM-7",
        sender_organisation_id=await platform_org_id(session, world),
        sender_user_id=world.seller,
    )
    session.add(models.LeadHistory(
        lead_id=lead.id, action="ACCEPT", from_stage="RECEIVED", to_stage="ACCEPTED",
        actor_kind="USER", actor_user_id=partner.referrals_admin,
        changes={"deal_name": {"from": None, "to": "Adatum migration"}},
        at=received_at + timedelta(hours=2)))
    session.add(models.LeadTeamMember(lead_id=lead.id, name="Bruno Rossi",
                                      email="bruno@p.example", added_at=received_at))
    session.add(models.LeadTeamMember(lead_id=lead.id, name="Carla Dias", phone="+1 555 0101",
                                      added_at=received_at + timedelta(minutes=1)))
    await session.flush()
    names = dict((await session.execute(select(models.User.id, models.User.name).where(
        models.User.id.in_([world.seller, partner.referrals_admin])))).all())

    got = (await admin.data(LEAD, {"id": sid(lead)}))["lead"]
    assert (got["tab"], got["stage"]) == ("QUALIFIED", "ACCEPTED")
    assert got["timeLeftToRespond"] is None
    assert got["allowedActions"] == [
        "UPDATE", "ADD_TEAM_MEMBER", "REMOVE_TEAM_MEMBER", "MARK_WON", "MARK_LOST"
    ]
    assert got["deal"]["name"] == "Adatum migration"
    assert got["deal"]["estimatedValue"] == {"amount": "50000.00", "currency": "USD"}
    assert got["deal"]["crmId"] == "CRM-7"
    assert [(m["name"], m["email"], m["phone"]) for m in got["team"]] == [
        ("Bruno Rossi", "bruno@p.example", None), ("Carla Dias", None, "+1 555 0101")]
    assert [(h["action"], h["actor"]) for h in got["history"]] == [
        ("RECEIVE", {"kind": "SYSTEM", "name": None}),
        ("ACCEPT", {"kind": "USER", "name": names[partner.referrals_admin]}),
    ]
    assert got["history"][1]["changes"] == [{"field": "deal_name"}]
    assert got["sender"] == {"kind": "PLATFORM", "name": names[world.seller],
                             "organisationName": "Partner Program"}


async def test_overdue_and_archived_leads_clock_and_actions(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    overdue = await make_lead(session, organisation_id=partner.organisation_id,
                              received_at=datetime.now(UTC) - timedelta(days=15))
    closed = await archived(session, partner.organisation_id, "DECLINED",
                            decline_notes="Only EU customers")
    got = (await admin.data(LEAD, {"id": sid(overdue)}))["lead"]
    assert got["timeLeftToRespond"] == 0
    assert got["allowedActions"] == ["ACCEPT", "DECLINE"]
    got = (await admin.data(LEAD, {"id": sid(closed)}))["lead"]
    assert got["timeLeftToRespond"] is None
    assert got["allowedActions"] == []
    assert got["outcome"] == "DECLINED"
    assert got["deal"]["declineReason"] == "SPAM"
    assert got["deal"]["declineNotes"] == "Only EU customers"


async def test_another_partners_lead_unknown_and_malformed_ids_are_null(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    fabrikam_lead = await make_lead(session, organisation_id=world.fabrikam.organisation_id)
    contoso_lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    client = gql.as_user(world.contoso.referrals_admin)
    assert (await client.data(LEAD, {"id": sid(contoso_lead)}))["lead"]["id"] == sid(contoso_lead)
    for foreign_or_bad in (sid(fabrikam_lead), str(uuid.uuid4()), "not-a-uuid", "", "1",
                           "x" * 300, sid(contoso_lead) + "0"):
        body = await client(LEAD, {"id": foreign_or_bad})
        assert body == {"data": {"lead": None}}, foreign_or_bad
    # and the other partner does see its own
    fabrikam = gql.as_user(world.fabrikam.partner_admin)
    assert (await fabrikam.data(LEAD, {"id": sid(fabrikam_lead)}))["lead"]["id"] == sid(
        fabrikam_lead)


# --- who sees what -------------------------------------------------------------------------

EVERYTHING = """
query Everything($id: ID!, $tab: LeadTab!) {
  viewer { user { id } }
  lead(id: $id) { id }
  leads(tab: $tab, first: 100) { totalCount edges { node { id } } pageInfo { hasNextPage } }
  leadCounts { tab stage count }
}
"""


async def test_anonymous_sees_no_leads(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    for tab in TABS:
        data = await gql.data(EVERYTHING, {"id": sid(lead), "tab": tab})
        assert data["viewer"] is None
        assert data["lead"] is None
        assert data["leads"] == {"totalCount": 0, "edges": [],
                                 "pageInfo": {"hasNextPage": False}}
        assert as_table(data["leadCounts"]) == zeros()
    assert gql.last_status == 200


@pytest.mark.parametrize("who", ["member", "seller", "marketer", "platform_admin"])
async def test_users_without_a_referrals_role_see_no_leads(
    gql: GraphQLClient, session: AsyncSession, world: World, who: str
) -> None:
    user_id = world.contoso.member if who == "member" else getattr(world, who)
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id,
                           type=LeadType.SALES_QUALIFIED, sender_user_id=world.seller,
                           sender_organisation_id=await platform_org_id(session, world))
    client = gql.as_user(user_id)
    for tab in TABS:
        data = await client.data(EVERYTHING, {"id": sid(lead), "tab": tab})
        assert data["viewer"] == {"user": {"id": str(user_id)}}
        assert data["lead"] is None
        assert data["leads"] == {"totalCount": 0, "edges": [],
                                 "pageInfo": {"hasNextPage": False}}
        assert as_table(data["leadCounts"]) == zeros()


async def test_partner_managers_see_only_their_own_organisations_leads(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    organisation_of = dict((await session.execute(
        select(models.Lead.id, models.Lead.organisation_id))).all())
    for partner in (world.contoso, world.northwind):
        for user_id in (partner.partner_admin, partner.referrals_admin):
            client = gql.as_user(user_id)
            ids, _ = await walk(client, "MARKETPLACE", first=100)
            assert ids
            assert {organisation_of[uuid.UUID(i)] for i in ids} == {partner.organisation_id}


# --- no N+1 --------------------------------------------------------------------------------

NPLUSONE = """
query Page($first: Int!) {
  leads(tab: QUALIFIED, first: $first) {
    edges { node {
      id
      team { name }
      isFavorite
      history { action actor { name } }
      sender { name }
    } }
  }
}
"""


async def test_a_page_of_leads_costs_the_same_statements_for_2_and_20_leads(
    session: AsyncSession, world: World, partner: WorldPartner,
    admin: GraphQLClient, count_queries: Any,
) -> None:
    org = partner.organisation_id
    platform = await platform_org_id(session, world)
    other = await make_partner(session)
    senders = [(world.seller, platform), (world.marketer, platform),
               (other.partner_admin, other.organisation_id)]
    for i in range(24):
        sender_user, sender_org = senders[i % 3]
        received_at = BASE - timedelta(hours=i)
        lead = await make_lead(
            session, organisation_id=org, stage=LeadStage.ACCEPTED,
            type=LeadType.SALES_QUALIFIED if i % 2 else LeadType.MARKETING_QUALIFIED,
            received_at=received_at, sender_user_id=sender_user,
            sender_organisation_id=sender_org)
        actor = (partner.referrals_admin, partner.partner_admin)[i % 2]
        session.add(models.LeadHistory(
            lead_id=lead.id, action="ACCEPT", from_stage="RECEIVED", to_stage="ACCEPTED",
            actor_kind="USER", actor_user_id=actor, at=received_at + timedelta(hours=1)))
        for n in range(2):
            session.add(models.LeadTeamMember(lead_id=lead.id, name=f"Member {i}-{n}"))
        if i % 3 != 2:
            session.add(models.LeadFavorite(user_id=partner.referrals_admin, lead_id=lead.id))
    await session.flush()

    statements: dict[int, list[str]] = {}
    for first in (2, 20):
        with count_queries() as counter:
            data = await admin.data(NPLUSONE, {"first": first})
        statements[first] = counter.statements
        nodes = [e["node"] for e in data["leads"]["edges"]]
        assert len(nodes) == first
        # the loaders really loaded: every part is there
        assert all(len(n["team"]) == 2 for n in nodes)
        assert all(h["actor"]["name"] for n in nodes for h in n["history"][1:])
        assert [n["history"][0]["actor"]["name"] for n in nodes] == [None] * first
        assert all(n["sender"]["name"] for n in nodes)
        assert [n["isFavorite"] for n in nodes] == [i % 3 != 2 for i in range(first)]

    assert len(statements[2]) == len(statements[20]), (statements[2], statements[20])
    # Pinned. One request for a page of leads with those parts runs exactly:
    #   1. the actor lookup (the bearer token's user, its organisation and roles),
    #   2. the page of leads (one keyset SELECT ... LIMIT first + 1),
    #   3. the team loader (lead_team_members of every lead on the page),
    #   4. the favorites loader (the viewer's lead_favorites among the page's leads),
    #   5. the history loader (lead_history of every lead on the page),
    #   6. the organisation loader (every sender organisation on the page),
    #   7. the user loader, first batch: the history entries' actors (dispatched as soon as
    #      the history loader returns),
    #   8. the user loader, second batch: the sender users (each sender resolver awaits its
    #      organisation before it asks for its user, so these form a later batch).
    assert len(statements[20]) == 8, "\n\n".join(statements[20])

    def tables(sql: list[str]) -> Counter[str]:
        return Counter(statement.split("FROM", 1)[1].split()[0] for statement in sql)

    expected_tables = Counter({"users": 3, "leads": 1, "lead_team_members": 1,
                               "lead_favorites": 1, "lead_history": 1, "organisations": 1})
    assert tables(statements[2]) == tables(statements[20]) == expected_tables


