"""Leads arriving (R3, R4): customer inquiries to a published profile, qualified leads from
platform staff and referrals between partners. Each validates what was typed, checks that the
target profile is published, honours an idempotency key (the same key and input return the same
lead; the same key with other input is refused) and hands the lead to the RECEIVE step
(`app.services.receive`). Services flush, never commit.

Refusals name the argument that was wrong: `("company", "country")` for a field of `data`,
`("profile_id",)`, `("idempotency_key",)`.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile, IntakeRequest, Lead
from app.db.tenancy import acting_for
from app.domain.lifecycle import LeadType
from app.domain.reference import CompanySize
from app.domain.roles import Role
from app.domain.validation import MAX_NAME, MAX_REF, Checker
from app.ratelimit import Limit, RateLimiter
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, UserError, parse_id
from app.services.preferences import check_locale, check_time_zone
from app.services.receive import IncomingLead, receive_lead

MAX_NEED = 5000
MAX_INDUSTRY = 100
MAX_SOLUTION_AREA = 100
MAX_IDEMPOTENCY_KEY = 200

INQUIRY_PER_CLIENT = Limit("inquiry:client", 10, 3600)
INQUIRY_PER_EMAIL = Limit("inquiry:email", 5, 3600)


# --- what callers send ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanyData:
    name: str
    size: str  # a CompanySize value
    country: str  # ISO 3166-1 alpha-2
    industry: str | None = None


@dataclass(frozen=True, slots=True)
class ContactData:
    name: str
    email: str
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class InquiryData:
    company: CompanyData
    contact: ContactData
    need: str
    contact_requested: bool = False
    consent_to_contact: bool = False
    # The customer agreed that other partners may receive the request (return to pool).
    consent_to_share: bool = False
    # The customer's language (BCP 47) and time zone (IANA): what messages to them are in.
    locale: str | None = None
    time_zone: str | None = None


@dataclass(frozen=True, slots=True)
class QualifiedData(InquiryData):
    """An inquiry that platform staff or a partner qualified, with how to route it."""

    campaign_id: str | None = None
    solution_area: str | None = None
    auto_reroute: bool = False


# The idempotency hash covers the lead's type and what the caller typed, cleaned: the rest of
# the incoming lead (who sends it, how it is routed) is not typed.
_NOT_TYPED = frozenset(
    (
        "type",
        "sender_user_id",
        "sender_organisation_id",
        "engagement_id",
        "reroute_hop",
        "rerouted_from",
        # How the customer reads, not what they asked: a retry from the form in another
        # language is the same inquiry (and keys used before these existed hash as they did).
        "customer_locale",
        "customer_time_zone",
    )
)


def _digest(lead: IncomingLead) -> str:
    typed = {f.name: getattr(lead, f.name) for f in fields(lead) if f.name not in _NOT_TYPED}
    # Keys stored before the consent existed hash as they did: it is in the hash only when given.
    if not typed["consent_to_share"]:
        del typed["consent_to_share"]
    canonical = json.dumps(
        {"type": lead.type.value, **typed},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _incoming(
    check: Checker,
    data: InquiryData,
    lead_type: LeadType,
    sender: Actor | None,
    language: list[UserError],
) -> IncomingLead | None:
    """The lead to receive, validated and normalised; None (with the problems, and typed
    errors for the customer's locale and zone in `language`) if invalid."""
    customer_locale = check_locale(data.locale, language, "locale")
    customer_time_zone = check_time_zone(data.time_zone, language, "time_zone")
    company, contact = data.company, data.contact
    company_name = check.text(("company", "name"), company.name, max_len=MAX_NAME, required=True)
    size = (company.size or "").strip()
    if size not in CompanySize.__members__:
        check.fail(("company", "size"), f"must be one of {', '.join(CompanySize)}")
    industry = check.text(("company", "industry"), company.industry, max_len=MAX_INDUSTRY)
    country = check.country(("company", "country"), company.country, required=True)
    contact_name = check.text(("contact", "name"), contact.name, max_len=MAX_NAME, required=True)
    email = check.email(("contact", "email"), contact.email, required=True)
    phone = check.phone(("contact", "phone"), contact.phone)
    need = check.text("need", data.need, max_len=MAX_NEED, required=True)
    if not data.consent_to_contact:
        check.fail("consent_to_contact", "the customer must consent to be contacted")
    campaign_id = solution_area = None
    auto_reroute = False
    if isinstance(data, QualifiedData):
        campaign_id = check.text("campaign_id", data.campaign_id, max_len=MAX_REF)
        solution_area = check.text("solution_area", data.solution_area, max_len=MAX_SOLUTION_AREA)
        auto_reroute = bool(data.auto_reroute)
    if check.problems or language:
        return None
    assert company_name and country and contact_name and email and need
    return IncomingLead(
        type=lead_type,
        company_name=company_name,
        company_size=size,
        country=country,
        industry=industry,
        contact_name=contact_name,
        contact_email=email,
        contact_phone=phone,
        need=need,
        contact_requested=bool(data.contact_requested),
        consent_to_contact=True,
        consent_to_share=bool(data.consent_to_share),
        campaign_id=campaign_id,
        solution_area=solution_area,
        auto_reroute=auto_reroute,
        # An API key sends as its organisation: it is no user.
        sender_user_id=sender.user_id if sender and sender.api_key_id is None else None,
        sender_organisation_id=sender.organisation_id if sender else None,
        customer_locale=customer_locale,
        customer_time_zone=customer_time_zone,
    )


def _invalid(check: Checker, language: list[UserError]) -> Refused:
    return Refused([*Refused.invalid(check.problems).errors, *language])


def _check_key(check: Checker, key: str | None, *, required: bool) -> str | None:
    """Idempotency keys are opaque: kept as sent (not stripped), only their length is checked."""
    if key is None or not key.strip():
        if required:
            check.fail("idempotency_key", "is required")
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY:
        check.fail("idempotency_key", f"must be at most {MAX_IDEMPOTENCY_KEY} characters")
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        check.fail("idempotency_key", "must not contain control characters")
        return None
    return key


async def _published_profile(session: AsyncSession, raw_id: str) -> BusinessProfile | Refused:
    profile_id = parse_id(raw_id, "profile_id")
    if isinstance(profile_id, Refused):
        return profile_id
    profile = await session.scalar(
        select(BusinessProfile).where(
            BusinessProfile.id == profile_id, BusinessProfile.published.is_(True)
        )
    )
    if profile is None:
        # Unknown and unpublished look the same: a partner without a published profile
        # receives no leads.
        return Refused.one(
            ErrorCode.NOT_FOUND, "no published business profile with this id", "profile_id"
        )
    return profile


async def _replay(
    session: AsyncSession, scope: str, key: str, incoming: IncomingLead
) -> Lead | Refused | None:
    """The lead an earlier call with this key created, a refusal if its input differed, or None
    for a new key. Holds a transaction lock on the key, so two concurrent calls with one key
    are serialised and create one lead."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(literal(f"{scope} {key}"), 0)))
    )
    earlier = await session.scalar(
        select(IntakeRequest).where(
            tuple_(IntakeRequest.scope, IntakeRequest.key) == tuple_(literal(scope), literal(key))
        )
    )
    if earlier is None:
        return None
    if earlier.request_hash != _digest(incoming):
        return Refused.one(
            ErrorCode.CONFLICT,
            "this idempotency key was already used with different input; use a new key",
            "idempotency_key",
        )
    lead = await session.get(Lead, earlier.lead_id)
    assert lead is not None  # the request row cascades with its lead
    return lead


async def _limit(
    limiter: RateLimiter | None, limit: Limit, subject: str, *fieldpath: str
) -> Refused | None:
    if limiter is None:
        return None
    decision = await limiter.hit(limit, subject)
    if decision.allowed:
        return None
    return Refused.one(
        ErrorCode.RATE_LIMITED,
        f"too many inquiries, retry in {decision.retry_after_seconds} s",
        *fieldpath,
    )


async def _create(
    session: AsyncSession,
    profile: BusinessProfile,
    incoming: IncomingLead,
    *,
    scope: str | None,
    key: str | None,
    now: datetime,
    settings: Settings,
) -> Lead:
    lead = await receive_lead(
        session, profile.organisation_id, incoming, now=now, settings=settings
    )
    if scope is not None and key is not None:
        session.add(
            IntakeRequest(scope=scope, key=key, request_hash=_digest(incoming), lead_id=lead.id)
        )
        await session.flush()
    return lead


# --- the use cases -------------------------------------------------------------------------


async def submit_inquiry(
    session: AsyncSession,
    *,
    profile_id: str,
    data: InquiryData,
    idempotency_key: str,
    client_ip: str,
    now: datetime,
    settings: Settings,
    limiter: RateLimiter | None = None,
) -> Lead | Refused:
    """A customer's inquiry to a published profile (R3): anonymous, rate limited per client
    address and per contact e-mail, idempotent by key."""
    check, language = Checker(), list[UserError]()
    incoming = _incoming(check, data, LeadType.CUSTOMER_INQUIRY, None, language)
    key = _check_key(check, idempotency_key, required=True)
    if check.problems or incoming is None or key is None:
        return _invalid(check, language)
    profile = await _published_profile(session, profile_id)
    if isinstance(profile, Refused):
        return profile
    scope = f"inquiry:{profile.id}"
    # The inquiry is written into the partner's inbox as the partner's (app/db/tenancy.py): the
    # anonymous customer has no tenant of its own, and gets back only what it sent.
    async with acting_for(session, profile.organisation_id):
        earlier = await _replay(session, scope, key, incoming)
        if earlier is not None:
            # A client retrying what it already sent (a lost answer) asks for nothing new: the
            # limits count new inquiries only.
            return earlier
        refused = await _limit(limiter, INQUIRY_PER_CLIENT, client_ip)
        if refused is not None:
            return refused
        refused = await _limit(
            limiter, INQUIRY_PER_EMAIL, incoming.contact_email.lower(), "contact", "email"
        )
        if refused is not None:
            return refused
        return await _create(
            session, profile, incoming, scope=scope, key=key, now=now, settings=settings
        )


@dataclass(frozen=True, slots=True)
class LeadSource:
    """Who sends leads to partners this way, and what their leads are: the one difference
    between platform staff's qualified leads and partners' referrals."""

    name: str  # scopes the sender's idempotency keys
    sign_in: str  # the refusal for anonymous callers
    forbidden: str  # the refusal for callers who may not send this way
    # The type of lead `actor` sends with `data`; None if the actor may not send this way.
    lead_type: Callable[[Actor, QualifiedData], LeadType | None]
    # Referrals go to other partners; platform staff send to any partner.
    to_own_organisation: bool


def _platform_lead_type(actor: Actor, data: QualifiedData) -> LeadType | None:
    if actor.organisation_kind != "PLATFORM":
        return None
    marketer, seller = actor.has(Role.MARKETER), actor.has(Role.SELLER)
    if not (marketer or seller):
        return None
    # Someone with both roles sends a marketing lead when they name a campaign.
    if marketer and (not seller or bool((data.campaign_id or "").strip())):
        return LeadType.MARKETING_QUALIFIED
    return LeadType.SALES_QUALIFIED


def _referral_lead_type(actor: Actor, data: QualifiedData) -> LeadType | None:
    return LeadType.SALES_QUALIFIED if actor.manages_leads else None


# Platform staff send a partner a qualified lead (R4): MARKETER -> MARKETING_QUALIFIED (with its
# campaign id), SELLER -> SALES_QUALIFIED. The sender hears when it expires.
PLATFORM_STAFF = LeadSource(
    name="qualified",
    sign_in="sign in to send leads",
    forbidden="only platform marketers and sellers send qualified leads; partners refer them",
    lead_type=_platform_lead_type,
    to_own_organisation=True,
)
# A partner's admin refers a customer to another partner: a SALES_QUALIFIED lead whose sender
# is the referring user and partner.
REFERRAL = LeadSource(
    name="referral",
    sign_in="sign in to refer leads",
    forbidden="only partner admins and referrals admins refer leads",
    lead_type=_referral_lead_type,
    to_own_organisation=False,
)


async def send_lead(
    session: AsyncSession,
    actor: Actor | None,
    source: LeadSource,
    *,
    profile_id: str,
    data: QualifiedData,
    idempotency_key: str | None = None,
    now: datetime,
    settings: Settings,
) -> Lead | Refused:
    """A lead sent to a partner's published profile by someone signed in, as `source` says;
    idempotent when a key is given."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, source.sign_in)
    lead_type = source.lead_type(actor, data)
    if lead_type is None:
        return Refused.one(ErrorCode.FORBIDDEN, source.forbidden)
    check, language = Checker(), list[UserError]()
    incoming = _incoming(check, data, lead_type, actor, language)
    if lead_type is LeadType.MARKETING_QUALIFIED and not (data.campaign_id or "").strip():
        check.fail("campaign_id", "is required for a marketing-qualified lead")
    key = _check_key(check, idempotency_key, required=False)
    if check.problems or incoming is None:
        return _invalid(check, language)
    profile = await _published_profile(session, profile_id)
    if isinstance(profile, Refused):
        return profile
    if not source.to_own_organisation and profile.organisation_id == actor.organisation_id:
        return Refused.one(
            ErrorCode.VALIDATION, "refer the lead to another partner, not your own", "profile_id"
        )
    scope = None
    # Received as the partner's: whether it repeats a lead the partner already has is the
    # partner's to know, not the sender's (the sender sees what it sent, and no more).
    async with acting_for(session, profile.organisation_id):
        if key is not None:
            scope = f"{source.name}:{actor.user_id}:{profile.id}"
            earlier = await _replay(session, scope, key, incoming)
            if earlier is not None:
                return earlier
        return await _create(
            session, profile, incoming, scope=scope, key=key, now=now, settings=settings
        )
