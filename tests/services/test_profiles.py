"""Business profiles (R1): the partner admin's profile, locations and alert contacts, publishing,
the platform's membership data, and the search document every change keeps fresh."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.tools import merge_types

from app.config import Settings
from app.db.models import BusinessProfile, LocationContact, ProfileLocation
from app.domain.reference import CompanySize
from app.graphql.context import Context
from app.graphql.mutations import Mutation
from app.graphql.profiles import ProfileMutation, ProfileQuery
from app.graphql.queries import Query
from app.services import profiles
from app.services.auth import Actor, load_actor
from app.services.errors import ErrorCode, Refused
from tests.factories import World, make_partner

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def actor(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    found = await load_actor(session, user_id)
    assert found is not None
    return found


def codes(result: object) -> list[ErrorCode]:
    assert isinstance(result, Refused), result
    return [e.code for e in result.errors]


def fields(result: object) -> list[tuple[str, ...] | None]:
    assert isinstance(result, Refused), result
    return [e.field for e in result.errors]


async def matches(session: AsyncSession, profile_id: uuid.UUID, words: str) -> bool:
    found = await session.scalar(
        select(func.count())
        .select_from(BusinessProfile)
        .where(
            BusinessProfile.id == profile_id,
            BusinessProfile.search_document.op("@@")(func.plainto_tsquery("english", words)),
        )
    )
    return bool(found)


async def profile_of(session: AsyncSession, organisation_id: uuid.UUID) -> BusinessProfile:
    found = await session.scalar(
        select(BusinessProfile).where(BusinessProfile.organisation_id == organisation_id)
    )
    assert found is not None
    return found


async def snapshot(session: AsyncSession, profile_id: uuid.UUID) -> tuple[Any, ...]:
    """Everything a refused mutation must leave as it was."""
    row = (
        await session.execute(
            text(
                "SELECT name, description, website, keywords, industries, solution_areas, "
                "preferred_sizes, competencies, endorsements, published, published_at, "
                "search_document::text FROM business_profiles WHERE id = :id"
            ),
            {"id": profile_id},
        )
    ).one()
    locations = (
        await session.execute(
            text(
                "SELECT l.id, l.name, l.address, l.country, c.id, c.name, c.email, c.phone, "
                "c.alerts_opted_out FROM profile_locations l "
                "LEFT JOIN location_contacts c ON c.location_id = l.id "
                "WHERE l.profile_id = :id ORDER BY l.id, c.id"
            ),
            {"id": profile_id},
        )
    ).all()
    return (tuple(row), tuple(tuple(r) for r in locations))


@pytest.fixture
async def fresh(session: AsyncSession) -> tuple[Actor, uuid.UUID]:
    """A new partner's admin, with no profile yet."""
    partner = await make_partner(session, name="Adatum Consulting")
    return await actor(session, partner.partner_admin), partner.organisation_id


async def publishable(session: AsyncSession, admin: Actor) -> BusinessProfile:
    result = await profiles.update_profile(
        session,
        admin,
        fields={"description": "We migrate workloads to the cloud.", "keywords": ["kubernetes"]},
        now=NOW,
    )
    assert isinstance(result, BusinessProfile), result
    location = await profiles.add_location(
        session, admin, fields={"name": "HQ", "address": "1 Road", "country": "PT"}
    )
    assert isinstance(location, ProfileLocation), location
    contact = await profiles.add_contact(
        session,
        admin,
        str(location.id),
        fields={"name": "Desk", "email": "desk@adatum.example", "phone": "+351 210 000 000"},
    )
    assert isinstance(contact, LocationContact), contact
    return result


# --- profile fields -------------------------------------------------------------------------------


async def test_ensure_profile_creates_it_once_named_after_the_organisation(
    session: AsyncSession, fresh: tuple[Actor, uuid.UUID]
) -> None:
    admin, org_id = fresh
    first = await profiles.ensure_profile(session, admin)
    second = await profiles.ensure_profile(session, admin)
    assert isinstance(first, BusinessProfile) and isinstance(second, BusinessProfile)
    assert first.id == second.id
    assert first.name == "Adatum Consulting" and not first.published
    assert first.organisation_id == org_id
    assert await matches(session, first.id, "adatum")


async def test_update_profile_cleans_and_stores_every_field(
    session: AsyncSession, fresh: tuple[Actor, uuid.UUID]
) -> None:
    admin, _ = fresh
    result = await profiles.update_profile(
        session,
        admin,
        fields={
            "name": "  Adatum Cloud  ",
            "description": "Kubernetes platforms.",
            "website": "https://adatum.example/partners",
            "keywords": [" Azure ", "azure", "AZURE", "cloud migration", "Cloud Migration "],
            "industries": ["Retail", "retail", "Healthcare"],
            "solution_areas": ["Data & AI"],
            "preferred_sizes": [CompanySize.SIZE_251_1000, "SIZE_10_50", CompanySize.SIZE_10_50],
        },
        now=NOW,
    )
    assert isinstance(result, BusinessProfile), result
    assert result.name == "Adatum Cloud"
    assert result.keywords == ["Azure", "cloud migration"]
    assert result.industries == ["Retail", "Healthcare"]
    assert result.solution_areas == ["Data & AI"]
    assert result.preferred_sizes == ["SIZE_10_50", "SIZE_251_1000"]
    assert result.website == "https://adatum.example/partners"
    # Absent fields stay; None clears the optional ones.
    again = await profiles.update_profile(
        session, admin, fields={"website": None, "keywords": ["AI"]}, now=NOW
    )
    assert isinstance(again, BusinessProfile)
    assert again.website is None and again.description == "Kubernetes platforms."
    assert again.keywords == ["AI"] and again.industries == ["Retail", "Healthcare"]


async def test_update_profile_refuses_bad_input_listing_every_problem_and_writes_nothing(
    session: AsyncSession, world: World
) -> None:
    admin = await actor(session, world.contoso.partner_admin)
    profile = await profile_of(session, world.contoso.organisation_id)
    before = await snapshot(session, profile.id)
    result = await profiles.update_profile(
        session,
        admin,
        fields={
            "name": "   ",
            "description": "x" * 5001,
            "website": "ftp://contoso.example",
            "keywords": ["ok", "   ", "k" * 101] + [f"kw{i}" for i in range(51)],
            "industries": [f"i{i}" for i in range(31)],
            "solution_areas": ["bad\x00area"],
            "preferred_sizes": ["SIZE_HUGE"],
        },
        now=NOW,
    )
    assert set(codes(result)) == {ErrorCode.VALIDATION}
    assert set(fields(result)) == {
        ("input", "name"),
        ("input", "description"),
        ("input", "website"),
        ("input", "keywords", "1"),
        ("input", "keywords", "2"),
        ("input", "keywords"),
        ("input", "industries"),
        ("input", "solutionAreas", "0"),
        ("input", "preferredSizes", "0"),
    }
    assert await snapshot(session, profile.id) == before


@pytest.mark.parametrize(
    "website",
    [
        "contoso.example",
        "https://",
        "http://exa mple.com",
        "javascript:alert(1)",
        "https://x:99999",
    ],
)
async def test_website_must_be_an_http_url(
    session: AsyncSession, world: World, website: str
) -> None:
    admin = await actor(session, world.contoso.partner_admin)
    result = await profiles.update_profile(session, admin, fields={"website": website}, now=NOW)
    assert fields(result) == [("input", "website")]


async def test_fifty_keywords_after_deduplication_are_allowed(
    session: AsyncSession, world: World
) -> None:
    admin = await actor(session, world.contoso.partner_admin)
    many = [f"kw{i}" for i in range(50)] + ["KW0", "kw1"]
    result = await profiles.update_profile(session, admin, fields={"keywords": many}, now=NOW)
    assert isinstance(result, BusinessProfile) and len(result.keywords) == 50


async def test_unknown_field_is_a_bug_not_a_refusal(session: AsyncSession, world: World) -> None:
    admin = await actor(session, world.contoso.partner_admin)
    with pytest.raises(ValueError, match="published"):
        await profiles.update_profile(session, admin, fields={"published": True}, now=NOW)


# --- search document ------------------------------------------------------------------------------


async def test_search_document_follows_every_change(session: AsyncSession, world: World) -> None:
    admin = await actor(session, world.contoso.partner_admin)
    profile = await profile_of(session, world.contoso.organisation_id)
    assert await matches(session, profile.id, "cloud migration")
    assert await matches(session, profile.id, "azure")
    assert not await matches(session, profile.id, "kubernetes")

    await profiles.update_profile(
        session, admin, fields={"keywords": ["kubernetes", "security"]}, now=NOW
    )
    assert await matches(session, profile.id, "kubernetes")
    # A removed keyword stops matching at once.
    await profiles.update_profile(session, admin, fields={"keywords": ["security"]}, now=NOW)
    assert not await matches(session, profile.id, "kubernetes")

    await profiles.update_profile(
        session, admin, fields={"description": "Quantum widgets"}, now=NOW
    )
    assert await matches(session, profile.id, "quantum")
    await profiles.update_profile(session, admin, fields={"name": "Zebra Partners"}, now=NOW)
    assert await matches(session, profile.id, "zebra")
    assert not await matches(session, profile.id, "contoso")


async def test_search_document_weights_name_keywords_description_competencies(
    session: AsyncSession, world: World
) -> None:
    platform = await actor(session, world.platform_admin)
    admin = await actor(session, world.contoso.partner_admin)
    profile = await profile_of(session, world.contoso.organisation_id)
    await profiles.update_profile(
        session,
        admin,
        fields={
            "name": "Alpha",
            "keywords": ["bravo"],
            "solution_areas": ["charlie"],
            "industries": ["delta"],
            "description": "echo",
        },
        now=NOW,
    )
    await profiles.set_membership(session, platform, str(profile.id), ["foxtrot"], [])
    document = await session.scalar(
        text("SELECT search_document::text FROM business_profiles WHERE id = :id"),
        {"id": profile.id},
    )
    assert document == "'alpha':1A 'bravo':2B 'charli':3B 'delta':4B 'echo':5C 'foxtrot':6"


async def test_demo_partners_are_searchable_by_their_expertise(
    session: AsyncSession, world: World
) -> None:
    expected = {
        world.contoso.organisation_id: ["cloud migration", "azure", "security"],
        world.fabrikam.organisation_id: ["data", "ai", "analytics"],
        world.northwind.organisation_id: ["modern work", "teams", "sharepoint"],
    }
    for org_id, words in expected.items():
        profile = await profile_of(session, org_id)
        assert profile.published and profile.description and profile.website
        for word in words:
            assert await matches(session, profile.id, word), (profile.name, word)
    fabrikam = await profile_of(session, world.fabrikam.organisation_id)
    assert fabrikam.preferred_sizes and CompanySize.SIZE_1_9.value not in fabrikam.preferred_sizes
    assert fabrikam.competencies and fabrikam.endorsements


# --- who may change a profile ---------------------------------------------------------------------


async def test_only_partner_admins_change_profiles(session: AsyncSession, world: World) -> None:
    profile = await profile_of(session, world.contoso.organisation_id)
    location_id = str(
        await session.scalar(
            select(ProfileLocation.id).where(ProfileLocation.profile_id == profile.id)
        )
    )
    contact_id = str(
        await session.scalar(
            select(LocationContact.id).where(LocationContact.location_id == uuid.UUID(location_id))
        )
    )
    before = await snapshot(session, profile.id)
    calls = [
        lambda a: profiles.ensure_profile(session, a),
        lambda a: profiles.update_profile(session, a, fields={"keywords": ["x"]}, now=NOW),
        lambda a: profiles.publish_profile(session, a, now=NOW),
        lambda a: profiles.unpublish_profile(session, a, now=NOW),
        lambda a: profiles.add_location(session, a, fields={"name": "B", "country": "US"}),
        lambda a: profiles.update_location(session, a, location_id, fields={"name": "B"}),
        lambda a: profiles.remove_location(session, a, location_id),
        lambda a: profiles.add_contact(
            session, a, location_id, fields={"name": "N", "email": "n@x.example"}
        ),
        lambda a: profiles.update_contact(session, a, contact_id, fields={"name": "N"}),
        lambda a: profiles.remove_contact(session, a, contact_id),
    ]
    referrals = await actor(session, world.contoso.referrals_admin)
    member = await actor(session, world.contoso.member)
    platform = await actor(session, world.platform_admin)
    for call in calls:
        assert codes(await call(None)) == [ErrorCode.UNAUTHENTICATED]
        for who in (referrals, member, platform):
            assert codes(await call(who)) == [ErrorCode.FORBIDDEN]
    assert await snapshot(session, profile.id) == before


async def test_another_partners_locations_and_contacts_do_not_exist(
    session: AsyncSession, world: World
) -> None:
    contoso = await profile_of(session, world.contoso.organisation_id)
    location_id = await session.scalar(
        select(ProfileLocation.id).where(ProfileLocation.profile_id == contoso.id)
    )
    contact_id = await session.scalar(
        select(LocationContact.id).where(LocationContact.location_id == location_id)
    )
    before = await snapshot(session, contoso.id)
    fabrikam = await actor(session, world.fabrikam.partner_admin)
    results = [
        await profiles.update_location(session, fabrikam, str(location_id), fields={"name": "X"}),
        await profiles.remove_location(session, fabrikam, str(location_id)),
        await profiles.add_contact(
            session, fabrikam, str(location_id), fields={"name": "X", "email": "x@x.example"}
        ),
        await profiles.update_contact(
            session, fabrikam, str(contact_id), fields={"alerts_opted_out": True}
        ),
        await profiles.remove_contact(session, fabrikam, str(contact_id)),
    ]
    for result in results:
        assert codes(result) == [ErrorCode.NOT_FOUND]
    assert fields(results[2]) == [("input", "locationId")]
    assert fields(results[0]) == [("input", "id")]
    # Fabrikam's own profile changes only fabrikam's row.
    await profiles.update_profile(session, fabrikam, fields={"keywords": ["hijack"]}, now=NOW)
    assert await snapshot(session, contoso.id) == before

    # A partner without a profile has no locations either; a malformed id is VALIDATION.
    admin = await actor(session, (await make_partner(session)).partner_admin)
    assert codes(await profiles.remove_location(session, admin, str(location_id))) == [
        ErrorCode.NOT_FOUND
    ]
    assert codes(await profiles.remove_contact(session, admin, str(contact_id))) == [
        ErrorCode.NOT_FOUND
    ]
    assert codes(await profiles.remove_contact(session, admin, "nope")) == [ErrorCode.VALIDATION]


# --- publishing -----------------------------------------------------------------------------------


async def test_publish_lists_every_missing_part(
    session: AsyncSession, fresh: tuple[Actor, uuid.UUID]
) -> None:
    admin, _ = fresh
    assert codes(await profiles.publish_profile(session, admin, now=NOW)) == [ErrorCode.NOT_FOUND]
    created = await profiles.ensure_profile(session, admin)
    assert isinstance(created, BusinessProfile)
    result = await profiles.publish_profile(session, admin, now=NOW)
    assert set(codes(result)) == {ErrorCode.VALIDATION}
    assert fields(result) == [
        ("profile", "description"),
        ("profile", "keywords"),
        ("profile", "locations"),
    ]
    location = await profiles.add_location(session, admin, fields={"name": "HQ", "country": "PT"})
    assert isinstance(location, ProfileLocation)
    await profiles.add_contact(
        session,
        admin,
        str(location.id),
        fields={"name": "Gone", "email": "gone@adatum.example", "alerts_opted_out": True},
    )
    result = await profiles.publish_profile(session, admin, now=NOW)
    assert fields(result)[-1] == ("profile", "locations", "contacts")
    assert isinstance(result, Refused) and "opted out" in result.errors[-1].message
    row = await profile_of(session, created.organisation_id)
    assert not row.published


async def test_publish_and_unpublish(session: AsyncSession, fresh: tuple[Actor, uuid.UUID]) -> None:
    admin, _ = fresh
    await publishable(session, admin)
    published = await profiles.publish_profile(session, admin, now=NOW)
    assert isinstance(published, BusinessProfile), published
    assert published.published and published.published_at == NOW
    # Publishing again keeps the original date.
    again = await profiles.publish_profile(session, admin, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert isinstance(again, BusinessProfile) and again.published_at == NOW

    hidden = await profiles.unpublish_profile(session, admin, now=NOW)
    assert isinstance(hidden, BusinessProfile)
    assert not hidden.published and hidden.published_at is None


async def test_removing_the_last_alert_contact_keeps_it_published_but_blocks_republishing(
    session: AsyncSession, fresh: tuple[Actor, uuid.UUID]
) -> None:
    admin, _ = fresh
    profile = await publishable(session, admin)
    assert isinstance(await profiles.publish_profile(session, admin, now=NOW), BusinessProfile)
    contact_id = await session.scalar(
        select(LocationContact.id)
        .join(ProfileLocation, ProfileLocation.id == LocationContact.location_id)
        .where(ProfileLocation.profile_id == profile.id)
    )
    opted = await profiles.update_contact(
        session, admin, str(contact_id), fields={"alerts_opted_out": True}
    )
    assert isinstance(opted, LocationContact) and opted.alerts_opted_out
    assert (await profile_of(session, profile.organisation_id)).published
    await profiles.unpublish_profile(session, admin, now=NOW)
    assert fields(await profiles.publish_profile(session, admin, now=NOW)) == [
        ("profile", "locations", "contacts")
    ]


# --- locations and contacts -----------------------------------------------------------------------


async def test_locations_add_update_remove(
    session: AsyncSession, fresh: tuple[Actor, uuid.UUID]
) -> None:
    admin, _ = fresh
    location = await profiles.add_location(
        session, admin, fields={"name": " Lisbon ", "address": "Av. 1", "country": "PT"}
    )
    assert isinstance(location, ProfileLocation), location
    assert (location.name, location.address, location.country) == ("Lisbon", "Av. 1", "PT")
    # The profile was created for it.
    profile = await profiles.get_own_profile(session, admin)
    assert profile is not None and location.profile_id == profile.id

    updated = await profiles.update_location(
        session, admin, str(location.id), fields={"country": "ES", "address": None}
    )
    assert isinstance(updated, ProfileLocation)
    assert (updated.name, updated.address, updated.country) == ("Lisbon", None, "ES")

    contact = await profiles.add_contact(
        session, admin, str(location.id), fields={"name": "Desk", "email": "desk@x.example"}
    )
    assert isinstance(contact, LocationContact)
    removed = await profiles.remove_location(session, admin, str(location.id))
    assert isinstance(removed, ProfileLocation) and removed.id == location.id
    assert (
        await session.scalar(
            select(func.count())
            .select_from(ProfileLocation)
            .where(ProfileLocation.id == location.id)
        )
        == 0
    )
    # Its contacts went with it.
    assert await session.get(LocationContact, contact.id, populate_existing=True) is None
    assert codes(await profiles.remove_location(session, admin, str(location.id))) == [
        ErrorCode.NOT_FOUND
    ]


@pytest.mark.parametrize(
    ("given", "bad"),
    [
        ({"name": "", "country": "US"}, [("input", "name")]),
        ({"name": "HQ", "country": "us"}, [("input", "country")]),
        ({"name": "HQ", "country": "USA"}, [("input", "country")]),
        ({"name": "HQ", "country": "1A"}, [("input", "country")]),
        ({"name": "HQ"}, [("input", "country")]),
        ({"name": "HQ", "country": "US", "address": "a" * 501}, [("input", "address")]),
    ],
)
async def test_location_input_is_validated(
    session: AsyncSession, world: World, given: dict[str, Any], bad: list[tuple[str, ...]]
) -> None:
    admin = await actor(session, world.contoso.partner_admin)
    profile = await profile_of(session, world.contoso.organisation_id)
    before = await snapshot(session, profile.id)
    result = await profiles.add_location(session, admin, fields=given)
    assert codes(result) == [ErrorCode.VALIDATION] * len(bad) and fields(result) == bad
    assert await snapshot(session, profile.id) == before


async def test_contacts_add_update_remove_and_validate(session: AsyncSession, world: World) -> None:
    admin = await actor(session, world.contoso.partner_admin)
    profile = await profile_of(session, world.contoso.organisation_id)
    location_id = str(
        await session.scalar(
            select(ProfileLocation.id).where(ProfileLocation.profile_id == profile.id)
        )
    )
    before = await snapshot(session, profile.id)
    bad = await profiles.add_contact(
        session,
        admin,
        location_id,
        fields={"name": " ", "email": "not-an-email", "phone": "call me"},
    )
    assert set(codes(bad)) == {ErrorCode.VALIDATION}
    assert fields(bad) == [("input", "name"), ("input", "email"), ("input", "phone")]
    assert await snapshot(session, profile.id) == before

    contact = await profiles.add_contact(
        session,
        admin,
        location_id,
        fields={"name": "Night desk", "email": "Night@Contoso.example", "phone": "+1 555 0199"},
    )
    assert isinstance(contact, LocationContact), contact
    assert contact.email == "Night@contoso.example" and not contact.alerts_opted_out

    bad_update = await profiles.update_contact(
        session, admin, str(contact.id), fields={"email": None}
    )
    assert fields(bad_update) == [("input", "email")]
    updated = await profiles.update_contact(
        session, admin, str(contact.id), fields={"phone": None, "alerts_opted_out": True}
    )
    assert isinstance(updated, LocationContact)
    assert updated.phone is None and updated.alerts_opted_out and updated.name == "Night desk"

    removed = await profiles.remove_contact(session, admin, str(contact.id))
    assert isinstance(removed, LocationContact)
    assert codes(await profiles.update_contact(session, admin, str(contact.id), fields={})) == [
        ErrorCode.NOT_FOUND
    ]


# --- membership -----------------------------------------------------------------------------------


async def test_membership_is_for_platform_admins_only(session: AsyncSession, world: World) -> None:
    profile = await profile_of(session, world.northwind.organisation_id)
    before = await snapshot(session, profile.id)
    for user_id in (
        world.northwind.partner_admin,
        world.northwind.referrals_admin,
        world.seller,
        world.marketer,
    ):
        who = await actor(session, user_id)
        result = await profiles.set_membership(session, who, str(profile.id), ["x"], ["y"])
        assert codes(result) == [ErrorCode.FORBIDDEN]
    anonymous = await profiles.set_membership(session, None, str(profile.id), [], [])
    assert codes(anonymous) == [ErrorCode.UNAUTHENTICATED]
    assert await snapshot(session, profile.id) == before

    platform = await actor(session, world.platform_admin)
    unknown = await profiles.set_membership(session, platform, str(uuid.uuid4()), ["x"], [])
    assert codes(unknown) == [ErrorCode.NOT_FOUND]
    assert codes(await profiles.set_membership(session, platform, "x", [], [])) == [
        ErrorCode.VALIDATION
    ]
    too_many = await profiles.set_membership(
        session, platform, str(profile.id), [f"c{i}" for i in range(31)], ["e" * 201]
    )
    assert fields(too_many) == [("input", "competencies"), ("input", "endorsements", "0")]
    assert await snapshot(session, profile.id) == before

    done = await profiles.set_membership(
        session,
        platform,
        str(profile.id),
        ["Kubernetes Specialist", " "[:0] or "Identity"],
        ["Gold partner", "gold PARTNER"],
    )
    assert isinstance(done, BusinessProfile), done
    assert done.competencies == ["Kubernetes Specialist", "Identity"]
    assert done.endorsements == ["Gold partner"]
    assert await matches(session, profile.id, "kubernetes")


# --- GraphQL --------------------------------------------------------------------------------------

PROFILE_FIELDS = """
  id name published publishedAt description website keywords industries solutionAreas
  preferredSizes competencies endorsements
  locations { id name address country contacts { id name email phone alertsOptedOut } }
"""

schema = strawberry.Schema(
    query=merge_types("Query", (Query, ProfileQuery)),
    mutation=merge_types("Mutation", (Mutation, ProfileMutation)),
)


@pytest.fixture
def run(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], session: AsyncSession
) -> Any:
    async def execute(
        user_id: uuid.UUID | None, document: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        who = await load_actor(session, user_id) if user_id else None
        context = Context(settings=settings, sessionmaker=sessionmaker, actor=who, now=NOW)
        try:
            result = await schema.execute(
                document, variable_values=variables, context_value=context
            )
        finally:
            await context.close()
        assert result.errors is None, result.errors
        assert result.data is not None
        return result.data

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
    location_id = str(
        await session.scalar(
            select(ProfileLocation.id).where(ProfileLocation.profile_id == contoso.id)
        )
    )
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
