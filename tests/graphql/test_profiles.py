"""Business profiles over GraphQL (R1): reading the own profile, the mutations' round trip, and
the typed refusals with the input paths clients see."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.services.auth import load_actor
from tests.factories import World, make_partner
from tests.graphql.in_process import data_of, execute_in_process
from tests.profile_probes import (
    NOW,
    first_contact_id,
    first_location_id,
    profile_of,
    snapshot,
)

PROFILE_FIELDS = """
  id name published publishedAt description website keywords industries solutionAreas
  preferredSizes competencies endorsements
  locations { id name address country contacts { id name email phone alertsOptedOut } }
"""


@pytest.fixture
def run(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> Any:
    async def execute(
        user_id: uuid.UUID | None, document: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        who = await load_actor(session, user_id) if user_id else None
        return data_of(
            await execute_in_process(
                settings, sessionmaker, document, variables, actor=who, now=NOW
            )
        )

    return execute


def mutation(name: str, input_type: str | None) -> str:
    args = "(input: $input)" if input_type else ""
    params = f"($input: {input_type}!)" if input_type else ""
    return (
        f"mutation{params} {{ {name}{args} {{ profile {{ {PROFILE_FIELDS} }} "
        "location { id name } contact { id email } errors { code field message } } }"
    )


async def test_graphql_my_business_profile(run: Any, world: World) -> None:
    data = await run(
        world.contoso.referrals_admin, f"{{ myBusinessProfile {{ {PROFILE_FIELDS} }} }}"
    )
    profile = data["myBusinessProfile"]
    assert profile["name"] == "Contoso Cloud Consulting" and profile["published"]
    assert "cloud migration" in profile["keywords"]
    [location] = profile["locations"]
    assert {c["alertsOptedOut"] for c in location["contacts"]} == {True, False}
    assert (await run(None, "{ myBusinessProfile { id } }")) == {"myBusinessProfile": None}
    platform = await run(world.seller, "{ myBusinessProfile { id } }")
    assert platform == {"myBusinessProfile": None}


async def test_graphql_viewer_shows_the_full_own_profile(run: Any, world: World) -> None:
    data = await run(
        world.fabrikam.partner_admin,
        f"{{ viewer {{ organisation {{ profile {{ {PROFILE_FIELDS} }} }} }} }}",
    )
    profile = data["viewer"]["organisation"]["profile"]
    assert profile["name"] == "Fabrikam Data & AI"
    assert "SIZE_1_9" not in profile["preferredSizes"] and profile["preferredSizes"]
    assert profile["locations"][0]["contacts"]


async def test_graphql_profile_mutations_round_trip(run: Any, session: AsyncSession) -> None:
    partner = await make_partner(session, name="Litware")
    admin = partner.partner_admin

    updated = await run(
        admin,
        mutation("updateBusinessProfile", "UpdateBusinessProfileInput"),
        {
            "input": {
                "description": "Litware ships line-of-business apps.",
                "website": "https://litware.example",
                "keywords": ["Power Apps", "power apps", "Dynamics"],
                "industries": ["Retail"],
                "solutionAreas": ["Business Applications"],
                "preferredSizes": ["SIZE_10_50", "SIZE_51_250"],
            }
        },
    )
    payload = updated["updateBusinessProfile"]
    assert payload["errors"] == []
    assert payload["profile"]["name"] == "Litware"
    assert payload["profile"]["keywords"] == ["Power Apps", "Dynamics"]
    assert payload["profile"]["preferredSizes"] == ["SIZE_10_50", "SIZE_51_250"]

    # Omitted fields stay; null clears.
    cleared = await run(
        admin,
        mutation("updateBusinessProfile", "UpdateBusinessProfileInput"),
        {"input": {"website": None}},
    )
    assert cleared["updateBusinessProfile"]["profile"]["website"] is None
    assert cleared["updateBusinessProfile"]["profile"]["industries"] == ["Retail"]

    refused = await run(admin, mutation("publishBusinessProfile", None))
    assert refused["publishBusinessProfile"]["profile"] is None
    assert refused["publishBusinessProfile"]["errors"] == [
        {
            "code": "VALIDATION",
            "field": ["profile", "locations"],
            "message": "cannot publish: at least one location is required",
        }
    ]

    added = await run(
        admin,
        mutation("addProfileLocation", "AddProfileLocationInput"),
        {"input": {"name": "Head office", "address": "1 Way", "country": "GB"}},
    )
    location_id = added["addProfileLocation"]["location"]["id"]
    assert added["addProfileLocation"]["profile"]["locations"][0]["id"] == location_id

    moved = await run(
        admin,
        mutation("updateProfileLocation", "UpdateProfileLocationInput"),
        {"input": {"id": location_id, "country": "IE"}},
    )
    assert moved["updateProfileLocation"]["profile"]["locations"][0]["country"] == "IE"
    assert moved["updateProfileLocation"]["profile"]["locations"][0]["address"] == "1 Way"

    contact = await run(
        admin,
        mutation("addLocationContact", "AddLocationContactInput"),
        {"input": {"locationId": location_id, "name": "Desk", "email": "desk@litware.example"}},
    )
    contact_id = contact["addLocationContact"]["contact"]["id"]
    assert contact["addLocationContact"]["profile"]["locations"][0]["contacts"][0]["id"] == (
        contact_id
    )

    changed = await run(
        admin,
        mutation("updateLocationContact", "UpdateLocationContactInput"),
        {"input": {"id": contact_id, "phone": "+44 20 7946 0000"}},
    )
    assert changed["updateLocationContact"]["contact"]["email"] == "desk@litware.example"
    assert changed["updateLocationContact"]["profile"]["locations"][0]["contacts"][0]["phone"]

    published = await run(admin, mutation("publishBusinessProfile", None))
    assert published["publishBusinessProfile"]["errors"] == []
    assert published["publishBusinessProfile"]["profile"]["published"] is True
    assert published["publishBusinessProfile"]["profile"]["publishedAt"]

    hidden = await run(admin, mutation("unpublishBusinessProfile", None))
    assert hidden["unpublishBusinessProfile"]["profile"]["published"] is False

    removed = await run(
        admin,
        mutation("removeLocationContact", "RemoveLocationContactInput"),
        {"input": {"id": contact_id}},
    )
    assert removed["removeLocationContact"]["profile"]["locations"][0]["contacts"] == []
    gone = await run(
        admin,
        mutation("removeProfileLocation", "RemoveProfileLocationInput"),
        {"input": {"id": location_id}},
    )
    assert gone["removeProfileLocation"]["errors"] == []
    assert gone["removeProfileLocation"]["profile"]["locations"] == []


async def test_graphql_refusals_are_typed(run: Any, world: World, session: AsyncSession) -> None:
    contoso = await profile_of(session, world.contoso.organisation_id)
    location_id = await first_location_id(session, contoso.id)
    before = await snapshot(session, contoso.id)

    def error(data: dict[str, Any], name: str) -> list[str]:
        assert data[name]["profile"] is None
        return [e["code"] for e in data[name]["errors"]]

    update = mutation("updateBusinessProfile", "UpdateBusinessProfileInput")
    assert error(await run(None, update, {"input": {"keywords": []}}), "updateBusinessProfile") == [
        "UNAUTHENTICATED"
    ]
    forbidden = await run(world.contoso.referrals_admin, update, {"input": {"keywords": []}})
    assert error(forbidden, "updateBusinessProfile") == ["FORBIDDEN"]
    invalid = await run(world.contoso.partner_admin, update, {"input": {"website": "nope"}})
    assert invalid["updateBusinessProfile"]["errors"][0]["field"] == ["input", "website"]
    for name, input_type in (
        ("updateProfileLocation", "UpdateProfileLocationInput"),
        ("removeProfileLocation", "RemoveProfileLocationInput"),
    ):
        data = await run(
            world.fabrikam.partner_admin, mutation(name, input_type), {"input": {"id": location_id}}
        )
        assert error(data, name) == ["NOT_FOUND"]
    data = await run(
        world.fabrikam.partner_admin,
        mutation("addLocationContact", "AddLocationContactInput"),
        {"input": {"locationId": location_id, "name": "X", "email": "x@x.example"}},
    )
    assert error(data, "addLocationContact") == ["NOT_FOUND"]
    assert await snapshot(session, contoso.id) == before


async def test_graphql_refusals_name_the_input_paths(
    run: Any, world: World, session: AsyncSession
) -> None:
    contoso = await profile_of(session, world.contoso.organisation_id)
    location_id = await first_location_id(session, contoso.id)
    contact_id = await first_contact_id(session, location_id)
    admin, other, platform = (
        world.contoso.partner_admin,
        world.fabrikam.partner_admin,
        world.platform_admin,
    )
    bad_profile = {"website": "ftp://x", "keywords": ["ok", " "], "solutionAreas": ["bad\x00"]}
    membership = {"profileId": str(contoso.id), "competencies": [], "endorsements": []}
    # (who, mutation, input, the refusals as "CODE dotted.path")
    cases: list[tuple[uuid.UUID, str, dict[str, Any], list[str]]] = [
        (admin, "updateBusinessProfile", bad_profile, [
            "VALIDATION input.website",
            "VALIDATION input.keywords.1",
            "VALIDATION input.solutionAreas.0",
        ]),
        (admin, "addProfileLocation", {"name": " ", "country": "us"}, [
            "VALIDATION input.name", "VALIDATION input.country"
        ]),
        (admin, "updateProfileLocation", {"id": "nope", "country": None}, [
            "VALIDATION input.country"
        ]),
        (admin, "updateProfileLocation", {"id": "nope"}, ["VALIDATION input.id"]),
        (other, "removeProfileLocation", {"id": location_id}, ["NOT_FOUND input.id"]),
        (admin, "addLocationContact", {"locationId": location_id, "name": "X", "email": "@"}, [
            "VALIDATION input.email"
        ]),
        (other, "addLocationContact", {"locationId": location_id, "name": "X", "email": "x@x.io"}, [
            "NOT_FOUND input.locationId"
        ]),
        (admin, "updateLocationContact", {"id": contact_id, "alertsOptedOut": None}, [
            "VALIDATION input.alertsOptedOut"
        ]),
        (other, "updateLocationContact", {"id": contact_id, "name": "X"}, ["NOT_FOUND input.id"]),
        (admin, "removeLocationContact", {"id": "nope"}, ["VALIDATION input.id"]),
        (platform, "setProfileMembership", {**membership, "endorsements": ["e" * 201]}, [
            "VALIDATION input.endorsements.0"
        ]),
        (platform, "setProfileMembership", {**membership, "profileId": "nope"}, [
            "VALIDATION input.profileId"
        ]),
    ]  # fmt: skip
    before = await snapshot(session, contoso.id)
    for user, name, value, expected in cases:
        input_type = f"{name[0].upper()}{name[1:]}Input"
        data = await run(user, mutation(name, input_type), {"input": value})
        assert data[name]["profile"] is None, name
        refusals = [f"{e['code']} {'.'.join(e['field'])}" for e in data[name]["errors"]]
        assert refusals == expected, name
    assert await snapshot(session, contoso.id) == before


async def test_graphql_set_profile_membership(
    run: Any, world: World, session: AsyncSession
) -> None:
    contoso = await profile_of(session, world.contoso.organisation_id)
    document = (
        "mutation($input: SetProfileMembershipInput!) { setProfileMembership(input: $input) "
        "{ profile { id competencies endorsements locations { id } } errors { code field } } }"
    )
    variables = {
        "input": {
            "profileId": str(contoso.id),
            "competencies": ["Cloud Platform"],
            "endorsements": ["Partner of the year"],
        }
    }
    refused = await run(world.contoso.partner_admin, document, variables)
    assert refused["setProfileMembership"]["errors"] == [{"code": "FORBIDDEN", "field": None}]
    done = await run(world.platform_admin, document, variables)
    profile = done["setProfileMembership"]["profile"]
    assert profile["competencies"] == ["Cloud Platform"]
    assert profile["endorsements"] == ["Partner of the year"]
    unknown = await run(
        world.platform_admin,
        document,
        {"input": {**variables["input"], "profileId": str(uuid.uuid4())}},
    )
    assert unknown["setProfileMembership"]["errors"] == [
        {"code": "NOT_FOUND", "field": ["input", "profileId"]}
    ]
