"""Business profiles (R1): the partner admin's profile fields and publishing, who may change a
profile, the platform's membership data, and the search document every change keeps fresh.
Locations and contacts: test_locations.py; over GraphQL: tests/graphql/test_profiles.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BusinessProfile, LocationContact, ProfileLocation
from app.domain.reference import CompanySize
from app.services import locations, profiles
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused
from tests.factories import World, make_partner
from tests.profile_probes import (
    NOW,
    actor,
    codes,
    fields,
    first_contact_id,
    first_location_id,
    matches,
    profile_of,
    publishable,
    snapshot,
)


@pytest.fixture
async def fresh(session: AsyncSession) -> tuple[Actor, uuid.UUID]:
    """A new partner's admin, with no profile yet."""
    partner = await make_partner(session, name="Adatum Consulting")
    return await actor(session, partner.partner_admin), partner.organisation_id


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
        ("name",),
        ("description",),
        ("website",),
        ("keywords", "1"),
        ("keywords", "2"),
        ("keywords",),
        ("industries",),
        ("solution_areas", "0"),
        ("preferred_sizes", "0"),
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
    assert fields(result) == [("website",)]


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
    location_id = await first_location_id(session, profile.id)
    contact_id = await first_contact_id(session, location_id)
    before = await snapshot(session, profile.id)
    calls = [
        lambda a: profiles.ensure_profile(session, a),
        lambda a: profiles.update_profile(session, a, fields={"keywords": ["x"]}, now=NOW),
        lambda a: profiles.publish_profile(session, a, now=NOW),
        lambda a: profiles.unpublish_profile(session, a, now=NOW),
        lambda a: locations.add_location(session, a, fields={"name": "B", "country": "US"}),
        lambda a: locations.update_location(session, a, location_id, fields={"name": "B"}),
        lambda a: locations.remove_location(session, a, location_id),
        lambda a: locations.add_contact(
            session, a, location_id, fields={"name": "N", "email": "n@x.example"}
        ),
        lambda a: locations.update_contact(session, a, contact_id, fields={"name": "N"}),
        lambda a: locations.remove_contact(session, a, contact_id),
    ]
    referrals = await actor(session, world.contoso.referrals_admin)
    member = await actor(session, world.contoso.member)
    platform = await actor(session, world.platform_admin)
    for call in calls:
        assert codes(await call(None)) == [ErrorCode.UNAUTHENTICATED]
        for who in (referrals, member, platform):
            assert codes(await call(who)) == [ErrorCode.FORBIDDEN]
    assert await snapshot(session, profile.id) == before


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
    location = await locations.add_location(session, admin, fields={"name": "HQ", "country": "PT"})
    assert isinstance(location, ProfileLocation)
    await locations.add_contact(
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
    opted = await locations.update_contact(
        session, admin, str(contact_id), fields={"alerts_opted_out": True}
    )
    assert isinstance(opted, LocationContact) and opted.alerts_opted_out
    assert (await profile_of(session, profile.organisation_id)).published
    await profiles.unpublish_profile(session, admin, now=NOW)
    assert fields(await profiles.publish_profile(session, admin, now=NOW)) == [
        ("profile", "locations", "contacts")
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
    assert codes(unknown) == [ErrorCode.NOT_FOUND] and fields(unknown) == [("profile_id",)]
    malformed = await profiles.set_membership(session, platform, "x", [], [])
    assert codes(malformed) == [ErrorCode.VALIDATION] and fields(malformed) == [("profile_id",)]
    too_many = await profiles.set_membership(
        session, platform, str(profile.id), [f"c{i}" for i in range(31)], ["e" * 201]
    )
    assert fields(too_many) == [("competencies",), ("endorsements", "0")]
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
