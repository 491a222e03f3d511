"""One lead with everything it shows, who sees which leads, and what a page costs in SQL."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.utils.str_converters import to_snake_case

from app.db import models
from app.domain.lifecycle import LeadStage, LeadType
from tests.factories import World, WorldPartner, history_entry, make_lead, make_partner
from tests.graphql.inbox_support import (
    BASE,
    LEAD,
    SET_FAVORITE,
    TABS,
    archived,
    as_table,
    platform_org_id,
    sid,
    walk,
    zeros,
)
from tests.graphql_client import GraphQLClient

# --- lead(id) ------------------------------------------------------------------------------


# A customer as the API shows it; the lead's columns are these fields in snake_case.
CUSTOMER = {
    "companyName": "Contoso Pharma",
    "companySize": "SIZE_251_1000",
    "industry": "Healthcare",
    "country": "PT",
    "contactName": "Ana Silva",
    "contactEmail": "ana@pharma.example",
    "contactPhone": "+1 555 0100",
    "need": "Move the lab systems to the cloud",
    "contactRequested": True,
    "consentToContact": True,
}


async def test_own_lead_with_all_its_fields(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    received_at = datetime.now(UTC) - timedelta(hours=1)
    columns = {to_snake_case(field): value for field, value in CUSTOMER.items()}
    lead = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        type=LeadType.CUSTOMER_INQUIRY,
        received_at=received_at,
        **columns,
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
        "CUSTOMER_INQUIRY",
        "MARKETPLACE",
        "RECEIVED",
        None,
    )
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
    assert got["customer"] == CUSTOMER
    assert got["deal"] is None
    assert got["sender"] == {
        "kind": "CUSTOMER",
        "name": "Ana Silva",
        "organisationName": "Contoso Pharma",
    }
    assert got["team"] == []
    assert len(got["history"]) == 1
    entry = got["history"][0]
    assert {
        k: entry[k] for k in ("action", "fromStage", "toStage", "outcome", "actor", "changes")
    } == {
        "action": "RECEIVE",
        "fromStage": None,
        "toStage": "RECEIVED",
        "outcome": None,
        "actor": {"kind": "SYSTEM", "name": None},
        "changes": [],
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
    session: AsyncSession,
    partner: WorldPartner,
    admin: GraphQLClient,
    hours_ago: int,
    requested: bool,
    stage: str,
    expected: str | None,
) -> None:
    received_at = datetime.now(UTC) - timedelta(hours=hours_ago)
    if stage == "ARCHIVED":
        lead = await archived(
            session,
            partner.organisation_id,
            "WON",
            received_at=received_at,
            contact_requested=requested,
        )
    else:
        lead = await make_lead(
            session,
            organisation_id=partner.organisation_id,
            stage=LeadStage(stage),
            received_at=received_at,
            contact_requested=requested,
        )
    got = (await admin.data(LEAD, {"id": sid(lead)}))["lead"]
    assert got["contactAlert"] == expected


async def test_accepted_lead_has_deal_team_and_history_without_a_clock(
    session: AsyncSession, world: World, partner: WorldPartner, admin: GraphQLClient
) -> None:
    received_at = datetime.now(UTC) - timedelta(days=2)
    lead = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        type=LeadType.SALES_QUALIFIED,
        stage=LeadStage.ACCEPTED,
        received_at=received_at,
        crm_id="CRM-7",
        sender_organisation_id=await platform_org_id(session, world),
        sender_user_id=world.seller,
    )
    session.add(
        history_entry(
            lead,
            "ACCEPT",
            "RECEIVED",
            "ACCEPTED",
            at=received_at + timedelta(hours=2),
            actor=partner.referrals_admin,
            changes={"dealName": {"from": None, "to": "Adatum migration"}},
        )
    )
    session.add(
        models.LeadTeamMember(
            lead_id=lead.id, name="Bruno Rossi", email="bruno@p.example", added_at=received_at
        )
    )
    session.add(
        models.LeadTeamMember(
            lead_id=lead.id,
            name="Carla Dias",
            phone="+1 555 0101",
            added_at=received_at + timedelta(minutes=1),
        )
    )
    await session.flush()
    names = dict(
        (
            await session.execute(
                select(models.User.id, models.User.name).where(
                    models.User.id.in_([world.seller, partner.referrals_admin])
                )
            )
        ).all()
    )

    got = (await admin.data(LEAD, {"id": sid(lead)}))["lead"]
    assert (got["tab"], got["stage"]) == ("QUALIFIED", "ACCEPTED")
    assert got["timeLeftToRespond"] is None
    assert got["allowedActions"] == [
        "UPDATE",
        "ADD_TEAM_MEMBER",
        "REMOVE_TEAM_MEMBER",
        "MARK_WON",
        "MARK_LOST",
    ]
    assert got["deal"]["name"] == "Adatum migration"
    assert got["deal"]["estimatedValue"] == {"amount": "50000.00", "currency": "USD"}
    assert got["deal"]["crmId"] == "CRM-7"
    assert [(m["name"], m["email"], m["phone"]) for m in got["team"]] == [
        ("Bruno Rossi", "bruno@p.example", None),
        ("Carla Dias", None, "+1 555 0101"),
    ]
    assert [(h["action"], h["actor"]) for h in got["history"]] == [
        ("RECEIVE", {"kind": "SYSTEM", "name": None}),
        ("ACCEPT", {"kind": "USER", "name": names[partner.referrals_admin]}),
    ]
    assert got["history"][1]["changes"] == [{"field": "dealName"}]
    assert got["sender"] == {
        "kind": "PLATFORM",
        "name": names[world.seller],
        "organisationName": "Partner Program",
    }


async def test_overdue_and_archived_leads_clock_and_actions(
    session: AsyncSession, partner: WorldPartner, admin: GraphQLClient
) -> None:
    overdue = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        received_at=datetime.now(UTC) - timedelta(days=15),
    )
    closed = await archived(
        session, partner.organisation_id, "DECLINED", decline_notes="Only EU customers"
    )
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
    for foreign_or_bad in (
        sid(fabrikam_lead),
        str(uuid.uuid4()),
        "not-a-uuid",
        "",
        "1",
        "x" * 300,
        sid(contoso_lead) + "0",
    ):
        body = await client(LEAD, {"id": foreign_or_bad})
        assert body == {"data": {"lead": None}}, foreign_or_bad
    # and the other partner does see its own
    fabrikam = gql.as_user(world.fabrikam.partner_admin)
    assert (await fabrikam.data(LEAD, {"id": sid(fabrikam_lead)}))["lead"]["id"] == sid(
        fabrikam_lead
    )


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
        assert data["leads"] == {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False}}
        assert as_table(data["leadCounts"]) == zeros()
    assert gql.last_status == 200


@pytest.mark.parametrize("who", ["member", "seller", "marketer", "platform_admin"])
async def test_users_without_a_referrals_role_see_no_leads(
    gql: GraphQLClient, session: AsyncSession, world: World, who: str
) -> None:
    user_id = world.contoso.member if who == "member" else getattr(world, who)
    lead = await make_lead(
        session,
        organisation_id=world.contoso.organisation_id,
        type=LeadType.SALES_QUALIFIED,
        sender_user_id=world.seller,
        sender_organisation_id=await platform_org_id(session, world),
    )
    client = gql.as_user(user_id)
    for tab in TABS:
        data = await client.data(EVERYTHING, {"id": sid(lead), "tab": tab})
        assert data["viewer"] == {"user": {"id": str(user_id)}}
        assert data["lead"] is None
        assert data["leads"] == {"totalCount": 0, "edges": [], "pageInfo": {"hasNextPage": False}}
        assert as_table(data["leadCounts"]) == zeros()


async def test_partner_managers_see_only_their_own_organisations_leads(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    organisation_of = dict(
        (await session.execute(select(models.Lead.id, models.Lead.organisation_id))).all()
    )
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


@pytest.mark.parametrize("path", ["compiled", "strawberry"])
async def test_a_page_of_leads_costs_the_same_statements_for_2_and_20_leads(
    session: AsyncSession,
    world: World,
    partner: WorldPartner,
    gql: GraphQLClient,
    strawberry_gql: GraphQLClient,
    count_queries: Any,
    path: str,
) -> None:
    client = gql.alone() if path == "compiled" else strawberry_gql
    admin = client.as_user(partner.referrals_admin)
    org = partner.organisation_id
    platform = await platform_org_id(session, world)
    other = await make_partner(session)
    senders = [
        (world.seller, platform),
        (world.marketer, platform),
        (other.partner_admin, other.organisation_id),
    ]
    for i in range(24):
        sender_user, sender_org = senders[i % 3]
        received_at = BASE - timedelta(hours=i)
        lead = await make_lead(
            session,
            organisation_id=org,
            stage=LeadStage.ACCEPTED,
            type=LeadType.SALES_QUALIFIED if i % 2 else LeadType.MARKETING_QUALIFIED,
            received_at=received_at,
            sender_user_id=sender_user,
            sender_organisation_id=sender_org,
        )
        actor = (partner.referrals_admin, partner.partner_admin)[i % 2]
        at = received_at + timedelta(hours=1)
        session.add(history_entry(lead, "ACCEPT", "RECEIVED", "ACCEPTED", at=at, actor=actor))
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

    if path == "compiled":
        # One statement per page, whatever is selected and however many leads: the actor is
        # looked up once (then cached for a few seconds), the page with all its parts at once.
        data_statements = {
            n: [s for s in sql if "FROM partner_leads_actor(" not in s]
            for n, sql in statements.items()
        }
        assert [len(data_statements[2]), len(data_statements[20])] == [1, 1], statements
        assert len(statements[2]) + len(statements[20]) == 3, "the actor once, then cached"
        return
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

    expected_tables = Counter(
        {
            "partner_leads_actor($1)": 1,
            "users": 2,
            "leads": 1,
            "lead_team_members": 1,
            "lead_favorites": 1,
            "lead_history": 1,
            "organisations": 1,
        }
    )
    assert tables(statements[2]) == tables(statements[20]) == expected_tables
