"""API keys (issue 10, section 1): a partner admin creates a key, an integration uses it on both
execution paths and its actions are history's, a revoked or expired key is refused on its next
request, a mistyped one without a lookup, and only partner admins manage keys."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import ApiKey, LeadHistory
from app.db.tenancy import Tenant
from app.domain import api_keys
from app.domain.lifecycle import LeadStage
from app.domain.roles import Role
from tests.factories import World, make_api_key, make_lead
from tests.graphql_client import GraphQLClient

CREATE = """
mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) {
    apiKey { id name prefix roles createdAt lastUsedAt expiresAt revokedAt }
    secret
    errors { code field message }
  }
}"""
KEYS = "{ apiKeys { id name prefix roles createdAt lastUsedAt expiresAt revokedAt } }"
REVOKE = """
mutation($id: ID!) {
  revokeApiKey(input: {id: $id}) { apiKey { id revokedAt } errors { code field message } }
}"""
LEADS = "{ leads(tab: MARKETPLACE, first: 50) { totalCount edges { node { id } } } }"
ACCEPT = """
mutation($id: ID!) {
  acceptLead(input: {id: $id, expectedVersion: 1, dealName: "Synced",
                     estimatedPurchaseDate: "2027-01-31",
                     estimatedValue: {amount: "1000", currency: "USD"}}) {
    lead { id stage version history { action actor { kind name } } }
    errors { code message }
  }
}"""
HISTORY = "query($id: ID!) { lead(id: $id) { history { action actor { kind name } } } }"


def with_key(client: GraphQLClient, secret: str | None) -> GraphQLClient:
    return GraphQLClient(client.http, client.settings, secret, differential=client.differential)


async def create(
    client: GraphQLClient, name: str = "CRM sync", roles: list[str] | None = None, **more: Any
) -> dict[str, Any]:
    data = await client.data(
        CREATE, {"input": {"name": name, "roles": roles or ["PARTNER_ADMIN"], **more}}
    )
    payload: dict[str, Any] = data["createApiKey"]
    return payload


def assert_unauthenticated(client: GraphQLClient, body: dict[str, Any]) -> None:
    assert client.last_status == 401
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}


async def test_a_key_is_created_shown_once_and_stored_as_a_keyed_hash(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    admin = gql.as_user(world.contoso.partner_admin)
    payload = await create(admin, "  CRM sync  ")
    assert payload["errors"] == []
    secret, key = payload["secret"], payload["apiKey"]
    assert secret.startswith("plk_") and len(secret) == api_keys.LENGTH
    assert api_keys.well_formed(secret)
    assert key["name"] == "CRM sync" and key["roles"] == ["PARTNER_ADMIN"]
    assert key["prefix"] == secret[:12] and key["lastUsedAt"] is None
    assert key["expiresAt"] is None and key["revokedAt"] is None

    row = await session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(key["id"])))
    assert row is not None and row.organisation_id == world.contoso.organisation_id
    assert row.created_by == world.contoso.partner_admin
    expected = hmac.new(settings.api_key_hash_key, secret.encode(), hashlib.sha256).digest()
    assert row.secret_hash == expected
    stored = (await session.execute(text("SELECT row_to_json(k)::text FROM api_keys AS k"))).all()
    assert not any(secret in r[0] or secret[12:] in r[0] for r in stored)

    # Listed without its secret, ever again.
    response = await admin.raw(KEYS)
    assert secret[12:] not in response.text
    [listed] = response.json()["data"]["apiKeys"]
    assert listed == key


async def test_a_key_reads_and_acts_on_both_paths_as_itself_until_revoked(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    lead = await make_lead(session, organisation_id=world.contoso.organisation_id)
    admin = gql.as_user(world.contoso.partner_admin)
    created = await create(admin, "Dynamics connector", ["PARTNER_ADMIN"])
    integration = with_key(gql, created["secret"])
    assert gql.differential is not None
    compiled_before = gql.differential.compiled

    # A query, answered alike by the compiled path and strawberry (the client compares).
    leads = await integration.data(LEADS)
    assert str(lead.id) in {e["node"]["id"] for e in leads["leads"]["edges"]}
    assert gql.differential.compiled > compiled_before

    # A lead mutation: recorded in history as the key, by name, on both paths.
    accepted = await integration.data(ACCEPT, {"id": str(lead.id)})
    assert accepted["acceptLead"]["errors"] == []
    entry = accepted["acceptLead"]["lead"]["history"][-1]
    assert entry == {"action": "ACCEPT", "actor": {"kind": "API_KEY", "name": "Dynamics connector"}}
    history = await admin.data(HISTORY, {"id": str(lead.id)})
    assert history["lead"]["history"][-1]["actor"] == entry["actor"]
    [row] = (
        await session.scalars(
            select(LeadHistory).where(
                LeadHistory.lead_id == lead.id, LeadHistory.action == "ACCEPT"
            )
        )
    ).all()
    assert (row.actor_kind, row.actor_user_id) == ("API_KEY", None)
    assert row.api_key_id == uuid.UUID(created["apiKey"]["id"])
    outbox = await session.scalar(
        text("SELECT payload->'actor' FROM outbox WHERE lead_id = :id AND topic = 'lead.accepted'"),
        {"id": lead.id},
    )
    assert outbox == {"kind": "API_KEY", "apiKeyId": created["apiKey"]["id"]}

    # Its use is shown to the admin.
    [listed] = (await admin.data(KEYS))["apiKeys"]
    assert listed["lastUsedAt"] is not None

    revoked = await admin.data(REVOKE, {"id": created["apiKey"]["id"]})
    assert revoked["revokeApiKey"]["errors"] == []
    assert revoked["revokeApiKey"]["apiKey"]["revokedAt"] is not None

    # The very next request is refused, on both paths (the client sends each query to both),
    # reads and writes alike.
    assert_unauthenticated(integration, await integration(LEADS))
    assert_unauthenticated(integration, await integration(ACCEPT, {"id": str(lead.id)}))
    assert_unauthenticated(integration, await integration(KEYS))


async def test_an_expired_key_is_refused_like_an_expired_token(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    _, secret = await make_api_key(
        session,
        settings,
        organisation_id=world.contoso.organisation_id,
        expires_at=datetime.now(UTC) - timedelta(seconds=1),
    )
    client = with_key(gql, secret)
    body = await client(LEADS)
    assert_unauthenticated(client, body)
    assert body["errors"][0]["message"] == "invalid API key"
    response = await client.raw(LEADS)
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    # A JWT's refusal has the same shape.
    jwt_client = GraphQLClient(gql.http, settings, "not.a.jwt", differential=gql.differential)
    jwt_body = await jwt_client(LEADS)
    assert jwt_client.last_status == 401 and set(jwt_body) == set(body)
    assert jwt_body["errors"][0]["extensions"] == body["errors"][0]["extensions"]


async def test_a_key_still_valid_is_accepted_until_it_expires(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    key, secret = await make_api_key(
        session,
        settings,
        organisation_id=world.contoso.organisation_id,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    client = with_key(gql, secret)
    await client.data(LEADS)
    await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key.id)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    assert_unauthenticated(client, await client(LEADS))


async def test_a_mistyped_key_is_refused_without_a_lookup(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World, count_queries: Any
) -> None:
    _, secret = await make_api_key(session, settings, organisation_id=world.contoso.organisation_id)
    flipped = "A" if secret[20] != "A" else "B"
    for wrong in (
        secret[:20] + flipped + secret[21:],  # one character mistyped
        secret[:-1],  # truncated
        secret + "x",
        "plk_" + "!" * (api_keys.LENGTH - 4),
    ):
        client = with_key(gql.alone(), wrong)
        with count_queries() as counter:
            body = await client(LEADS)
        assert_unauthenticated(client, body)
        assert counter.count == 0, counter.statements
    # A well-formed key that does not exist costs its one lookup.
    made_up = api_keys.new_secret()
    client = with_key(gql.alone(), made_up)
    with count_queries() as counter:
        assert_unauthenticated(client, await client(LEADS))
    assert counter.count >= 1
    # The real one still works.
    await with_key(gql, secret).data(LEADS)


async def test_a_key_has_only_its_own_roles(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    await make_lead(session, organisation_id=world.contoso.organisation_id)
    # A key without a lead-managing role sees no inbox, whoever created it.
    _, none = await make_api_key(
        session, settings, organisation_id=world.contoso.organisation_id, roles=()
    )
    _, admin = await make_api_key(session, settings, organisation_id=world.contoso.organisation_id)
    assert (await with_key(gql, none).data(LEADS))["leads"]["totalCount"] == 0
    assert (await with_key(gql, admin).data(LEADS))["leads"]["totalCount"] > 0


async def test_only_partner_admins_manage_keys(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    contoso = world.contoso
    _, secret = await make_api_key(
        session,
        settings,
        organisation_id=contoso.organisation_id,
        roles=(Role.PARTNER_ADMIN, Role.REFERRALS_ADMIN),
    )
    created = await create(gql.as_user(contoso.partner_admin))
    key_id = created["apiKey"]["id"]
    for client, code in (
        (gql.as_user(contoso.member), "FORBIDDEN"),
        (gql.as_user(contoso.referrals_admin), "FORBIDDEN"),
        (gql.as_user(world.seller), "FORBIDDEN"),
        (with_key(gql, secret), "FORBIDDEN"),  # a key never makes or revokes keys
        (gql.as_user(None), "UNAUTHENTICATED"),
    ):
        payload = await create(client)
        assert (payload["apiKey"], payload["secret"]) == (None, None)
        assert [e["code"] for e in payload["errors"]] == [code]
        revoked = (await client.data(REVOKE, {"id": key_id}))["revokeApiKey"]
        assert [e["code"] for e in revoked["errors"]] == [code]
        assert (await client.data(KEYS))["apiKeys"] == []
    # Another organisation's admin does not find the key.
    other = (await gql.as_user(world.fabrikam.partner_admin).data(REVOKE, {"id": key_id}))[
        "revokeApiKey"
    ]
    assert other["errors"] == [
        {"code": "NOT_FOUND", "field": ["input", "id"], "message": "no such API key"}
    ]
    row = await session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(key_id)))
    assert row is not None and row.revoked_at is None


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"name": " "}, ["input", "name"], "is required"),
        ({"name": "x" * 101}, ["input", "name"], "must be at most 100 characters"),
        (
            {"expiresAt": "2020-01-01T00:00:00+00:00"},
            ["input", "expiresAt"],
            "must be in the future",
        ),
        # A time without a zone is UTC.
        ({"expiresAt": "2020-01-01T00:00:00"}, ["input", "expiresAt"], "must be in the future"),
        ({"expiresAt": "0001-01-01T00:00:00+00:00"}, ["input", "expiresAt"], "is out of range"),
        ({"roles": []}, ["input", "roles"], "give the key at least one role"),
        ({"roles": ["NOPE"]}, ["input", "roles", "0"], "'NOPE' is not a partner role"),
        ({"roles": ["PLATFORM_ADMIN"]}, ["input", "roles", "0"], "is not a partner role"),
        # More than the creator: the partner admin of the world holds PARTNER_ADMIN alone.
        ({"roles": ["REFERRALS_ADMIN"]}, ["input", "roles", "0"], "you do not hold"),
    ],
)
async def test_bad_input_gets_typed_errors(
    gql: GraphQLClient, world: World, given: dict[str, Any], field: list[str], message: str
) -> None:
    values: dict[str, Any] = {"name": "CRM", "roles": ["PARTNER_ADMIN"], **given}
    payload = (await gql.as_user(world.contoso.partner_admin).data(CREATE, {"input": values}))[
        "createApiKey"
    ]
    assert payload["apiKey"] is None and payload["secret"] is None
    [error] = payload["errors"]
    assert error["code"] == "VALIDATION" and error["field"] == field
    assert message in error["message"]


async def test_last_use_is_written_at_most_once_a_minute(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    key, secret = await make_api_key(
        session, settings, organisation_id=world.contoso.organisation_id
    )
    client = with_key(gql, secret)

    async def last_used() -> datetime | None:
        return await session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key.id))

    await client.data(LEADS)
    first = await last_used()
    assert first is not None and abs(datetime.now(UTC) - first) < timedelta(minutes=1)
    recent = datetime.now(UTC) - timedelta(seconds=30)
    await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=recent))
    await client.data(LEADS)
    assert await last_used() == recent
    stale = datetime.now(UTC) - timedelta(minutes=2)
    await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=stale))
    await client.data(LEADS)
    latest = await last_used()
    assert latest is not None and latest > recent


async def test_a_key_has_no_favorites_of_its_own(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    lead = await make_lead(
        session, organisation_id=world.contoso.organisation_id, stage=LeadStage.RECEIVED
    )
    _, secret = await make_api_key(session, settings, organisation_id=world.contoso.organisation_id)
    payload = (
        await with_key(gql, secret).data(
            "mutation($id: ID!) { setLeadFavorite(input: {id: $id, favorite: true}) "
            "{ errors { code } } }",
            {"id": str(lead.id)},
        )
    )["setLeadFavorite"]
    assert payload["errors"] == [{"code": "FORBIDDEN"}]


async def test_keys_are_behind_row_level_security(
    sessionmaker: async_sessionmaker[AsyncSession],
    session: AsyncSession,
    settings: Settings,
    world: World,
) -> None:
    """As the API's database role: an organisation sees its own keys only, and only a partner
    admin's transaction may write one, whatever the service layer checks."""
    key, _ = await make_api_key(session, settings, organisation_id=world.contoso.organisation_id)
    contoso, fabrikam = world.contoso, world.fabrikam
    for tenant, seen in (
        (Tenant(contoso.organisation_id, contoso.member), True),
        (Tenant(fabrikam.organisation_id, fabrikam.partner_admin), False),
        (Tenant(None, None), False),
        (Tenant(contoso.organisation_id, None), True),  # the key itself
    ):
        async with sessionmaker(info={"tenant": tenant}) as app:
            found = await app.scalar(select(ApiKey.id).where(ApiKey.id == key.id))
            assert (found is not None) is seen, tenant
            if seen:
                changed = await app.execute(
                    update(ApiKey).where(ApiKey.id == key.id).values(revoked_at=datetime.now(UTC))
                )
                assert changed.rowcount == 0, tenant  # only an admin's transaction may
            await app.rollback()
    async with sessionmaker(
        info={"tenant": Tenant(contoso.organisation_id, contoso.partner_admin)}
    ) as app:
        changed = await app.execute(
            update(ApiKey).where(ApiKey.id == key.id).values(name="renamed by the admin")
        )
        assert changed.rowcount == 1
        await app.rollback()
