"""Saved lead views (issue 11 §3): a lead manager saves a tab, filter and order by name, shares
it with the organisation or not; the filter is checked as `leads` checks it; row-level security
keeps a colleague's private views and every other organisation's views out of sight."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.db import models
from app.services.lead_views import MAX_VIEWS_PER_USER
from tests.factories import World, WorldPartner, make_lead, make_partner
from tests.graphql_client import GraphQLClient

SAVE = """
mutation Save($input: SaveLeadViewInput!) {
  saveLeadView(input: $input) {
    view { id name tab orderBy filter valid shared mine ownerName }
    errors { code field message }
  }
}"""
DELETE = """
mutation Delete($id: ID!) {
  deleteLeadView(input: {id: $id}) { deletedId errors { code field message } }
}"""
VIEWS = "{ leadViews { id name tab orderBy filter valid shared mine ownerName } }"
UPDATED = datetime(2026, 11, 1, tzinfo=UTC)
LEADS = """
query Leads($tab: LeadTab!, $filter: LeadFilter, $orderBy: LeadOrder!) {
  leads(tab: $tab, filter: $filter, orderBy: $orderBy, first: 50) { nodes { id } }
}"""


async def save(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await client.data(SAVE, {"input": input}))["saveLeadView"]
    return payload


async def saved(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    payload = await save(client, **input)
    assert payload["errors"] == [], payload["errors"]
    view: dict[str, Any] = payload["view"]
    return view


async def names(client: GraphQLClient) -> dict[str, tuple[bool, bool, str]]:
    views = (await client.data(VIEWS))["leadViews"]
    return {v["name"]: (v["shared"], v["mine"], v["ownerName"]) for v in views}


async def owner_name(session: AsyncSession, user: uuid.UUID) -> str:
    return str(await session.scalar(select(models.User.name).where(models.User.id == user)))


async def test_a_saved_view_lists_what_its_filter_lists_and_is_shared_only_when_asked(
    session: AsyncSession, gql: GraphQLClient, partner: WorldPartner, world: World
) -> None:
    me = gql.as_user(partner.referrals_admin)
    colleague = gql.as_user(partner.partner_admin)
    stranger = gql.as_user(world.contoso.referrals_admin)
    br = await make_lead(session, organisation_id=partner.organisation_id, country="BR")
    await make_lead(session, organisation_id=partner.organisation_id, country="US")

    private = await saved(
        me,
        name="Brazil",
        tab="MARKETPLACE",
        filter={"countries": ["BR"], "receivedFrom": "2026-01-01T00:00:00-03:00"},
        orderBy="RESPOND_BY_ASC",
    )
    assert private["filter"] == {
        "countries": ["BR"],
        "receivedFrom": "2026-01-01T03:00:00+00:00",
    }
    assert (private["valid"], private["shared"], private["mine"]) == (True, False, True)
    shared = await saved(
        me, name="Retail", tab="MARKETPLACE", filter={"industries": ["Retail"]}, shared=True
    )
    theirs = await saved(stranger, name="Contoso shared", tab="MARKETPLACE", shared=True)

    mine = await owner_name(session, partner.referrals_admin)
    assert await names(me) == {"Brazil": (False, True, mine), "Retail": (True, True, mine)}
    assert await names(colleague) == {"Retail": (True, False, mine)}
    assert await names(stranger) == {"Contoso shared": (True, True, theirs["ownerName"])}

    # The stored filter goes back into `leads` as it is (both paths answer it).
    view = next(v for v in (await me.data(VIEWS))["leadViews"] if v["name"] == "Brazil")
    listed = await me.data(
        LEADS, {"tab": view["tab"], "filter": view["filter"], "orderBy": view["orderBy"]}
    )
    assert [n["id"] for n in listed["leads"]["nodes"]] == [str(br.id)]

    # Renaming and unsharing: the colleague no longer sees it.
    changed = await saved(me, id=shared["id"], name="Retail (mine)", tab="FAVORITES", shared=False)
    assert (changed["id"], changed["tab"], changed["filter"]) == (shared["id"], "FAVORITES", {})
    assert await names(colleague) == {}

    # Only the owner deletes; a colleague's or a stranger's attempt finds nothing.
    await saved(me, id=shared["id"], name="Retail (mine)", tab="FAVORITES", shared=True)
    for other in (colleague, stranger):
        refused = (await other.data(DELETE, {"id": shared["id"]}))["deleteLeadView"]
        assert refused["errors"][0]["code"] == "NOT_FOUND"
        assert refused["errors"][0]["field"] == ["input", "id"]
    gone = (await me.data(DELETE, {"id": shared["id"]}))["deleteLeadView"]
    assert gone == {"deletedId": shared["id"], "errors": []}
    assert set(await names(me)) == {"Brazil"}
    assert await names(colleague) == {}


@pytest.mark.parametrize(
    ("input", "code", "field"),
    [
        ({"name": " ", "tab": "MARKETPLACE"}, "VALIDATION", ["input", "name"]),
        ({"name": "x" * 101, "tab": "MARKETPLACE"}, "VALIDATION", ["input", "name"]),
        (
            {"name": "v", "tab": "MARKETPLACE", "filter": {"countries": ["BR", "xx"]}},
            "VALIDATION",
            ["input", "filter", "countries", "1"],
        ),
        (
            {"name": "v", "tab": "MARKETPLACE", "filter": {"dueWithinHours": 0}},
            "VALIDATION",
            ["input", "filter", "dueWithinHours"],
        ),
        (
            {"name": "v", "tab": "MARKETPLACE", "filter": {"search": "x" * 201}},
            "VALIDATION",
            ["input", "filter", "search"],
        ),
        ({"id": "nope", "name": "v", "tab": "MARKETPLACE"}, "VALIDATION", ["input", "id"]),
        (
            {"id": str(uuid.uuid4()), "name": "v", "tab": "MARKETPLACE"},
            "NOT_FOUND",
            ["input", "id"],
        ),
    ],
)
async def test_bad_input_is_a_typed_error_and_saves_nothing(
    gql: GraphQLClient, partner: WorldPartner, input: dict[str, Any], code: str, field: list[str]
) -> None:
    me = gql.as_user(partner.referrals_admin)
    payload = await save(me, **input)
    assert payload["view"] is None
    [error] = payload["errors"]
    assert (error["code"], error["field"]) == (code, field), error
    assert await names(me) == {}


async def test_names_are_unique_per_user_and_views_are_bounded(
    session: AsyncSession, gql: GraphQLClient, partner: WorldPartner
) -> None:
    me = gql.as_user(partner.referrals_admin)
    colleague = gql.as_user(partner.partner_admin)
    first = await saved(me, name="Due soon", tab="MARKETPLACE")
    clash = await save(me, name=" Due soon ", tab="FAVORITES")
    assert [(e["code"], e["field"]) for e in clash["errors"]] == [("CONFLICT", ["input", "name"])]
    # Re-saving a view under its own name is no clash; a colleague may use the name too.
    await saved(me, id=first["id"], name="Due soon", tab="FAVORITES")
    await saved(colleague, name="Due soon", tab="MARKETPLACE")

    for n in range(MAX_VIEWS_PER_USER - 1):
        session.add(
            models.LeadView(
                organisation_id=partner.organisation_id,
                user_id=partner.referrals_admin,
                name=f"View {n}",
                tab="MARKETPLACE",
                filter={},
                order_by="RECEIVED_AT_DESC",
                shared=False,
                updated_at=UPDATED,
            )
        )
    await session.flush()
    over = await save(me, name="One too many", tab="MARKETPLACE")
    assert [(e["code"], e["field"]) for e in over["errors"]] == [("VALIDATION", ["input", "name"])]
    # Changing an existing view is still fine at the bound.
    await saved(me, id=first["id"], name="Due today", tab="MARKETPLACE")


async def test_only_a_partners_lead_managers_keep_views(
    gql: GraphQLClient, partner: WorldPartner, world: World
) -> None:
    for user, code in (
        (partner.member, "FORBIDDEN"),
        (world.seller, "FORBIDDEN"),
        (world.platform_admin, "FORBIDDEN"),
        (None, "UNAUTHENTICATED"),
    ):
        client = gql.as_user(user)
        payload = await save(client, name="Mine", tab="MARKETPLACE")
        assert [e["code"] for e in payload["errors"]] == [code]
        assert (await client.data(VIEWS))["leadViews"] == []
        deleted = (await client.data(DELETE, {"id": str(uuid.uuid4())}))["deleteLeadView"]
        assert [e["code"] for e in deleted["errors"]] == [code]


async def test_a_view_whose_filter_no_longer_checks_is_listed_as_invalid(
    session: AsyncSession, gql: GraphQLClient, partner: WorldPartner
) -> None:
    me = gql.as_user(partner.referrals_admin)
    good = await saved(me, name="Good", tab="MARKETPLACE", filter={"stages": ["RECEIVED"]})
    stale = await saved(me, name="Stale", tab="MARKETPLACE", filter={"countries": ["BR"]})
    odd = await saved(me, name="Odd", tab="MARKETPLACE")
    for view_id, stored in (
        (stale["id"], {"stages": ["ON_HOLD"], "countries": ["BR"]}),
        (odd["id"], {"no_such_field": 1}),
    ):
        await session.execute(
            update(models.LeadView).where(models.LeadView.id == view_id).values(filter=stored)
        )
    views = {v["name"]: v for v in (await me.data(VIEWS))["leadViews"]}
    assert views["Good"]["valid"] is True and views["Good"]["id"] == good["id"]
    assert views["Stale"]["valid"] is False
    assert views["Stale"]["filter"] == {"stages": ["ON_HOLD"], "countries": ["BR"]}
    assert views["Odd"]["valid"] is False


async def _as_user(app: AsyncSession, user: uuid.UUID) -> None:
    row = (await app.execute(text("SELECT id FROM partner_leads_actor(:u)"), {"u": user})).one()
    assert row is not None


async def test_row_level_security_hides_private_and_foreign_views_and_refuses_their_change(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    partner: WorldPartner,
    world: World,
) -> None:
    def view(org: uuid.UUID, user: uuid.UUID, name: str, shared: bool) -> models.LeadView:
        return models.LeadView(
            id=uuid.uuid4(),
            organisation_id=org,
            user_id=user,
            name=name,
            tab="MARKETPLACE",
            filter={},
            order_by="RECEIVED_AT_DESC",
            shared=shared,
            updated_at=UPDATED,
        )

    org = partner.organisation_id
    contoso = world.contoso
    mine = view(org, partner.referrals_admin, "mine", False)
    shared = view(org, partner.referrals_admin, "shared", True)
    foreign = view(contoso.organisation_id, contoso.referrals_admin, "foreign shared", True)
    session.add_all([mine, shared, foreign])
    await session.flush()

    async with sessionmaker() as app:
        await _as_user(app, partner.partner_admin)
        # No WHERE at all: Postgres scopes it to the organisation's shared views.
        seen = (await app.execute(select(models.LeadView.name))).scalars().all()
        assert seen == ["shared"]
        changed = await app.execute(
            update(models.LeadView)
            .where(models.LeadView.id == shared.id)
            .values(name="taken")
            .returning(models.LeadView.id)
        )
        assert changed.all() == []
        deleted = await app.execute(text("DELETE FROM lead_views RETURNING id"))
        assert deleted.all() == []

    async with sessionmaker() as app:
        await _as_user(app, partner.referrals_admin)
        seen = (await app.execute(select(models.LeadView.name))).scalars().all()
        assert sorted(seen) == ["mine", "shared"]

    assert (
        await session.scalar(select(models.LeadView.name).where(models.LeadView.id == shared.id))
        == "shared"
    )


async def test_two_saves_of_one_name_at_once_make_one_view_and_a_conflict(
    engine: AsyncEngine, committed_gql: GraphQLClient
) -> None:
    """Real concurrent transactions (they commit, on a partner of their own)."""
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
    me = committed_gql.as_user(partner.referrals_admin)
    for n in range(10):
        payloads = await asyncio.gather(
            *(me(SAVE, {"input": {"name": f"Race {n}", "tab": "MARKETPLACE"}}) for _ in range(2))
        )
        codes = sorted(e["code"] for p in payloads for e in p["data"]["saveLeadView"]["errors"])
        assert codes == ["CONFLICT"], payloads
    async with AsyncSession(engine) as session:
        count = await session.scalar(
            select(func.count())
            .select_from(models.LeadView)
            .where(models.LeadView.user_id == partner.referrals_admin)
        )
    assert count == 10
