"""Owners and routing over GraphQL (issue 11 §2), on both execution paths (`gql` compares them):
`assignLead`, `Lead.owner`, the owner filters, the change feed, `setRoutingRules` /
`routingRules`, and an inquiry routed round-robin as it arrives."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import PROJECT_ROOT, Settings
from app.db import models
from app.domain.lifecycle import LeadStage
from tests.factories import World, WorldPartner, make_lead, make_partner
from tests.graphql.inbox_support import only_error
from tests.graphql_client import GraphQLClient
from tests.intake_inputs import SUBMIT, graphql_runner, inquiry, profile_of

ASSIGN = """
mutation($id: ID!, $owner: ID, $v: Int) {
  assignLead(input: {id: $id, ownerId: $owner, expectedVersion: $v}) {
    lead {
      id version stage allowedActions
      owner { id name email }
      history { action fromStage toStage actor { kind name } changes { field from to } }
    }
    errors { code field message }
  }
}"""
OWNERS = """
query($filter: LeadFilter) {
  leads(tab: MARKETPLACE, filter: $filter, first: 50) {
    totalCount
    nodes { id owner { id name } }
  }
}"""
RULES = """
mutation($rules: [RoutingRuleInput!]!) {
  setRoutingRules(input: {rules: $rules}) {
    rules { id position industries solutionAreas countries ownerId roundRobinUserIds
            roundRobinLocationId assignedCount }
    errors { code field message }
  }
}"""
LEAD_OWNER = "query($id: ID!) { lead(id: $id) { owner { id } history { action actor { kind } } } }"
READ_RULES = "{ routingRules { position ownerId roundRobinUserIds assignedCount } }"


def _owner(partner: WorldPartner, key: str) -> dict[str, str]:
    user = getattr(partner, key)
    return {
        "id": str(user),
        "name": f"Test Partner {key}",
        "email": f"{key}@{partner.slug}.example",
    }


async def test_assign_lead_gives_the_lead_an_owner_and_records_it(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    lead = await make_lead(session, organisation_id=partner.organisation_id)
    admin = gql.as_user(partner.partner_admin)

    data = await admin.data(ASSIGN, {"id": str(lead.id), "owner": str(partner.referrals_admin)})
    payload = data["assignLead"]
    assert payload["errors"] == []
    got = payload["lead"]
    assert (got["version"], got["stage"], got["allowedActions"]) == (
        2,
        "RECEIVED",
        ["ACCEPT", "DECLINE"],
    )
    assert got["owner"] == _owner(partner, "referrals_admin")
    entry = got["history"][-1]
    assert entry == {
        "action": "ASSIGN",
        "fromStage": "RECEIVED",
        "toStage": "RECEIVED",
        "actor": {"kind": "USER", "name": "Test Partner partner_admin"},
        "changes": [{"field": "owner", "from": None, "to": _owner(partner, "referrals_admin")}],
    }

    # Unassign, with the version read.
    data = await admin.data(ASSIGN, {"id": str(lead.id), "owner": None, "v": 2})
    assert data["assignLead"]["errors"] == []
    assert (data["assignLead"]["lead"]["owner"], data["assignLead"]["lead"]["version"]) == (
        None,
        3,
    )


async def test_assign_lead_refusals_are_typed(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    other = await make_partner(session)
    lead = await make_lead(session, organisation_id=partner.organisation_id)
    won = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ARCHIVED,
        outcome="EXPIRED",
    )

    async def errors(user: Any, variables: dict[str, Any]) -> list[tuple[str, Any]]:
        data = await gql.as_user(user).data(ASSIGN, variables)
        assert data["assignLead"]["lead"] is None
        return [(e["code"], e["field"]) for e in data["assignLead"]["errors"]]

    me = str(partner.referrals_admin)
    assert await errors(None, {"id": str(lead.id), "owner": me}) == [("UNAUTHENTICATED", None)]
    assert await errors(other.partner_admin, {"id": str(lead.id), "owner": me}) == [
        ("NOT_FOUND", ["input", "id"])
    ]
    assert await errors(partner.member, {"id": str(lead.id), "owner": me}) == [("FORBIDDEN", None)]
    assert await errors(
        partner.partner_admin, {"id": str(lead.id), "owner": str(other.partner_admin)}
    ) == [("NOT_FOUND", ["input", "ownerId"])]
    assert await errors(
        partner.partner_admin, {"id": str(lead.id), "owner": str(partner.member)}
    ) == [("VALIDATION", ["input", "ownerId"])]
    assert await errors(partner.partner_admin, {"id": str(lead.id), "owner": me, "v": 9}) == [
        ("CONFLICT", ["input", "expectedVersion"])
    ]
    assert await errors(partner.partner_admin, {"id": str(won.id), "owner": me}) == [
        ("INVALID_TRANSITION", None)
    ]
    # A forgotten ownerId never unassigns: it is refused.
    omitted = await gql.as_user(partner.partner_admin).data(
        "mutation($id: ID!) { assignLead(input: {id: $id}) { lead { id } errors { code field } } }",
        {"id": str(lead.id)},
    )
    assert omitted["assignLead"] == {
        "lead": None,
        "errors": [{"code": "VALIDATION", "field": ["input", "ownerId"]}],
    }


async def test_owner_filters_on_both_paths(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    org = partner.organisation_id
    mine = await make_lead(session, organisation_id=org, owner_user_id=partner.referrals_admin)
    theirs = await make_lead(session, organisation_id=org, owner_user_id=partner.partner_admin)
    nobodys = await make_lead(session, organisation_id=org)
    me = gql.as_user(partner.referrals_admin)

    async def ids(**filter: Any) -> set[str]:
        data = await me.data(OWNERS, {"filter": filter})
        assert data["leads"]["totalCount"] == len(data["leads"]["nodes"])
        return {n["id"] for n in data["leads"]["nodes"]}

    m, t, n = str(mine.id), str(theirs.id), str(nobodys.id)
    assert await ids() == {m, t, n}
    assert await ids(assignedToMe=True) == {m}
    assert await ids(assignedToMe=False) == {t, n}
    assert await ids(owners=[str(partner.partner_admin)]) == {t}
    assert await ids(owners=[str(partner.partner_admin), str(partner.referrals_admin)]) == {m, t}
    assert await ids(unassigned=True) == {n}
    assert await ids(unassigned=False) == {m, t}
    assert await ids(unassigned=True, assignedToMe=True) == set()
    page = await me.data(OWNERS, {"filter": {"owners": [str(partner.referrals_admin)]}})
    assert page["leads"]["nodes"][0]["owner"] == {
        "id": str(partner.referrals_admin),
        "name": "Test Partner referrals_admin",
    }
    error = only_error(await me(OWNERS, {"filter": {"owners": ["x"]}}))
    assert error["extensions"] == {"code": "VALIDATION", "field": ["filter", "owners", "0"]}


async def test_a_sender_never_sees_the_partners_owner(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    seller = await session.get(models.User, world.seller)
    assert seller is not None
    lead = await make_lead(
        session,
        organisation_id=world.contoso.organisation_id,
        sender_user_id=world.seller,
        sender_organisation_id=seller.organisation_id,
        owner_user_id=world.contoso.referrals_admin,
    )
    data = await gql.as_user(world.seller).data(
        "{ sentLeads(first: 100) { nodes { id owner { id } } } }"
    )
    [node] = [n for n in data["sentLeads"]["nodes"] if n["id"] == str(lead.id)]
    assert node["owner"] is None


async def test_the_change_feed_reports_assignments(
    engine: AsyncEngine, committed_gql: GraphQLClient
) -> None:
    """The feed shows ended transactions only: this test commits, on a partner of its own,
    and removes it afterwards."""
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        lead_id = str((await make_lead(session, organisation_id=partner.organisation_id)).id)
    try:
        admin = committed_gql.as_user(partner.partner_admin)
        await admin.data(ASSIGN, {"id": lead_id, "owner": str(partner.partner_admin)})
        data = await admin.data(
            "{ leadChanges(first: 100) { edges { node { action version actor { kind } "
            "changes { field to } lead { id owner { id } } } } } }"
        )
        nodes = [e["node"] for e in data["leadChanges"]["edges"]]
        assert [(n["action"], n["version"], n["actor"]["kind"]) for n in nodes] == [
            ("RECEIVE", 1, "SYSTEM"),
            ("ASSIGN", 2, "USER"),
        ]
        assert nodes[-1]["changes"][0]["to"]["id"] == str(partner.partner_admin)
        assert nodes[-1]["lead"] == {
            "id": lead_id,
            "owner": {"id": str(partner.partner_admin)},
        }
    finally:
        async with AsyncSession(engine) as session, session.begin():
            org = partner.organisation_id
            await session.execute(
                delete(models.OutboxMessage).where(models.OutboxMessage.organisation_id == org)
            )
            await session.execute(delete(models.Organisation).where(models.Organisation.id == org))


async def test_routing_rules_are_set_by_partner_admins_and_read_by_lead_managers(
    gql: GraphQLClient, partner: WorldPartner
) -> None:
    admin = gql.as_user(partner.partner_admin)
    me = str(partner.referrals_admin)
    bad = await admin.data(RULES, {"rules": [{"ownerId": me, "roundRobinUserIds": [me]}]})
    assert bad["setRoutingRules"] == {
        "rules": None,
        "errors": [
            {
                "code": "VALIDATION",
                "field": ["input", "rules", "0"],
                "message": "give exactly one of ownerId, roundRobinUserIds or roundRobinLocationId",
            }
        ],
    }
    bad = await admin.data(RULES, {"rules": [{"roundRobinUserIds": [me, str(partner.member)]}]})
    assert [(e["code"], e["field"]) for e in bad["setRoutingRules"]["errors"]] == [
        ("VALIDATION", ["input", "rules", "0", "roundRobinUserIds", "1"])
    ]
    refused = await gql.as_user(partner.referrals_admin).data(RULES, {"rules": []})
    assert [e["code"] for e in refused["setRoutingRules"]["errors"]] == ["FORBIDDEN"]

    rules = [
        {"industries": ["Healthcare"], "countries": ["BR"], "ownerId": me},
        {"roundRobinUserIds": [me, str(partner.partner_admin)]},
    ]
    saved = await admin.data(RULES, {"rules": rules})
    assert saved["setRoutingRules"]["errors"] == []
    assert [
        (r["position"], r["industries"], r["countries"], r["ownerId"], r["roundRobinUserIds"])
        for r in saved["setRoutingRules"]["rules"]
    ] == [
        (1, ["Healthcare"], ["BR"], me, []),
        (2, [], [], None, [me, str(partner.partner_admin)]),
    ]
    read = await gql.as_user(partner.referrals_admin).data(READ_RULES)
    assert [r["position"] for r in read["routingRules"]] == [1, 2]
    assert (await gql.as_user(partner.member).data(READ_RULES))["routingRules"] == []
    assert (await gql.as_user(None).data(READ_RULES))["routingRules"] == []


@pytest.mark.usefixtures("world")
async def test_inquiries_arrive_with_owners_in_turn(
    session: AsyncSession,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    gql: GraphQLClient,
    world: World,
) -> None:
    contoso = world.contoso
    turn = [str(contoso.referrals_admin), str(contoso.partner_admin)]
    saved = await gql.as_user(contoso.partner_admin).data(
        RULES, {"rules": [{"roundRobinUserIds": turn}]}
    )
    assert saved["setRoutingRules"]["errors"] == []
    profile_id = await profile_of(session, contoso.organisation_id)
    owners = []
    async with graphql_runner(settings, sessionmaker) as run:
        for n in range(3):
            data = await run(SUBMIT, {"profileId": profile_id, "input": inquiry(), "key": f"k{n}"})
            assert data["submitInquiry"]["errors"] == []
            lead_id = data["submitInquiry"]["lead"]["id"]
            read = await gql.as_user(contoso.referrals_admin).data(LEAD_OWNER, {"id": lead_id})
            owners.append(read["lead"]["owner"]["id"])
            assert [(h["action"], h["actor"]["kind"]) for h in read["lead"]["history"]] == [
                ("RECEIVE", "SYSTEM"),
                ("ASSIGN", "SYSTEM"),
            ]
    assert owners == [turn[0], turn[1], turn[0]]
    counted = await gql.as_user(contoso.referrals_admin).data(READ_RULES)
    assert counted["routingRules"][0]["assignedCount"] == 3


PAGE = """
query($first: Int) {
  leads(tab: MARKETPLACE, first: $first) { nodes { id owner { id name email } } }
}"""


@pytest.mark.parametrize("path", ["compiled", "strawberry"])
async def test_a_page_of_owned_leads_costs_the_same_statements_for_2_and_20_leads(
    session: AsyncSession,
    partner: WorldPartner,
    gql: GraphQLClient,
    strawberry_gql: GraphQLClient,
    count_queries: Any,
    path: str,
) -> None:
    client = gql.alone() if path == "compiled" else strawberry_gql
    me = client.as_user(partner.referrals_admin)
    owners = [partner.referrals_admin, partner.partner_admin, None]
    for i in range(24):
        await make_lead(
            session, organisation_id=partner.organisation_id, owner_user_id=owners[i % 3]
        )
    statements: dict[int, list[str]] = {}
    for first in (2, 20):
        with count_queries() as counter:
            data = await me.data(PAGE, {"first": first})
        statements[first] = counter.statements
        nodes = data["leads"]["nodes"]
        assert len(nodes) == first
        assert sum(n["owner"] is not None for n in nodes) >= first * 2 // 3
    data_statements = {
        n: [s for s in sql if "FROM partner_leads_actor(" not in s] for n, sql in statements.items()
    }
    # Compiled: the page and every owner in one statement. Strawberry: the page, then one
    # batch of the owners (the user loader), whatever the page's size.
    expected = 1 if path == "compiled" else 2
    assert [len(data_statements[2]), len(data_statements[20])] == [expected] * 2, statements


def _readme_examples() -> list[tuple[str, dict[str, Any]]]:
    """The `gql '{...}'` examples of the README's "Owners and routing"."""
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text.split("### Owners and routing", 1)[1].split("\n### ", 1)[0]
    bodies = re.findall(r"^gql '(\{.*\})'$", section, re.M)
    assert len(bodies) == 5, "the README's examples moved: update this test"
    return [(json.loads(b)["query"], json.loads(b).get("variables") or {}) for b in bodies]


async def test_the_readmes_examples_work(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    contoso = world.contoso
    lead = await make_lead(session, organisation_id=contoso.organisation_id)
    ids = {
        "<user id>": str(contoso.referrals_admin),
        "<other user id>": str(contoso.partner_admin),
        "<lead id>": str(lead.id),
    }

    def filled(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: filled(v) for k, v in value.items()}
        if isinstance(value, list):
            return [filled(v) for v in value]
        return ids.get(value, value)

    admin = gql.as_user(contoso.partner_admin)
    answers = [
        await admin.data(query, filled(variables)) for query, variables in _readme_examples()
    ]
    assert {m["id"] for m in answers[0]["leadManagers"]} >= set(ids.values()) - {str(lead.id)}
    assert answers[1]["setRoutingRules"]["errors"] == []
    assert [r["position"] for r in answers[2]["routingRules"]] == [1, 2]
    assert answers[3]["assignLead"]["errors"] == []
    owner = await session.get(models.User, contoso.referrals_admin)
    assert owner is not None
    assert answers[3]["assignLead"]["lead"]["owner"] == {"name": owner.name}
    assert answers[4]["leads"]["totalCount"] == 0  # the partner admin owns none of them


async def test_two_admins_saving_rules_at_once_both_succeed_and_one_set_remains(
    engine: AsyncEngine, committed_gql: GraphQLClient
) -> None:
    """Real concurrent transactions (they commit, on a partner of their own, removed after)."""
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
    try:
        a, b = str(partner.referrals_admin), str(partner.partner_admin)
        sets = [[{"ownerId": a}, {"ownerId": b}], [{"roundRobinUserIds": [a, b]}]]
        for _ in range(5):
            bodies = await asyncio.gather(
                *(
                    committed_gql.as_user(partner.partner_admin)(RULES, {"rules": rules})
                    for rules in sets
                )
            )
            assert [b["data"]["setRoutingRules"]["errors"] for b in bodies] == [[], []], bodies
            read = await committed_gql.as_user(partner.referrals_admin).data(READ_RULES)
            assert len(read["routingRules"]) in (1, 2)
            shown = [(r["ownerId"], r["roundRobinUserIds"]) for r in read["routingRules"]]
            assert shown in ([(a, []), (b, [])], [(None, [a, b])])
    finally:
        async with AsyncSession(engine) as session, session.begin():
            org = partner.organisation_id
            await session.execute(delete(models.Organisation).where(models.Organisation.id == org))


async def test_lead_managers_lists_whom_a_lead_can_be_given_to(
    gql: GraphQLClient, session: AsyncSession, partner: WorldPartner
) -> None:
    query = "{ leadManagers { id name email } }"
    managers = (await gql.as_user(partner.referrals_admin).data(query))["leadManagers"]
    assert managers == sorted(
        [_owner(partner, "partner_admin"), _owner(partner, "referrals_admin")],
        key=lambda user: user["name"].casefold(),
    )
    # Every one of them is accepted by assignLead.
    lead = await make_lead(session, organisation_id=partner.organisation_id)
    for user in managers:
        data = await gql.as_user(partner.partner_admin).data(
            ASSIGN, {"id": str(lead.id), "owner": user["id"]}
        )
        assert data["assignLead"]["errors"] == []
    other = await make_partner(session)
    assert str(other.partner_admin) not in {
        u["id"] for u in (await gql.as_user(partner.partner_admin).data(query))["leadManagers"]
    }
    assert (await gql.as_user(partner.member).data(query))["leadManagers"] == []
    assert (await gql.as_user(None).data(query))["leadManagers"] == []
