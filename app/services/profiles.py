"""Business profiles (R1): a partner admin manages the organisation's profile, its locations and
the contacts that receive lead alerts, and publishes it; the platform admin maintains membership
data (competencies, endorsements).

Services take (session, actor, ...) and return rows or `Refused`; they flush, never commit.
Every change refreshes the profile's `search_document` in the same transaction, so search never
sees a keyword that was removed (or misses one that was added).

Error field paths use the GraphQL input names (`("input", "solutionAreas", "2")`). Publishing has
no input: what is missing is reported under `("profile", ...)`.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, literal, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    BusinessProfile,
    LocationContact,
    Organisation,
    ProfileLocation,
)
from app.domain.reference import CompanySize
from app.domain.roles import Role
from app.domain.validation import MAX_NAME, Checker
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, UserError, parse_id

MAX_DESCRIPTION = 5000
MAX_WEBSITE = 500
MAX_ADDRESS = 500
MAX_TERM = 100  # one keyword, industry, solution area or competency
MAX_ENDORSEMENT = 200
MAX_KEYWORDS = 50
MAX_TERMS = 30  # industries, solution areas, competencies, endorsements
MAX_LOCATIONS = 50
MAX_CONTACTS_PER_LOCATION = 20
COUNTRY = re.compile(r"^[A-Z]{2}$")

# What `update_profile` accepts, with the GraphQL name its errors are reported under.
PROFILE_FIELDS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "website": "website",
    "keywords": "keywords",
    "industries": "industries",
    "solution_areas": "solutionAreas",
    "preferred_sizes": "preferredSizes",
}
LOCATION_FIELDS = ("name", "address", "country")
CONTACT_FIELDS = ("name", "email", "phone", "alerts_opted_out")
_SIZE_ORDER = {size.value: i for i, size in enumerate(CompanySize)}


# --- search document ------------------------------------------------------------------------------


def _words(column: Any) -> Any:
    return func.array_to_string(column, " ")


def search_document_expression() -> Any:
    """Name (A); keywords, solution areas and industries (B); description (C); competencies
    (D), all with the English configuration that search queries use."""
    p = BusinessProfile

    def vector(value: Any, weight: str) -> Any:
        return func.setweight(func.to_tsvector("english", value), literal_column(f"'{weight}'"))

    return (
        vector(p.name, "A")
        .op("||")(
            vector(
                _words(p.keywords)
                + literal(" ")
                + _words(p.solution_areas)
                + literal(" ")
                + _words(p.industries),
                "B",
            )
        )
        .op("||")(vector(func.coalesce(p.description, ""), "C"))
        .op("||")(vector(_words(p.competencies), "D"))
    )


async def refresh_search_document(session: AsyncSession, profile_id: uuid.UUID) -> None:
    """Recompute one profile's search document from its current columns (pending ORM changes
    are flushed first)."""
    await session.flush()
    await session.execute(
        update(BusinessProfile)
        .where(BusinessProfile.id == profile_id)
        .values(search_document=search_document_expression(), updated_at=func.now())
        .execution_options(synchronize_session=False)
    )


# --- who may do what ------------------------------------------------------------------------------


def _refuse_unless_partner_admin(actor: Actor | None) -> Refused | None:
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to manage the business profile")
    if actor.organisation_kind != "PARTNER" or not actor.has(Role.PARTNER_ADMIN):
        return Refused.one(ErrorCode.FORBIDDEN, "only partner admins manage the business profile")
    return None


async def _own_profile(
    session: AsyncSession, actor: Actor, *, lock: bool = True
) -> BusinessProfile | None:
    query = select(BusinessProfile).where(BusinessProfile.organisation_id == actor.organisation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def _create_if_missing(session: AsyncSession, actor: Actor) -> BusinessProfile:
    """The organisation's profile, locked; created (named after the organisation) if missing.
    Two concurrent first calls create one row: the loser's insert does nothing."""
    org_name = await session.scalar(
        select(Organisation.name).where(Organisation.id == actor.organisation_id)
    )
    await session.execute(
        insert(BusinessProfile)
        .values(
            id=uuid.uuid4(),
            organisation_id=actor.organisation_id,
            name=(org_name or "Partner")[:MAX_NAME],
        )
        .on_conflict_do_nothing(index_elements=[BusinessProfile.organisation_id])
    )
    profile = await _own_profile(session, actor)
    assert profile is not None
    return profile


async def _changed(session: AsyncSession, profile: BusinessProfile) -> BusinessProfile:
    """Flush, refresh the search document, and reload the row as the database has it."""
    await refresh_search_document(session, profile.id)
    await session.refresh(profile)
    return profile


async def get_own_profile(session: AsyncSession, actor: Actor | None) -> BusinessProfile | None:
    """The caller's organisation's profile, if any (any role of the organisation may read it)."""
    if actor is None:
        return None
    return await _own_profile(session, actor, lock=False)


# --- input rules ----------------------------------------------------------------------------------


def _clean_terms(
    checker: Checker,
    field: str,
    values: Iterable[str] | None,
    *,
    max_items: int,
    max_len: int = MAX_TERM,
) -> list[str]:
    """Trimmed, each 1..max_len characters, duplicates (ignoring case) dropped keeping the first
    spelling, at most `max_items` of them."""
    chosen: list[str] = []
    seen: set[str] = set()
    for index, raw in enumerate(values or []):
        path = (field, str(index))
        value = (raw or "").strip()
        if not value:
            checker.fail(path, f"must be 1 to {max_len} characters")
            continue
        cleaned = checker.text(path, value, max_len=max_len)
        if cleaned is None:
            continue
        key = cleaned.casefold()
        if key not in seen:
            seen.add(key)
            chosen.append(cleaned)
    if len(chosen) > max_items:
        checker.fail(field, f"at most {max_items} are allowed (got {len(chosen)})")
    return chosen


def _clean_website(checker: Checker, raw: str | None) -> str | None:
    url = checker.text("website", raw, max_len=MAX_WEBSITE)
    if url is None:
        return None
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in url):
        checker.fail("website", "must not contain spaces or control characters")
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        checker.fail("website", "is not a valid URL")
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        checker.fail("website", "must be an http:// or https:// URL with a host")
        return None
    return url


def _clean_sizes(checker: Checker, values: Iterable[Any] | None) -> list[str]:
    chosen: set[str] = set()
    for index, raw in enumerate(values or []):
        value = raw.value if isinstance(raw, CompanySize) else str(raw)
        if value not in _SIZE_ORDER:
            checker.fail(("preferredSizes", str(index)), f"'{raw}' is not a company size band")
        else:
            chosen.add(value)
    return sorted(chosen, key=_SIZE_ORDER.__getitem__)


def _clean_country(checker: Checker, raw: str | None) -> str | None:
    value = checker.text("country", raw, max_len=MAX_TERM, required=True)
    if value is None:
        return None
    if not COUNTRY.match(value):
        checker.fail("country", "must be an ISO 3166-1 alpha-2 code in capitals, e.g. US")
        return None
    return value


def _unknown(fields: Mapping[str, Any], allowed: Iterable[str]) -> None:
    extra = set(fields) - set(allowed)
    if extra:
        raise ValueError(f"unknown fields: {', '.join(sorted(extra))}")


# --- the profile ----------------------------------------------------------------------------------


async def ensure_profile(session: AsyncSession, actor: Actor | None) -> BusinessProfile | Refused:
    """The organisation's profile, created unpublished and named after the organisation if it
    has none yet."""
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    existing = await _own_profile(session, actor)
    if existing is not None:
        return existing
    return await _changed(session, await _create_if_missing(session, actor))


async def update_profile(
    session: AsyncSession,
    actor: Actor | None,
    *,
    fields: Mapping[str, Any],
    now: datetime | None = None,
) -> BusinessProfile | Refused:
    """Change the given fields (keys of `PROFILE_FIELDS`; absent keys stay as they are, None
    clears description and website). Creates the profile if the organisation has none."""
    _unknown(fields, PROFILE_FIELDS)
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker("input")
    values: dict[str, Any] = {}
    if "name" in fields:
        values["name"] = checker.text("name", fields["name"], max_len=MAX_NAME, required=True)
    if "description" in fields:
        values["description"] = checker.text(
            "description", fields["description"], max_len=MAX_DESCRIPTION
        )
    if "website" in fields:
        values["website"] = _clean_website(checker, fields["website"])
    if "keywords" in fields:
        values["keywords"] = _clean_terms(
            checker, "keywords", fields["keywords"], max_items=MAX_KEYWORDS
        )
    for key in ("industries", "solution_areas"):
        if key in fields:
            values[key] = _clean_terms(
                checker, PROFILE_FIELDS[key], fields[key], max_items=MAX_TERMS
            )
    if "preferred_sizes" in fields:
        values["preferred_sizes"] = _clean_sizes(checker, fields["preferred_sizes"])
    if checker.problems:
        return Refused.invalid(checker.problems)
    profile = await _create_if_missing(session, actor)
    for key, value in values.items():
        setattr(profile, key, value)
    return await _changed(session, profile)


@dataclass(frozen=True, slots=True)
class _Missing:
    field: tuple[str, ...]
    message: str


async def _publish_problems(session: AsyncSession, profile: BusinessProfile) -> list[_Missing]:
    missing: list[_Missing] = []
    if not (profile.name or "").strip():
        missing.append(_Missing(("profile", "name"), "a name is required to publish"))
    if not (profile.description or "").strip():
        missing.append(_Missing(("profile", "description"), "a description is required to publish"))
    if not profile.keywords:
        missing.append(
            _Missing(("profile", "keywords"), "at least one expertise keyword is required")
        )
    rows = (
        await session.execute(
            select(ProfileLocation.id, func.count(LocationContact.id))
            .outerjoin(
                LocationContact,
                (LocationContact.location_id == ProfileLocation.id)
                & LocationContact.alerts_opted_out.is_(False),
            )
            .where(ProfileLocation.profile_id == profile.id)
            .group_by(ProfileLocation.id)
        )
    ).all()
    if not rows:
        missing.append(_Missing(("profile", "locations"), "at least one location is required"))
    elif not any(count for _, count in rows):
        missing.append(
            _Missing(
                ("profile", "locations", "contacts"),
                "at least one location needs a contact who receives lead alerts (not opted out)",
            )
        )
    return missing


async def publish_profile(
    session: AsyncSession, actor: Actor | None, *, now: datetime
) -> BusinessProfile | Refused:
    """Make the profile visible to customers and able to receive leads. Refused (VALIDATION,
    listing every missing part) unless it has a name, a description, a keyword and a location
    with a contact that receives alerts. Publishing a published profile keeps its date."""
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    profile = await _own_profile(session, actor)
    if profile is None:
        return Refused.one(
            ErrorCode.NOT_FOUND, "your organisation has no business profile yet", "profile"
        )
    missing = await _publish_problems(session, profile)
    if missing:
        return Refused(
            [
                UserError(ErrorCode.VALIDATION, f"cannot publish: {m.message}", m.field)
                for m in missing
            ]
        )
    if not profile.published:
        profile.published = True
        profile.published_at = now
    return await _changed(session, profile)


async def unpublish_profile(
    session: AsyncSession, actor: Actor | None, *, now: datetime | None = None
) -> BusinessProfile | Refused:
    """Hide the profile from customers; it receives no new leads until published again."""
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    profile = await _own_profile(session, actor)
    if profile is None:
        return Refused.one(
            ErrorCode.NOT_FOUND, "your organisation has no business profile yet", "profile"
        )
    profile.published = False
    profile.published_at = None
    return await _changed(session, profile)


# --- locations ------------------------------------------------------------------------------------


def _location_values(checker: Checker, fields: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "name" in fields:
        values["name"] = checker.text("name", fields["name"], max_len=MAX_NAME, required=True)
    if "address" in fields:
        values["address"] = checker.text("address", fields["address"], max_len=MAX_ADDRESS)
    if "country" in fields:
        values["country"] = _clean_country(checker, fields["country"])
    return values


async def _own_location(
    session: AsyncSession, actor: Actor, raw_id: str, *fieldpath: str
) -> tuple[BusinessProfile, ProfileLocation] | Refused:
    """The location, if it belongs to the actor's organisation's profile (locked first);
    another organisation's locations do not exist for the actor."""
    location_id = parse_id(raw_id, *fieldpath)
    if isinstance(location_id, Refused):
        return location_id
    profile = await _own_profile(session, actor)
    if profile is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such location", *fieldpath)
    location = (
        await session.execute(
            select(ProfileLocation)
            .where(ProfileLocation.id == location_id, ProfileLocation.profile_id == profile.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if location is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such location", *fieldpath)
    return profile, location


async def add_location(
    session: AsyncSession, actor: Actor | None, *, fields: Mapping[str, Any]
) -> ProfileLocation | Refused:
    """A new location (name and country required) on the organisation's profile, which is
    created if missing."""
    _unknown(fields, LOCATION_FIELDS)
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker("input")
    values = _location_values(checker, {"name": None, "country": None, **fields})
    if checker.problems:
        return Refused.invalid(checker.problems)
    profile = await _create_if_missing(session, actor)
    count = await session.scalar(
        select(func.count())
        .select_from(ProfileLocation)
        .where(ProfileLocation.profile_id == profile.id)
    )
    if (count or 0) >= MAX_LOCATIONS:
        return Refused.one(
            ErrorCode.VALIDATION,
            f"a profile can have at most {MAX_LOCATIONS} locations; remove one first",
        )
    location = ProfileLocation(id=uuid.uuid4(), profile_id=profile.id, **values)
    session.add(location)
    await _changed(session, profile)
    return location


async def update_location(
    session: AsyncSession, actor: Actor | None, location_id: str, *, fields: Mapping[str, Any]
) -> ProfileLocation | Refused:
    """Change the given fields of one of the organisation's locations."""
    _unknown(fields, LOCATION_FIELDS)
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker("input")
    values = _location_values(checker, fields)
    if checker.problems:
        return Refused.invalid(checker.problems)
    found = await _own_location(session, actor, location_id, "input", "id")
    if isinstance(found, Refused):
        return found
    profile, location = found
    for key, value in values.items():
        setattr(location, key, value)
    await _changed(session, profile)
    return location


async def remove_location(
    session: AsyncSession, actor: Actor | None, location_id: str
) -> ProfileLocation | Refused:
    """Delete one of the organisation's locations and its contacts. A published profile stays
    published (publishing again would require a location with an alert contact)."""
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    found = await _own_location(session, actor, location_id, "input", "id")
    if isinstance(found, Refused):
        return found
    profile, location = found
    # Core delete: the database cascades to the contacts.
    await session.execute(
        delete(ProfileLocation)
        .where(ProfileLocation.id == location.id)
        .execution_options(synchronize_session=False)
    )
    session.expunge(location)
    await _changed(session, profile)
    return location


# --- contacts -------------------------------------------------------------------------------------


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
            checker.fail("alertsOptedOut", "must be true or false")
        else:
            values["alerts_opted_out"] = bool(opted_out)
    return values


async def add_contact(
    session: AsyncSession,
    actor: Actor | None,
    location_id: str,
    *,
    fields: Mapping[str, Any],
) -> LocationContact | Refused:
    """A new alert contact (name and e-mail required) at one of the organisation's locations."""
    _unknown(fields, CONTACT_FIELDS)
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker("input")
    values = _contact_values(checker, {"name": None, "email": None, **fields})
    if checker.problems:
        return Refused.invalid(checker.problems)
    found = await _own_location(session, actor, location_id, "input", "locationId")
    if isinstance(found, Refused):
        return found
    profile, location = found
    count = await session.scalar(
        select(func.count())
        .select_from(LocationContact)
        .where(LocationContact.location_id == location.id)
    )
    if (count or 0) >= MAX_CONTACTS_PER_LOCATION:
        return Refused.one(
            ErrorCode.VALIDATION,
            f"a location can have at most {MAX_CONTACTS_PER_LOCATION} contacts; remove one first",
            "input",
            "locationId",
        )
    values.setdefault("alerts_opted_out", False)
    contact = LocationContact(id=uuid.uuid4(), location_id=location.id, **values)
    session.add(contact)
    await _changed(session, profile)
    return contact


async def _own_contact(
    session: AsyncSession, actor: Actor, raw_id: str, *fieldpath: str
) -> tuple[BusinessProfile, LocationContact] | Refused:
    contact_id = parse_id(raw_id, *fieldpath)
    if isinstance(contact_id, Refused):
        return contact_id
    profile = await _own_profile(session, actor)
    if profile is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such contact", *fieldpath)
    contact = (
        await session.execute(
            select(LocationContact)
            .join(ProfileLocation, ProfileLocation.id == LocationContact.location_id)
            .where(LocationContact.id == contact_id, ProfileLocation.profile_id == profile.id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if contact is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such contact", *fieldpath)
    return profile, contact


async def update_contact(
    session: AsyncSession, actor: Actor | None, contact_id: str, *, fields: Mapping[str, Any]
) -> LocationContact | Refused:
    """Change the given fields of a contact, e.g. opt it out of alerts."""
    _unknown(fields, CONTACT_FIELDS)
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    checker = Checker("input")
    values = _contact_values(checker, fields)
    if checker.problems:
        return Refused.invalid(checker.problems)
    found = await _own_contact(session, actor, contact_id, "input", "id")
    if isinstance(found, Refused):
        return found
    profile, contact = found
    for key, value in values.items():
        setattr(contact, key, value)
    await _changed(session, profile)
    return contact


async def remove_contact(
    session: AsyncSession, actor: Actor | None, contact_id: str
) -> LocationContact | Refused:
    """Delete a contact. Allowed even if it was a published profile's last alert contact."""
    refused = _refuse_unless_partner_admin(actor)
    if refused is not None:
        return refused
    assert actor is not None
    found = await _own_contact(session, actor, contact_id, "input", "id")
    if isinstance(found, Refused):
        return found
    profile, contact = found
    await session.delete(contact)
    await _changed(session, profile)
    return contact


# --- membership (platform) ------------------------------------------------------------------------


async def set_membership(
    session: AsyncSession,
    actor: Actor | None,
    profile_id: str,
    competencies: Iterable[str],
    endorsements: Iterable[str],
) -> BusinessProfile | Refused:
    """Replace a profile's membership data. PLATFORM_ADMIN only; competencies are searchable
    (lowest weight)."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to maintain membership data")
    if actor.organisation_kind != "PLATFORM" or not actor.has(Role.PLATFORM_ADMIN):
        return Refused.one(ErrorCode.FORBIDDEN, "only platform admins maintain membership data")
    checker = Checker("input")
    clean_competencies = _clean_terms(checker, "competencies", competencies, max_items=MAX_TERMS)
    clean_endorsements = _clean_terms(
        checker, "endorsements", endorsements, max_items=MAX_TERMS, max_len=MAX_ENDORSEMENT
    )
    parsed = parse_id(profile_id, "input", "profileId")
    if isinstance(parsed, Refused):
        return parsed
    if checker.problems:
        return Refused.invalid(checker.problems)
    profile = (
        await session.execute(
            select(BusinessProfile)
            .where(BusinessProfile.id == parsed)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if profile is None:
        return Refused.one(ErrorCode.NOT_FOUND, "no such business profile", "input", "profileId")
    profile.competencies = clean_competencies
    profile.endorsements = clean_endorsements
    return await _changed(session, profile)


async def load_locations(
    session: AsyncSession, profile_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[ProfileLocation, list[LocationContact]]]]:
    """Each profile's locations (by name) with their contacts (by name), in two queries."""
    ids = list(profile_ids)
    grouped: dict[uuid.UUID, list[tuple[ProfileLocation, list[LocationContact]]]] = {
        i: [] for i in ids
    }
    if not ids:
        return grouped
    locations = list(
        await session.scalars(
            select(ProfileLocation)
            .where(ProfileLocation.profile_id.in_(ids))
            .order_by(ProfileLocation.name, ProfileLocation.id)
        )
    )
    contacts: dict[uuid.UUID, list[LocationContact]] = {loc.id: [] for loc in locations}
    if locations:
        for contact in await session.scalars(
            select(LocationContact)
            .where(LocationContact.location_id.in_(list(contacts)))
            .order_by(LocationContact.name, LocationContact.id)
        ):
            contacts[contact.location_id].append(contact)
    for loc in locations:
        grouped[loc.profile_id].append((loc, contacts[loc.id]))
    return grouped
