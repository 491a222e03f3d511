"""The pipeline (R14): exact figures over a constructed set of leads, groupings, filters, both
audiences and their scoping through the wall, typed bad input, and who may ask."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from app.services import pipeline as pipeline_service
from tests.factories import World, WorldPartner, make_lead, make_partner
from tests.graphql_client import GraphQLClient

FIGURES = """received accepted declined expired won lost acceptanceRate winRate
  medianResponseHours p90ResponseHours estimatedValue { amount currency }
  wonValue { amount currency }"""
KEY = "type month industry companySize senderOrganisationId campaignId partnerId"
PIPELINE = f"""query($filter: PipelineFilter, $groupBy: [PipelineGrouping!]) {{
  pipeline(filter: $filter, groupBy: $groupBy) {{ overall {{ {FIGURES} }}
    groups {{ key {{ {KEY} }} figures {{ {FIGURES} }} }} }} }}"""
RANGE = {"from": "2026-09-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"}
CI, MQ, SQ = LeadType.CUSTOMER_INQUIRY, LeadType.MARKETING_QUALIFIED, LeadType.SALES_QUALIFIED


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


async def archived(
    session: AsyncSession,
    partner: uuid.UUID,
    outcome: str,
    received: datetime,
    *,
    type: LeadType = CI,
    hours: float | None = None,
    **fields: Any,
) -> models.Lead:
    values: dict[str, Any] = {"outcome": outcome, "archived_at": received + timedelta(days=20)}
    if hours is not None:
        values["responded_at"] = received + timedelta(hours=hours)
    if outcome in ("WON", "LOST"):
        values.update(deal_name="Deal", estimated_purchase_date=received.date())
    values.update(fields)
    return await make_lead(
        session,
        organisation_id=partner,
        type=type,
        stage=LeadStage.ARCHIVED,
        received_at=received,
        **values,
    )


async def constructed(session: AsyncSession, partner: uuid.UUID) -> None:
    """open, accepted (2 h, 50000 USD), declined (10 h), expired, won in EUR (4 h), won in USD
    (6 h), lost (8 h)."""
    await make_lead(session, organisation_id=partner, received_at=at("2026-09-05"))
    await make_lead(
        session,
        organisation_id=partner,
        stage=LeadStage.ACCEPTED,
        received_at=at("2026-09-10"),
        campaign_id="spring",
    )
    await archived(
        session,
        partner,
        "DECLINED",
        at("2026-10-02"),
        type=SQ,
        hours=10,
        decline_reason="NO_CAPACITY",
        industry="Health",
    )
    await archived(session, partner, "EXPIRED", at("2026-09-15"), type=MQ)
    await archived(
        session,
        partner,
        "WON",
        at("2026-10-05"),
        hours=4,
        estimated_value_amount=Decimal("1000"),
        estimated_value_currency="EUR",
        final_value_amount=Decimal("1200.5"),
        final_value_currency="EUR",
    )
    await archived(
        session,
        partner,
        "WON",
        at("2026-10-06"),
        type=SQ,
        hours=6,
        estimated_value_amount=Decimal("30000"),
        estimated_value_currency="USD",
        final_value_amount=Decimal("40000"),
        final_value_currency="USD",
    )
    await archived(
        session,
        partner,
        "LOST",
        at("2026-10-07"),
        hours=8,
        lost_reason="PRICE",
        estimated_value_amount=Decimal("20000"),
        estimated_value_currency="USD",
    )


def money(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"amount": a, "currency": c} for a, c in pairs]


@pytest.fixture
async def partner(session: AsyncSession) -> WorldPartner:
    partner = await make_partner(session, name="Pipeline Partner")
    await constructed(session, partner.organisation_id)
    # Another partner's leads in the same months never count.
    other = await make_partner(session)
    await archived(
        session,
        other.organisation_id,
        "WON",
        at("2026-09-20"),
        hours=1,
        estimated_value_amount=Decimal("5"),
        estimated_value_currency="USD",
        final_value_amount=Decimal("5"),
        final_value_currency="USD",
    )
    # Nor a lead this partner sent to the other one: the wall lets the sender see it, the
    # pipeline of received leads is the partner's own.
    await make_lead(
        session,
        organisation_id=other.organisation_id,
        received_at=at("2026-09-21"),
        sender_organisation_id=partner.organisation_id,
        sender_user_id=partner.partner_admin,
    )
    return partner


async def test_overall_figures_are_exact(gql: GraphQLClient, partner: WorldPartner) -> None:
    for manager in (partner.partner_admin, partner.referrals_admin):
        data = await gql.as_user(manager).data(PIPELINE, {"filter": RANGE})
        assert data["pipeline"]["groups"] == []
        assert data["pipeline"]["overall"] == {
            "received": 7,
            "accepted": 4,
            "declined": 1,
            "expired": 1,
            "won": 2,
            "lost": 1,
            "acceptanceRate": 0.8,
            "winRate": pytest.approx(2 / 3),
            "medianResponseHours": 6.0,
            "p90ResponseHours": pytest.approx(9.2),
            "estimatedValue": money(("1000.00", "EUR"), ("100000.00", "USD")),
            "wonValue": money(("1200.50", "EUR"), ("40000.00", "USD")),
        }


async def test_grouped_by_type_and_month(gql: GraphQLClient, partner: WorldPartner) -> None:
    admin = gql.as_user(partner.partner_admin)
    data = await admin.data(PIPELINE, {"filter": RANGE, "groupBy": ["TYPE"]})
    groups = {g["key"]["type"]: g["figures"] for g in data["pipeline"]["groups"]}
    assert list(groups) == ["CUSTOMER_INQUIRY", "MARKETING_QUALIFIED", "SALES_QUALIFIED"]
    inquiry = groups["CUSTOMER_INQUIRY"]
    assert (inquiry["received"], inquiry["accepted"], inquiry["won"], inquiry["lost"]) == (
        4,
        3,
        1,
        1,
    )
    assert (inquiry["acceptanceRate"], inquiry["winRate"]) == (1.0, 0.5)
    assert inquiry["estimatedValue"] == money(("1000.00", "EUR"), ("70000.00", "USD"))
    assert inquiry["wonValue"] == money(("1200.50", "EUR"))
    marketing = groups["MARKETING_QUALIFIED"]
    assert (marketing["received"], marketing["expired"], marketing["acceptanceRate"]) == (
        1,
        1,
        None,
    )
    assert marketing["medianResponseHours"] is None and marketing["estimatedValue"] == []
    sales = groups["SALES_QUALIFIED"]
    assert (sales["accepted"], sales["declined"], sales["acceptanceRate"]) == (1, 1, 0.5)
    assert sales["medianResponseHours"] == 8.0
    # The overall figures come with the groups, unchanged.
    assert data["pipeline"]["overall"]["received"] == 7

    data = await admin.data(PIPELINE, {"filter": RANGE, "groupBy": ["MONTH", "INDUSTRY"]})
    keys = [
        (g["key"]["month"], g["key"]["industry"], g["figures"]["received"])
        for g in data["pipeline"]["groups"]
    ]
    assert keys == [("2026-09", "Retail", 3), ("2026-10", "Health", 1), ("2026-10", "Retail", 3)]
    assert all(g["key"]["type"] is None for g in data["pipeline"]["groups"])

    data = await admin.data(PIPELINE, {"filter": RANGE, "groupBy": ["CAMPAIGN", "COMPANY_SIZE"]})
    keys = [
        (g["key"]["campaignId"], g["key"]["companySize"], g["figures"]["received"])
        for g in data["pipeline"]["groups"]
    ]
    assert keys == [("spring", "SIZE_51_250", 1), (None, "SIZE_51_250", 6)]


async def test_filters(gql: GraphQLClient, partner: WorldPartner) -> None:
    admin = gql.as_user(partner.partner_admin)

    async def received(**filter: Any) -> int:
        data = await admin.data(PIPELINE, {"filter": {**RANGE, **filter}})
        return int(data["pipeline"]["overall"]["received"])

    assert await received(sources=["QUALIFIED"]) == 3
    assert await received(sources=["MARKETPLACE"]) == 4
    assert await received(types=["SALES_QUALIFIED", "MARKETING_QUALIFIED"]) == 3
    assert await received(**{"from": "2026-10-01T00:00:00Z"}) == 4
    # `to` is exclusive: the lead received at midnight on 2026-10-05 is not in.
    assert await received(to="2026-10-05T00:00:00Z") == 4
    # Nothing in range: zeros and nulls, no groups.
    data = await admin.data(
        PIPELINE,
        {
            "filter": {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"},
            "groupBy": ["TYPE"],
        },
    )
    assert data["pipeline"] == {
        "overall": {
            "received": 0,
            "accepted": 0,
            "declined": 0,
            "expired": 0,
            "won": 0,
            "lost": 0,
            "acceptanceRate": None,
            "winRate": None,
            "medianResponseHours": None,
            "p90ResponseHours": None,
            "estimatedValue": [],
            "wonValue": [],
        },
        "groups": [],
    }


async def test_senders_see_what_they_sent_per_partner(
    gql: GraphQLClient, session: AsyncSession, world: World, partner: WorldPartner
) -> None:
    seller_org = await session.scalar(
        select(models.User.organisation_id).where(models.User.id == world.seller)
    )
    for receiver, outcome in (
        (world.contoso.organisation_id, "WON"),
        (world.fabrikam.organisation_id, "LOST"),
        (world.fabrikam.organisation_id, "EXPIRED"),
    ):
        fields: dict[str, Any] = {
            "sender_user_id": world.seller,
            "sender_organisation_id": seller_org,
        }
        if outcome == "WON":
            fields.update(
                estimated_value_amount=Decimal("10"),
                estimated_value_currency="USD",
                final_value_amount=Decimal("12"),
                final_value_currency="USD",
            )
        if outcome == "LOST":
            fields.update(lost_reason="PRICE")
        await archived(
            session,
            receiver,
            outcome,
            at("2024-03-25"),
            type=SQ,
            hours=None if outcome == "EXPIRED" else 3,
            **fields,
        )
    # A month the demo world sent nothing in.
    march = {"from": "2024-03-01T00:00:00Z", "to": "2024-04-01T00:00:00Z"}
    seller = gql.as_user(world.seller)
    data = await seller.data(PIPELINE, {"filter": march, "groupBy": ["PARTNER"]})
    overall = data["pipeline"]["overall"]
    assert (overall["received"], overall["won"], overall["lost"], overall["expired"]) == (
        3,
        1,
        1,
        1,
    )
    assert overall["winRate"] == 0.5 and overall["wonValue"] == money(("12.00", "USD"))
    per_partner = {
        g["key"]["partnerId"]: g["figures"]["received"] for g in data["pipeline"]["groups"]
    }
    assert per_partner == {
        str(world.contoso.organisation_id): 1,
        str(world.fabrikam.organisation_id): 2,
    }
    # The marketer sent none of them.
    marketer = await gql.as_user(world.marketer).data(PIPELINE, {"filter": march})
    assert marketer["pipeline"]["overall"]["received"] == 0
    # A referring partner's admin: the one lead it sent, not the ones it received.
    sent = await gql.as_user(partner.partner_admin).data(
        PIPELINE, {"filter": {**RANGE, "audience": "SENT"}, "groupBy": ["PARTNER"]}
    )
    assert sent["pipeline"]["overall"]["received"] == 1
    assert len(sent["pipeline"]["groups"]) == 1
    # The receiving partner's own pipeline is unaffected by the seller's other leads.
    own = await gql.as_user(partner.referrals_admin).data(PIPELINE, {"filter": RANGE})
    assert own["pipeline"]["overall"]["received"] == 7


async def error(client: GraphQLClient, variables: dict[str, Any]) -> dict[str, Any]:
    body = await client(PIPELINE, variables)
    assert client.last_status == 200 and body["data"] is None, body
    (only,) = body["errors"]
    assert "Traceback" not in only["message"]
    return dict(only.get("extensions") or {}) | {"message": only["message"]}


async def test_bad_input_is_typed(gql: GraphQLClient, partner: WorldPartner) -> None:
    admin = gql.as_user(partner.partner_admin)
    reversed_range = {"from": RANGE["to"], "to": RANGE["from"]}
    got = await error(admin, {"filter": reversed_range})
    assert (got["code"], got["field"]) == ("VALIDATION", ["filter", "from"])
    too_long = {"from": "2023-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}
    got = await error(admin, {"filter": too_long})
    assert (got["code"], got["field"]) == ("VALIDATION", ["filter", "to"])
    got = await error(admin, {"filter": {"from": "0001-01-01T00:00:00Z"}})
    assert (got["code"], got["field"]) == ("VALIDATION", ["filter", "from"])
    # A time without an offset is read as UTC (as the leads filter reads it).
    naive = {"from": "2026-09-01T00:00:00", "to": "2026-11-01T00:00:00"}
    data = await admin.data(PIPELINE, {"filter": naive})
    assert data["pipeline"]["overall"]["received"] == 7
    got = await error(admin, {"filter": RANGE, "groupBy": ["PARTNER"]})
    assert (got["code"], got["field"]) == ("VALIDATION", ["groupBy"])
    got = await error(admin, {"filter": RANGE, "groupBy": ["TYPE", "TYPE"]})
    assert (got["code"], got["field"]) == ("VALIDATION", ["groupBy"])
    got = await error(admin, {"filter": {**RANGE, "sources": ["FAVORITES"]}})
    assert (got["code"], got["field"]) == ("VALIDATION", ["filter", "sources"])
    # An unknown grouping is refused by the schema, before any resolver runs.
    body = await admin(PIPELINE, {"filter": RANGE, "groupBy": ["COLOUR"]})
    assert admin.last_status in (200, 400) and "COLOUR" in body["errors"][0]["message"]


async def test_who_may_ask(gql: GraphQLClient, world: World, partner: WorldPartner) -> None:
    got = await error(gql.as_user(None), {"filter": RANGE})
    assert got["code"] == "UNAUTHENTICATED"
    for user in (partner.member, world.platform_admin):
        got = await error(gql.as_user(user), {"filter": RANGE})
        assert got["code"] == "FORBIDDEN"
    # A sender has no received pipeline.
    got = await error(gql.as_user(world.seller), {"filter": {**RANGE, "audience": "RECEIVED"}})
    assert got["code"] == "FORBIDDEN"


README_MANAGER = """{ pipeline(filter: {from: "2026-01-01T00:00:00Z", sources: [MARKETPLACE]},
  groupBy: [MONTH]) { overall { received accepted declined expired won lost acceptanceRate
  winRate medianResponseHours p90ResponseHours estimatedValue { amount currency }
  wonValue { amount currency } } groups { key { month } figures { received winRate
  wonValue { amount currency } } } } }"""
README_SELLER = """{ pipeline(groupBy: [PARTNER]) { overall { received won lost winRate }
  groups { key { partnerId } figures { received acceptanceRate } } } }"""


async def test_readme_examples_answer(
    gql: GraphQLClient, world: World, partner: WorldPartner
) -> None:
    """The README's two queries, on the demo world plus the constructed leads."""
    manager = await gql.as_user(partner.referrals_admin).data(README_MANAGER)
    months = [g["key"]["month"] for g in manager["pipeline"]["groups"]]
    assert months[:2] == ["2026-09", "2026-10"]
    assert manager["pipeline"]["overall"]["received"] == 4
    seller = await gql.as_user(world.seller).data(README_SELLER)
    groups = seller["pipeline"]["groups"]
    assert (
        sum(g["figures"]["received"] for g in groups) == seller["pipeline"]["overall"]["received"]
    )
    assert all(g["key"]["partnerId"] for g in groups)


async def test_grouped_by_sender_organisation(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    referrer = await make_partner(session, name="Referrer")
    for _ in range(2):
        await archived(
            session,
            partner.organisation_id,
            "EXPIRED",
            at("2026-09-28"),
            type=SQ,
            sender_organisation_id=referrer.organisation_id,
            sender_user_id=referrer.partner_admin,
        )
    data = await gql.as_user(partner.partner_admin).data(
        PIPELINE, {"filter": RANGE, "groupBy": ["SENDER_ORGANISATION"]}
    )
    keys = [
        (g["key"]["senderOrganisationId"], g["figures"]["received"], g["figures"]["expired"])
        for g in data["pipeline"]["groups"]
    ]
    assert keys == [(str(referrer.organisation_id), 2, 2), (None, 7, 1)]
    # The referrer's admin sees the two it sent, in the receiving partner's group.
    sent = await gql.as_user(referrer.partner_admin).data(
        PIPELINE, {"filter": {**RANGE, "audience": "SENT"}, "groupBy": ["PARTNER"]}
    )
    assert [
        (g["key"]["partnerId"], g["figures"]["expired"]) for g in sent["pipeline"]["groups"]
    ] == [(str(partner.organisation_id), 2)]


async def test_too_many_groups_is_refused_not_truncated(
    gql: GraphQLClient, partner: WorldPartner, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = gql.as_user(partner.partner_admin)
    by_month_and_industry = {"filter": RANGE, "groupBy": ["MONTH", "INDUSTRY"]}
    monkeypatch.setattr(pipeline_service, "MAX_GROUPS", 3)
    assert len((await admin.data(PIPELINE, by_month_and_industry))["pipeline"]["groups"]) == 3
    monkeypatch.setattr(pipeline_service, "MAX_GROUPS", 2)
    got = await error(admin, by_month_and_industry)
    assert (got["code"], got["field"]) == ("VALIDATION", ["groupBy"])
    assert "more than 2 groups" in got["message"]
