"""Languages and time zones over GraphQL (issue 11 §5): a user's locale and zone
(`updateMyPreferences`, `viewer { locale timeZone }`), typed errors for what we do not speak or
know, and the customer's locale and zone on the inquiry form and on sent leads, kept on the
lead. The viewer is read on both paths (compiled and strawberry) by the `gql` fixture."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Lead, User
from tests.factories import World, make_api_key, unique
from tests.graphql_client import GraphQLClient
from tests.intake_inputs import SEND, SUBMIT, inquiry, profile_of, qualified

UPDATE = """
mutation($input: UpdateMyPreferencesInput!) {
  updateMyPreferences(input: $input) {
    preferences { locale timeZone }
    errors { code field message }
  }
}"""
VIEWER = "{ viewer { user { name } locale timeZone } }"


async def update(client: GraphQLClient, **input: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await client.data(UPDATE, {"input": input}))["updateMyPreferences"]
    return payload


async def stored(session: AsyncSession, user_id: uuid.UUID) -> tuple[str, str]:
    user = (
        await session.execute(
            select(User).where(User.id == user_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    return user.locale, user.time_zone


async def test_english_in_utc_until_the_user_says_otherwise(
    gql: GraphQLClient, world: World
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    viewer = (await client.data(VIEWER))["viewer"]
    assert (viewer["locale"], viewer["timeZone"]) == ("en", "UTC")
    assert (await client.data("{ supportedLocales }"))["supportedLocales"] == ["en", "pt-BR"]


async def test_a_user_chooses_brazilian_portuguese_and_sao_paulo_time(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.referrals_admin)
    payload = await update(client, locale="pt_br", timeZone="america/sao_paulo")
    assert payload == {
        "preferences": {"locale": "pt-BR", "timeZone": "America/Sao_Paulo"},
        "errors": [],
    }
    assert await stored(session, world.contoso.referrals_admin) == ("pt-BR", "America/Sao_Paulo")
    viewer = (await client.data(VIEWER))["viewer"]
    assert (viewer["locale"], viewer["timeZone"]) == ("pt-BR", "America/Sao_Paulo")
    # Null leaves a preference as it is; a colleague's are their own.
    payload = await update(client, timeZone="Europe/Lisbon")
    assert payload["preferences"] == {"locale": "pt-BR", "timeZone": "Europe/Lisbon"}
    colleague = (await gql.as_user(world.contoso.partner_admin).data(VIEWER))["viewer"]
    assert (colleague["locale"], colleague["timeZone"]) == ("en", "UTC")


async def test_unsupported_locale_and_unknown_zone_are_typed_errors(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    client = gql.as_user(world.contoso.partner_admin)
    payload = await update(client, locale="fr-FR", timeZone="Mars/Olympus_Mons")
    assert payload["preferences"] is None
    errors = {e["code"]: e for e in payload["errors"]}
    assert set(errors) == {"UNSUPPORTED_LOCALE", "UNKNOWN_TIME_ZONE"}
    assert errors["UNSUPPORTED_LOCALE"]["field"] == ["input", "locale"]
    assert errors["UNSUPPORTED_LOCALE"]["message"].endswith("supported: en, pt-BR")
    assert errors["UNKNOWN_TIME_ZONE"]["field"] == ["input", "timeZone"]
    # Nothing was saved, not even the half that was right.
    payload = await update(client, locale="pt-BR", timeZone="Nowhere")
    assert [e["code"] for e in payload["errors"]] == ["UNKNOWN_TIME_ZONE"]
    assert await stored(session, world.contoso.partner_admin) == ("en", "UTC")


async def test_anonymous_callers_and_api_keys_have_no_preferences(
    gql: GraphQLClient, session: AsyncSession, settings: Settings, world: World
) -> None:
    anonymous = await update(gql.as_user(None), locale="pt-BR")
    assert [e["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
    _, secret = await make_api_key(session, settings, organisation_id=world.contoso.organisation_id)
    key = GraphQLClient(gql.http, gql.settings, secret, differential=gql.differential)
    assert [e["code"] for e in (await update(key, locale="pt-BR"))["errors"]] == ["FORBIDDEN"]
    viewer = (await key.data(VIEWER))["viewer"]
    assert (viewer["locale"], viewer["timeZone"]) == ("en", "UTC")


async def lead_of(session: AsyncSession, lead_id: str) -> Lead:
    return (
        await session.execute(
            select(Lead)
            .where(Lead.id == uuid.UUID(lead_id))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def test_the_inquiry_form_sends_the_customers_language_and_zone(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    customer = gql.as_user(None)
    variables = {
        "profileId": profile_id,
        "input": inquiry(locale="pt_BR", timeZone="America/Sao_Paulo"),
        "key": unique("k"),
    }
    payload = (await customer.data(SUBMIT, variables))["submitInquiry"]
    assert payload["errors"] == []
    lead = await lead_of(session, payload["lead"]["id"])
    assert (lead.customer_locale, lead.customer_time_zone) == ("pt-BR", "America/Sao_Paulo")
    # The partner sees which language the customer speaks (both execution paths).
    partner = gql.as_user(world.contoso.referrals_admin)
    shown = await partner.data(
        "query($id: ID!) { lead(id: $id) { customer { locale timeZone } } }",
        {"id": payload["lead"]["id"]},
    )
    assert shown["lead"]["customer"] == {"locale": "pt-BR", "timeZone": "America/Sao_Paulo"}
    # A form that says nothing: the customer reads English, in UTC.
    plain = {"profileId": profile_id, "input": inquiry(), "key": unique("k")}
    payload = (await customer.data(SUBMIT, plain))["submitInquiry"]
    lead = await lead_of(session, payload["lead"]["id"])
    assert (lead.customer_locale, lead.customer_time_zone) == (None, None)


async def test_an_inquiry_in_a_language_we_do_not_speak_is_refused(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    variables = {
        "profileId": profile_id,
        "input": inquiry(locale="de-DE", timeZone="Berlin"),
        "key": unique("k"),
    }
    payload = (await gql.as_user(None).data(SUBMIT, variables))["submitInquiry"]
    assert payload["lead"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("UNSUPPORTED_LOCALE", ["input", "locale"]),
        ("UNKNOWN_TIME_ZONE", ["input", "timeZone"]),
    ]


async def test_a_seller_sends_the_customers_language_with_the_lead(
    gql: GraphQLClient, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    variables = {"profileId": profile_id, "input": qualified(locale="pt-BR"), "key": None}
    payload = (await gql.as_user(world.seller).data(SEND, variables))["sendQualifiedLead"]
    assert payload["errors"] == []
    lead = await lead_of(session, payload["lead"]["id"])
    assert (lead.customer_locale, lead.customer_time_zone) == ("pt-BR", None)
