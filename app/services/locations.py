"""A business profile's locations and the contacts at each that receive lead alerts (R1),
managed by the partner admin. Every change refreshes the profile's search document, like any
other change to the profile (`app.services.profiles`).

Another organisation's locations and contacts do not exist for the actor: NOT_FOUND, naming the
id argument (`("location_id",)`, `("contact_id",)`). Field refusals name the entry of `fields`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import BusinessProfile, LocationContact, ProfileLocation
from app.domain.validation import MAX_NAME, Checker
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.profiles import (
    own_profile,
    own_profile_created,
    partner_admin,
    profile_changed,
    unknown_fields,
)

MAX_ADDRESS = 500
MAX_LOCATIONS = 50
MAX_CONTACTS_PER_LOCATION = 20

TOO_MANY = Refused.one(
    ErrorCode.VALIDATION, f"a profile can have at most {MAX_LOCATIONS} locations; remove one first"
)
TOO_MANY_HERE = Refused.one(
    ErrorCode.VALIDATION,
    f"a location can have at most {MAX_CONTACTS_PER_LOCATION} contacts; remove one first",
    "location_id",
)

LOCATION_FIELDS = ("name", "address", "country")
CONTACT_FIELDS = ("name", "email", "phone", "alerts_opted_out")

Row = TypeVar("Row", ProfileLocation, LocationContact)


def _location_values(checker: Checker, fields: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in fields:
        values["name"] = checker.text("name", fields["name"], max_len=MAX_NAME, required=True)
    if "address" in fields:
        values["address"] = checker.text("address", fields["address"], max_len=MAX_ADDRESS)
    if "country" in fields:
        values["country"] = checker.country("country", fields["country"], required=True)
    return values


def _contact_values(checker: Checker, fields: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in fields:
        values["name"] = checker.text("name", fields["name"], max_len=MAX_NAME, required=True)
    if "email" in fields:
        values["email"] = checker.email("email", fields["email"], required=True)
    if "phone" in fields:
        values["phone"] = checker.phone("phone", fields["phone"])
    if "alerts_opted_out" in fields:
        opted_out = fields["alerts_opted_out"]
        if opted_out is None:
            checker.fail("alerts_opted_out", "must be true or false")
        else:
            values["alerts_opted_out"] = bool(opted_out)
    return values


@dataclass(frozen=True, slots=True)
class _Part(Generic[Row]):
    """A location or a contact: what changing and removing one needs to know."""

    fields: tuple[str, ...]
    required: tuple[str, ...]  # for a new one
    values: Callable[[Checker, Mapping[str, Any]], dict[str, Any]]
    id_argument: str
    missing: str
    # The row with this id (first) on the profile with this id (second).
    on_profile: Callable[[uuid.UUID, uuid.UUID], Select[Row]]


LOCATION: _Part[ProfileLocation] = _Part(
    fields=LOCATION_FIELDS,
    required=("name", "country"),
    values=_location_values,
    id_argument="location_id",
    missing="no such location",
    on_profile=lambda row_id, profile_id: select(ProfileLocation).where(
        ProfileLocation.id == row_id, ProfileLocation.profile_id == profile_id
    ),
)
CONTACT: _Part[LocationContact] = _Part(
    fields=CONTACT_FIELDS,
    required=("name", "email"),
    values=_contact_values,
    id_argument="contact_id",
    missing="no such contact",
    on_profile=lambda row_id, profile_id: (
        select(LocationContact)
        .join(ProfileLocation, ProfileLocation.id == LocationContact.location_id)
        .where(LocationContact.id == row_id, ProfileLocation.profile_id == profile_id)
    ),
)


async def _own(
    session: AsyncSession, actor: Actor, part: _Part[Row], raw_id: str
) -> tuple[BusinessProfile, Row] | Refused:
    """The row, if it is on the actor's organisation's profile (locked first)."""
    row_id = parse_id(raw_id, part.id_argument)
    if isinstance(row_id, Refused):
        return row_id
    profile = await own_profile(session, actor)
    row = None
    if profile is not None:
        row = (
            await session.execute(
                part.on_profile(row_id, profile.id).execution_options(populate_existing=True)
            )
        ).scalar_one_or_none()
    if profile is None or row is None:
        return Refused.one(ErrorCode.NOT_FOUND, part.missing, part.id_argument)
    return profile, row


def _admin_and_values(
    actor: Actor | None, part: _Part[Row], fields: Mapping[str, Any], *, new: bool
) -> tuple[Actor, dict[str, Any]] | Refused:
    """The partner admin and the cleaned `fields`; for a new one, a required field that is
    absent is refused too."""
    unknown_fields(fields, part.fields)
    admin = partner_admin(actor)
    if isinstance(admin, Refused):
        return admin
    checker = Checker()
    values = part.values(checker, {**dict.fromkeys(part.required), **fields} if new else fields)
    if checker.problems:
        return Refused.invalid(checker.problems)
    return admin, values


async def _full(
    session: AsyncSession, parent: Any, parent_id: uuid.UUID, limit: int, refusal: Refused
) -> Refused | None:
    """`refusal` if the parent (`parent`: the children's column that names it) has `limit`
    children already."""
    count = await session.scalar(select(func.count()).where(parent == parent_id)) or 0
    return refusal if count >= limit else None


async def _added(session: AsyncSession, profile: BusinessProfile, row: Row) -> Row:
    session.add(row)
    await profile_changed(session, profile)
    return row


async def _update(
    session: AsyncSession,
    actor: Actor | None,
    part: _Part[Row],
    raw_id: str,
    fields: Mapping[str, Any],
) -> Row | Refused:
    checked = _admin_and_values(actor, part, fields, new=False)
    if isinstance(checked, Refused):
        return checked
    admin, values = checked
    found = await _own(session, admin, part, raw_id)
    if isinstance(found, Refused):
        return found
    profile, row = found
    for key, value in values.items():
        setattr(row, key, value)
    await profile_changed(session, profile)
    return row


async def _remove(
    session: AsyncSession, actor: Actor | None, part: _Part[Row], raw_id: str
) -> Row | Refused:
    admin = partner_admin(actor)
    if isinstance(admin, Refused):
        return admin
    found = await _own(session, admin, part, raw_id)
    if isinstance(found, Refused):
        return found
    profile, row = found
    # Core delete: the database cascades from a location to its contacts.
    model = type(row)
    await session.execute(
        delete(model).where(model.id == row.id).execution_options(synchronize_session=False)
    )
    session.expunge(row)
    await profile_changed(session, profile)
    return row


# --- locations ------------------------------------------------------------------------------------


async def add_location(
    session: AsyncSession, actor: Actor | None, *, fields: Mapping[str, Any]
) -> ProfileLocation | Refused:
    """A new location (name and country required) on the organisation's profile, which is
    created if missing."""
    checked = _admin_and_values(actor, LOCATION, fields, new=True)
    if isinstance(checked, Refused):
        return checked
    admin, values = checked
    profile = await own_profile_created(session, admin)
    full = await _full(session, ProfileLocation.profile_id, profile.id, MAX_LOCATIONS, TOO_MANY)
    if full is not None:
        return full
    location = ProfileLocation(id=uuid.uuid4(), profile_id=profile.id, **values)
    return await _added(session, profile, location)


async def update_location(
    session: AsyncSession, actor: Actor | None, location_id: str, *, fields: Mapping[str, Any]
) -> ProfileLocation | Refused:
    """Change the given fields of one of the organisation's locations."""
    return await _update(session, actor, LOCATION, location_id, fields)


async def remove_location(
    session: AsyncSession, actor: Actor | None, location_id: str
) -> ProfileLocation | Refused:
    """Delete one of the organisation's locations and its contacts. A published profile stays
    published (publishing again would require a location with an alert contact)."""
    return await _remove(session, actor, LOCATION, location_id)


# --- contacts -------------------------------------------------------------------------------------


async def add_contact(
    session: AsyncSession,
    actor: Actor | None,
    location_id: str,
    *,
    fields: Mapping[str, Any],
) -> LocationContact | Refused:
    """A new alert contact (name and e-mail required) at one of the organisation's locations."""
    checked = _admin_and_values(actor, CONTACT, fields, new=True)
    if isinstance(checked, Refused):
        return checked
    admin, values = checked
    found = await _own(session, admin, LOCATION, location_id)
    if isinstance(found, Refused):
        return found
    profile, location = found
    limit = MAX_CONTACTS_PER_LOCATION
    full = await _full(session, LocationContact.location_id, location.id, limit, TOO_MANY_HERE)
    if full is not None:
        return full
    values = {"alerts_opted_out": False, **values}
    contact = LocationContact(id=uuid.uuid4(), location_id=location.id, **values)
    return await _added(session, profile, contact)


async def update_contact(
    session: AsyncSession, actor: Actor | None, contact_id: str, *, fields: Mapping[str, Any]
) -> LocationContact | Refused:
    """Change the given fields of a contact, e.g. opt it out of alerts."""
    return await _update(session, actor, CONTACT, contact_id, fields)


async def remove_contact(
    session: AsyncSession, actor: Actor | None, contact_id: str
) -> LocationContact | Refused:
    """Delete a contact. Allowed even if it was a published profile's last alert contact."""
    return await _remove(session, actor, CONTACT, contact_id)
