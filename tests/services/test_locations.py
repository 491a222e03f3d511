"""A business profile's locations and their alert contacts (R1): adding, changing and removing
them, what is checked, and that another partner's do not exist for the actor."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import LocationContact, ProfileLocation
from app.services import locations, profiles
from app.services.errors import ErrorCode
from tests import profile_probes as probe
from tests.factories import World, make_partner


async def test_another_partners_locations_and_contacts_do_not_exist(
    session: AsyncSession, world: World
) -> None:
    contoso = await probe.profile_of(session, world.contoso.organisation_id)
    location_id = await probe.first_location_id(session, contoso.id)
    contact_id = await probe.first_contact_id(session, location_id)
    before = await probe.snapshot(session, contoso.id)
    fabrikam = await probe.actor(session, world.fabrikam.partner_admin)
    results = [
        await locations.update_location(session, fabrikam, location_id, fields={"name": "X"}),
        await locations.remove_location(session, fabrikam, location_id),
        await locations.add_contact(
            session, fabrikam, location_id, fields={"name": "X", "email": "x@x.example"}
        ),
        await locations.update_contact(
            session, fabrikam, contact_id, fields={"alerts_opted_out": True}
        ),
        await locations.remove_contact(session, fabrikam, contact_id),
    ]
    for result in results:
        assert probe.codes(result) == [ErrorCode.NOT_FOUND]
    assert probe.fields(results[2]) == [("location_id",)]
    assert probe.fields(results[0]) == probe.fields(results[1]) == [("location_id",)]
    assert probe.fields(results[3]) == probe.fields(results[4]) == [("contact_id",)]
    # Fabrikam's own profile changes only fabrikam's row.
    await profiles.update_profile(session, fabrikam, fields={"keywords": ["hijack"]}, now=probe.NOW)
    assert await probe.snapshot(session, contoso.id) == before

    # A partner without a profile has no locations either; a malformed id is VALIDATION.
    admin = await probe.actor(session, (await make_partner(session)).partner_admin)
    assert probe.codes(await locations.remove_location(session, admin, location_id)) == [
        ErrorCode.NOT_FOUND
    ]
    assert probe.codes(await locations.remove_contact(session, admin, contact_id)) == [
        ErrorCode.NOT_FOUND
    ]
    malformed = await locations.remove_contact(session, admin, "nope")
    assert probe.codes(malformed) == [ErrorCode.VALIDATION] and probe.fields(malformed) == [
        ("contact_id",)
    ]


async def test_locations_add_update_remove(
    session: AsyncSession,
) -> None:
    partner = await make_partner(session, name="Adatum Consulting")
    admin = await probe.actor(session, partner.partner_admin)
    location = await locations.add_location(
        session, admin, fields={"name": " Lisbon ", "address": "Av. 1", "country": "PT"}
    )
    assert isinstance(location, ProfileLocation), location
    assert (location.name, location.address, location.country) == ("Lisbon", "Av. 1", "PT")
    # The profile was created for it.
    own = await profiles.get_own_profile(session, admin)
    assert own is not None and location.profile_id == own.profile.id

    updated = await locations.update_location(
        session, admin, str(location.id), fields={"country": "ES", "address": None}
    )
    assert isinstance(updated, ProfileLocation)
    assert (updated.name, updated.address, updated.country) == ("Lisbon", None, "ES")

    contact = await locations.add_contact(
        session, admin, str(location.id), fields={"name": "Desk", "email": "desk@x.example"}
    )
    assert isinstance(contact, LocationContact)
    removed = await locations.remove_location(session, admin, str(location.id))
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
    assert probe.codes(await locations.remove_location(session, admin, str(location.id))) == [
        ErrorCode.NOT_FOUND
    ]


@pytest.mark.parametrize(
    ("given", "bad"),
    [
        ({"name": "", "country": "US"}, [("name",)]),
        ({"name": "HQ", "country": "us"}, [("country",)]),
        ({"name": "HQ", "country": "USA"}, [("country",)]),
        ({"name": "HQ", "country": "1A"}, [("country",)]),
        ({"name": "HQ"}, [("country",)]),
        ({"name": "HQ", "country": "US", "address": "a" * 501}, [("address",)]),
    ],
)
async def test_location_input_is_validated(
    session: AsyncSession, world: World, given: dict[str, Any], bad: list[tuple[str, ...]]
) -> None:
    admin = await probe.actor(session, world.contoso.partner_admin)
    profile = await probe.profile_of(session, world.contoso.organisation_id)
    before = await probe.snapshot(session, profile.id)
    result = await locations.add_location(session, admin, fields=given)
    assert probe.codes(result) == [ErrorCode.VALIDATION] * len(bad) and probe.fields(result) == bad
    assert await probe.snapshot(session, profile.id) == before


async def test_contacts_add_update_remove_and_validate(session: AsyncSession, world: World) -> None:
    admin = await probe.actor(session, world.contoso.partner_admin)
    profile = await probe.profile_of(session, world.contoso.organisation_id)
    location_id = await probe.first_location_id(session, profile.id)
    before = await probe.snapshot(session, profile.id)
    bad = await locations.add_contact(
        session,
        admin,
        location_id,
        fields={"name": " ", "email": "not-an-email", "phone": "call me"},
    )
    assert set(probe.codes(bad)) == {ErrorCode.VALIDATION}
    assert probe.fields(bad) == [("name",), ("email",), ("phone",)]
    assert await probe.snapshot(session, profile.id) == before

    contact = await locations.add_contact(
        session,
        admin,
        location_id,
        fields={"name": "Night desk", "email": "Night@Contoso.example", "phone": "+1 555 0199"},
    )
    assert isinstance(contact, LocationContact), contact
    assert contact.email == "Night@contoso.example" and not contact.alerts_opted_out

    bad_update = await locations.update_contact(
        session, admin, str(contact.id), fields={"email": None}
    )
    assert probe.fields(bad_update) == [("email",)]
    not_a_flag = await locations.update_contact(
        session, admin, str(contact.id), fields={"alerts_opted_out": None}
    )
    assert probe.fields(not_a_flag) == [("alerts_opted_out",)]
    updated = await locations.update_contact(
        session, admin, str(contact.id), fields={"phone": None, "alerts_opted_out": True}
    )
    assert isinstance(updated, LocationContact)
    assert updated.phone is None and updated.alerts_opted_out and updated.name == "Night desk"

    removed = await locations.remove_contact(session, admin, str(contact.id))
    assert isinstance(removed, LocationContact)
    assert probe.codes(
        await locations.update_contact(session, admin, str(contact.id), fields={})
    ) == [ErrorCode.NOT_FOUND]
