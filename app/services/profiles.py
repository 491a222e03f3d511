"""Business profiles (R1): a partner admin manages the organisation's profile and publishes it;
the platform admin maintains membership data (competencies, endorsements). Locations and alert
contacts are `app.services.locations`.

Services take (session, actor, ...) and return rows or `Refused`; they flush, never commit.
Every change refreshes the profile's `search_document` in the same transaction, so search never
sees a keyword that was removed (or misses one that was added).

Refusals name the argument that was wrong, e.g. `("solution_areas", "2")` for an entry of
`fields`. Publishing has no input: what is missing is reported under `("profile", ...)`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    BusinessProfile,
    LocationContact,
    Organisation,
    ProfileLocation,
    ResponsivenessScore,
)
from app.domain.reference import CompanySize
from app.domain.roles import Role
from app.domain.validation import MAX_NAME, Checker, Problem
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, UserError, parse_id

MAX_DESCRIPTION = 5000
MAX_WEBSITE = 500
MAX_TERM = 100  # one keyword, industry, solution area or competency
MAX_ENDORSEMENT = 200
MAX_KEYWORDS = 50
MAX_TERMS = 30  # industries, solution areas, competencies, endorsements

# What `update_profile` accepts.
PROFILE_FIELDS = (
    "name",
    "description",
    "website",
    "keywords",
    "industries",
    "solution_areas",
    "preferred_sizes",
)
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


# --- who may do what, on which profile ----------------------------------------------------------


def partner_admin(actor: Actor | None) -> Actor | Refused:
    """The actor, if they manage their organisation's business profile."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to manage the business profile")
    if actor.organisation_kind != "PARTNER" or not actor.has(Role.PARTNER_ADMIN):
        return Refused.one(ErrorCode.FORBIDDEN, "only partner admins manage the business profile")
    return actor


async def own_profile(
    session: AsyncSession, actor: Actor, *, lock: bool = True
) -> BusinessProfile | None:
    """The actor's organisation's profile, if any; locked for the change to come, unless not."""
    query = select(BusinessProfile).where(BusinessProfile.organisation_id == actor.organisation_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(query)).scalar_one_or_none()


async def own_profile_created(session: AsyncSession, actor: Actor) -> BusinessProfile:
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
    profile = await own_profile(session, actor)
    assert profile is not None
    return profile


async def profile_changed(session: AsyncSession, profile: BusinessProfile) -> BusinessProfile:
    """Flush, refresh the search document, and reload the row as the database has it."""
    await refresh_search_document(session, profile.id)
    await session.refresh(profile)
    return profile


def unknown_fields(fields: Mapping[str, Any], allowed: Iterable[str]) -> None:
    """A field the service does not know is a caller's bug, not a user's mistake."""
    extra = set(fields) - set(allowed)
    if extra:
        raise ValueError(f"unknown fields: {', '.join(sorted(extra))}")


# --- what the caller is shown -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProfileView:
    """A profile as its own organisation sees it (with its responsiveness score), or as the
    platform sees it (without), and what a change touched: a location, shown with its contacts,
    or a contact."""

    profile: BusinessProfile
    score: ResponsivenessScore | None
    location: ProfileLocation | None = None
    location_contacts: list[LocationContact] = field(default_factory=list)
    contact: LocationContact | None = None


async def get_own_profile(session: AsyncSession, actor: Actor | None) -> ProfileView | None:
    """The caller's organisation's profile with its score, if any (any role of the
    organisation may read it)."""
    if actor is None:
        return None
    row = (
        await session.execute(
            select(BusinessProfile, ResponsivenessScore)
            .outerjoin(ResponsivenessScore, ResponsivenessScore.profile_id == BusinessProfile.id)
            .where(BusinessProfile.organisation_id == actor.organisation_id)
        )
    ).one_or_none()
    return ProfileView(row[0], row[1]) if row is not None else None


async def view_after_change(
    session: AsyncSession,
    changed: BusinessProfile | ProfileLocation | LocationContact,
    *,
    with_score: bool = True,
) -> ProfileView:
    """The profile a change left, as the change's caller sees it: `with_score` for the
    profile's own organisation only."""
    location = contact = None
    if isinstance(changed, LocationContact):
        contact = changed
        location_row = await session.get(ProfileLocation, changed.location_id)
        assert location_row is not None
        profile_id = location_row.profile_id
    elif isinstance(changed, ProfileLocation):
        location = changed
        profile_id = changed.profile_id
    else:
        profile_id = changed.id
    profile = await session.get(BusinessProfile, profile_id)
    assert profile is not None
    score = await session.get(ResponsivenessScore, profile_id) if with_score else None
    contacts: list[LocationContact] = []
    if location is not None:
        contacts = list(
            await session.scalars(
                select(LocationContact)
                .where(LocationContact.location_id == location.id)
                .order_by(LocationContact.name, LocationContact.id)
            )
        )
    return ProfileView(profile, score, location, contacts, contact)


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
    """Kept as typed (trimmed), once it is an http(s) URL with a host."""
    if checker.url("website", raw, max_len=MAX_WEBSITE) is None:
        return None
    assert raw is not None
    return raw.strip()


def _clean_sizes(checker: Checker, values: Iterable[Any] | None) -> list[str]:
    chosen: set[str] = set()
    for index, raw in enumerate(values or []):
        value = raw.value if isinstance(raw, CompanySize) else str(raw)
        if value not in _SIZE_ORDER:
            checker.fail(("preferred_sizes", str(index)), f"'{raw}' is not a company size band")
        else:
            chosen.add(value)
    return sorted(chosen, key=_SIZE_ORDER.__getitem__)


# --- the profile ----------------------------------------------------------------------------------


async def ensure_profile(session: AsyncSession, actor: Actor | None) -> BusinessProfile | Refused:
    """The organisation's profile, created unpublished and named after the organisation if it
    has none yet."""
    admin = partner_admin(actor)
    if isinstance(admin, Refused):
        return admin
    existing = await own_profile(session, admin)
    if existing is not None:
        return existing
    return await profile_changed(session, await own_profile_created(session, admin))


async def update_profile(
    session: AsyncSession,
    actor: Actor | None,
    *,
    fields: Mapping[str, Any],
    now: datetime | None = None,
) -> BusinessProfile | Refused:
    """Change the given fields (of `PROFILE_FIELDS`; absent keys stay as they are, None clears
    description and website). Creates the profile if the organisation has none."""
    unknown_fields(fields, PROFILE_FIELDS)
    admin = partner_admin(actor)
    if isinstance(admin, Refused):
        return admin
    checker = Checker()
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
            values[key] = _clean_terms(checker, key, fields[key], max_items=MAX_TERMS)
    if "preferred_sizes" in fields:
        values["preferred_sizes"] = _clean_sizes(checker, fields["preferred_sizes"])
    if checker.problems:
        return Refused.invalid(checker.problems)
    profile = await own_profile_created(session, admin)
    for key, value in values.items():
        setattr(profile, key, value)
    return await profile_changed(session, profile)


async def _publish_problems(session: AsyncSession, profile: BusinessProfile) -> list[Problem]:
    missing: list[Problem] = []
    if not (profile.name or "").strip():
        missing.append(Problem(("profile", "name"), "a name is required to publish"))
    if not (profile.description or "").strip():
        missing.append(Problem(("profile", "description"), "a description is required to publish"))
    if not profile.keywords:
        missing.append(
            Problem(("profile", "keywords"), "at least one expertise keyword is required")
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
        missing.append(Problem(("profile", "locations"), "at least one location is required"))
    elif not any(count for _, count in rows):
        missing.append(
            Problem(
                ("profile", "locations", "contacts"),
                "at least one location needs a contact who receives lead alerts (not opted out)",
            )
        )
    return missing


async def _existing_own_profile(
    session: AsyncSession, actor: Actor | None
) -> BusinessProfile | Refused:
    admin = partner_admin(actor)
    if isinstance(admin, Refused):
        return admin
    profile = await own_profile(session, admin)
    if profile is None:
        return Refused.one(
            ErrorCode.NOT_FOUND, "your organisation has no business profile yet", "profile"
        )
    return profile


async def publish_profile(
    session: AsyncSession, actor: Actor | None, *, now: datetime
) -> BusinessProfile | Refused:
    """Make the profile visible to customers and able to receive leads. Refused (VALIDATION,
    listing every missing part) unless it has a name, a description, a keyword and a location
    with a contact that receives alerts. Publishing a published profile keeps its date."""
    profile = await _existing_own_profile(session, actor)
    if isinstance(profile, Refused):
        return profile
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
    return await profile_changed(session, profile)


async def unpublish_profile(
    session: AsyncSession, actor: Actor | None, *, now: datetime | None = None
) -> BusinessProfile | Refused:
    """Hide the profile from customers; it receives no new leads until published again."""
    profile = await _existing_own_profile(session, actor)
    if isinstance(profile, Refused):
        return profile
    profile.published = False
    profile.published_at = None
    return await profile_changed(session, profile)


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
    checker = Checker()
    clean_competencies = _clean_terms(checker, "competencies", competencies, max_items=MAX_TERMS)
    clean_endorsements = _clean_terms(
        checker, "endorsements", endorsements, max_items=MAX_TERMS, max_len=MAX_ENDORSEMENT
    )
    parsed = parse_id(profile_id, "profile_id")
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
        return Refused.one(ErrorCode.NOT_FOUND, "no such business profile", "profile_id")
    profile.competencies = clean_competencies
    profile.endorsements = clean_endorsements
    return await profile_changed(session, profile)
