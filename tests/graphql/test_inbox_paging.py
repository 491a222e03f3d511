"""Orders, keyset paging, totals and badge counts of the inbox, over GraphQL."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from tests.factories import World, WorldPartner, make_lead, make_partner
from tests.graphql.inbox_support import (
    BASE,
    COUNTS,
    LEADS,
    NOON,
    SET_FAVORITE,
    archived,
    as_table,
    favorite,
    fetch_page,
    forge_cursor,
    only_error,
    page_ids,
    sid,
    walk,
    zeros,
)
from tests.graphql_client import GraphQLClient

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
    plan = [
        (0, 14, 5),
        (0, 7, 5),
        (1, 14, 0),
        (2, 3, 5),
        (2, 14, 9),
        (3, 14, 9),
        (3, 1, 1),
        (4, 30, 5),
        (0, 14, 9),
    ]
    for received_hours, response_days, updated_hours in plan:
        lead = await make_lead(
            session,
            organisation_id=org,
            received_at=BASE + timedelta(hours=received_hours),
            response_days=response_days,
        )
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
        "hasNextPage": False,
        "hasPreviousPage": False,
        "startCursor": full["edges"][0]["cursor"],
        "endCursor": full["edges"][-1]["cursor"],
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
    after_fourth = await fetch_page(
        admin, "MARKETPLACE", first=100, after=full["edges"][3]["cursor"]
    )
    assert [e["node"]["id"] for e in after_fourth["edges"]] == full_ids[4:]
    assert after_fourth["totalCount"] == 9
    # after the last lead: an empty page
    after_last = await fetch_page(admin, "MARKETPLACE", first=3, after=full["edges"][-1]["cursor"])
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
        await make_lead(
            session,
            organisation_id=org,
            received_at=BASE - timedelta(minutes=i),
            contact_requested=i % 2 == 0,
        )
    ids, pages = await walk(admin, "MARKETPLACE", first=3, filter={"contactRequested": True})
    assert len(ids) == 4
    assert [p["totalCount"] for p in pages] == [4, 4]


async def test_demo_inbox_walks_without_gaps_or_repeats(gql: GraphQLClient, world: World) -> None:
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
            arrivals.append(
                await make_lead(
                    session,
                    organisation_id=org,
                    received_at=BASE + timedelta(minutes=10 * round_ + k + 1),
                )
            )
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
        await make_lead(
            session,
            organisation_id=partner.organisation_id,
            received_at=BASE - timedelta(minutes=i),
        )
    default = await fetch_page(admin, "MARKETPLACE")
    assert len(default["edges"]) == 20
    assert default["pageInfo"]["hasNextPage"] is True
    hundred = await fetch_page(admin, "MARKETPLACE", first=100)
    assert len(hundred["edges"]) == 21
    assert hundred["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [1000, 101, -1])
async def test_first_out_of_range_is_a_validation_error(admin: GraphQLClient, first: int) -> None:
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
        body = await admin(
            LEADS, {"tab": "MARKETPLACE", "orderBy": other, "first": 1, "after": cursor}
        )
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
        pytest.param(
            forge_cursor(["RECEIVED_AT_DESC", "not a date", str(uuid.uuid4())]), id="bad-date"
        ),
        pytest.param(
            forge_cursor(["RECEIVED_AT_DESC", "2026-01-01T00:00:00", str(uuid.uuid4())]),
            id="naive-date",
        ),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, "not-a-uuid"]), id="bad-id"),
        pytest.param(
            forge_cursor(["RECEIVED_AT_DESC", 1767225600, str(uuid.uuid4())]), id="date-as-number"
        ),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, None]), id="id-null"),
        # The right shape, but the id is not a string: uuid.UUID() raises AttributeError.
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, 12345]), id="id-number"),
        pytest.param(forge_cursor(["RECEIVED_AT_DESC", NOON, {"a": 1}]), id="id-object"),
        # Dates Python parses but Postgres cannot hold once moved to UTC.
        pytest.param(
            forge_cursor(["RECEIVED_AT_DESC", "0001-01-01T00:00:00+05:00", str(uuid.uuid4())]),
            id="date-before-year-1",
        ),
        pytest.param(
            forge_cursor(["RECEIVED_AT_DESC", "9999-12-31T23:59:59-05:00", str(uuid.uuid4())]),
            id="date-after-year-9999",
        ),
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
        await make_lead(
            session, organisation_id=org, type=LeadType.CUSTOMER_INQUIRY, stage=LeadStage.ACCEPTED
        ),
        await archived(session, org, "EXPIRED"),
        await make_lead(session, organisation_id=org, type=LeadType.MARKETING_QUALIFIED),
        await make_lead(
            session, organisation_id=org, type=LeadType.SALES_QUALIFIED, stage=LeadStage.ACCEPTED
        ),
        await make_lead(
            session,
            organisation_id=org,
            type=LeadType.MARKETING_QUALIFIED,
            stage=LeadStage.ACCEPTED,
        ),
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
        ("MARKETPLACE", "RECEIVED"): 2,
        ("MARKETPLACE", "ACCEPTED"): 1,
        ("MARKETPLACE", "ARCHIVED"): 1,
        ("QUALIFIED", "RECEIVED"): 1,
        ("QUALIFIED", "ACCEPTED"): 2,
        ("QUALIFIED", "ARCHIVED"): 3,
        ("FAVORITES", "RECEIVED"): 1,
        ("FAVORITES", "ACCEPTED"): 1,
        ("FAVORITES", "ARCHIVED"): 2,
    }
    counts = (await admin.data(COUNTS))["leadCounts"]
    assert len(counts) == 9
    assert as_table(counts) == expected

    # Favorites are counted per viewer.
    theirs = as_table((await gql.as_user(partner.partner_admin).data(COUNTS))["leadCounts"])
    assert theirs == expected | {
        ("FAVORITES", "RECEIVED"): 1,
        ("FAVORITES", "ACCEPTED"): 0,
        ("FAVORITES", "ARCHIVED"): 0,
    }

    # The counts agree with the lists they badge.
    for (tab, stage), count in expected.items():
        connection = await fetch_page(admin, tab, filter={"stages": [stage]}, first=0)
        assert connection["totalCount"] == count, (tab, stage)


async def test_lead_counts_follow_a_heart(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    lead = await make_lead(
        session, organisation_id=partner.organisation_id, stage=LeadStage.ACCEPTED
    )
    await admin.data(SET_FAVORITE, {"id": sid(lead), "favorite": True})
    table = as_table((await admin.data(COUNTS))["leadCounts"])
    assert table[("FAVORITES", "ACCEPTED")] == 1
    await admin.data(SET_FAVORITE, {"id": sid(lead), "favorite": False})
    table = as_table((await admin.data(COUNTS))["leadCounts"])
    assert table[("FAVORITES", "ACCEPTED")] == 0
    assert table[("MARKETPLACE", "ACCEPTED")] == 1
