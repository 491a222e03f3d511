"""Leads arriving (R3, R4): customer inquiries, qualified leads from platform staff, referrals
between partners, and the RECEIVE step they all share, with its history and outbox rows.

Every intake call validates what was typed, checks that the target profile is published, honours
an idempotency key (the same key and input return the same lead; the same key with other input is
refused), flags possible duplicates and groups the lead into a customer engagement. Services flush,
never commit.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile, IntakeRequest, Lead
from app.domain.alerts import respond_by
from app.domain.lifecycle import ActorKind, LeadAction, LeadStage, LeadType, Transition, transition
from app.domain.reference import CompanySize
from app.domain.roles import Role
from app.domain.validation import MAX_NAME, MAX_REF, Checker, Problem
from app.ratelimit import Limit, RateLimiter
from app.services.auth import Actor
from app.services.errors import ErrorCode, Refused, parse_id
from app.services.history import record_step

# How far back a lead counts as the same customer (duplicates, engagements).
DUPLICATE_WINDOW = timedelta(days=30)
# Candidates read per incoming lead when looking for a duplicate (same partner, same domain).
DUPLICATE_CANDIDATES = 200
MAX_NEED = 5000
MAX_INDUSTRY = 100
MAX_SOLUTION_AREA = 100
MAX_IDEMPOTENCY_KEY = 200
COUNTRY = re.compile(r"^[A-Z]{2}$")

INQUIRY_PER_CLIENT = Limit("inquiry:client", 10, 3600)
INQUIRY_PER_EMAIL = Limit("inquiry:email", 5, 3600)


@dataclass(frozen=True, slots=True)
class IncomingLead:
    type: LeadType
    company_name: str
    company_size: str
    country: str
    contact_name: str
    contact_email: str
    need: str
    industry: str | None = None
    contact_phone: str | None = None
    contact_requested: bool = False
    consent_to_contact: bool = True
    campaign_id: str | None = None
    sender_user_id: uuid.UUID | None = None
    sender_organisation_id: uuid.UUID | None = None
    solution_area: str | None = None
    auto_reroute: bool = False
    # Set by whoever continues an engagement (a reroute); otherwise found or made by receive_lead.
    engagement_id: uuid.UUID | None = None
    reroute_hop: int = 0
    rerouted_from: uuid.UUID | None = None


# --- the RECEIVE step ----------------------------------------------------------------------


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_company(name: str) -> str:
    """`  Adatum,  Corp. ` -> `adatum corp`: lowercase, punctuation stripped, spaces collapsed."""
    without_punctuation = "".join(
        ch if ch.isalnum() or ch.isspace() else " " if ch in "-/&+" else "" for ch in name.lower()
    )
    return " ".join(without_punctuation.split())


def _domain(email: str) -> str:
    return email.rpartition("@")[2]


async def find_duplicate(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    company_name: str,
    contact_email: str,
    *,
    now: datetime,
) -> uuid.UUID | None:
    """The most recent lead of the same partner within the window for the same customer: the
    same contact e-mail, or the same company at the same e-mail domain."""
    email = normalise_email(contact_email)
    domain = _domain(email)
    company = normalise_company(company_name)
    lowered = func.lower(Lead.contact_email)
    rows = (
        await session.execute(
            select(Lead.id, Lead.contact_email, Lead.company_name)
            .where(
                Lead.organisation_id == organisation_id,
                Lead.received_at >= now - DUPLICATE_WINDOW,
                Lead.received_at <= now,
                (lowered == email) | (func.split_part(lowered, "@", 2) == domain),
            )
            .order_by(Lead.received_at.desc(), Lead.id.desc())
            .limit(DUPLICATE_CANDIDATES)
        )
    ).all()
    for lead_id, other_email, other_company in rows:
        if normalise_email(other_email) == email or normalise_company(other_company) == company:
            return lead_id  # type: ignore[no-any-return]
    return None


async def find_engagement(
    session: AsyncSession, contact_email: str, *, now: datetime
) -> uuid.UUID | None:
    """The engagement of the most recent lead (at any partner) for the same contact e-mail."""
    found = await session.scalar(
        select(Lead.engagement_id)
        .where(
            func.lower(Lead.contact_email) == normalise_email(contact_email),
            Lead.received_at >= now - DUPLICATE_WINDOW,
            Lead.received_at <= now,
            Lead.engagement_id.is_not(None),
        )
        .order_by(Lead.received_at.desc(), Lead.id.desc())
        .limit(1)
    )
    return found


async def receive_lead(
    session: AsyncSession,
    organisation_id: uuid.UUID,
    incoming: IncomingLead,
    *,
    now: datetime,
    settings: Settings,
) -> Lead:
    """Create a RECEIVED lead for a partner, flagged as a possible duplicate and grouped into an
    engagement. Validation of what customers and senders type happens before (the intake use
    cases below); this is the step every source shares."""
    step = transition(None, LeadAction.RECEIVE, actor=ActorKind.SYSTEM)
    assert isinstance(step, Transition)
    profile_id = await session.scalar(
        select(BusinessProfile.id).where(BusinessProfile.organisation_id == organisation_id)
    )
    duplicate_of = await find_duplicate(
        session, organisation_id, incoming.company_name, incoming.contact_email, now=now
    )
    engagement_id = (
        incoming.engagement_id
        or await find_engagement(session, incoming.contact_email, now=now)
        or uuid.uuid4()
    )
    lead = Lead(
        id=uuid.uuid4(),
        organisation_id=organisation_id,
        profile_id=profile_id,
        type=incoming.type.value,
        stage=LeadStage.RECEIVED.value,
        company_name=incoming.company_name,
        company_size=incoming.company_size,
        industry=incoming.industry,
        country=incoming.country,
        contact_name=incoming.contact_name,
        contact_email=incoming.contact_email,
        contact_phone=incoming.contact_phone,
        need=incoming.need,
        contact_requested=incoming.contact_requested,
        consent_to_contact=incoming.consent_to_contact,
        campaign_id=incoming.campaign_id,
        sender_user_id=incoming.sender_user_id,
        sender_organisation_id=incoming.sender_organisation_id,
        solution_area=incoming.solution_area,
        auto_reroute=incoming.auto_reroute,
        reroute_hop=incoming.reroute_hop,
        rerouted_from=incoming.rerouted_from,
        engagement_id=engagement_id,
        possible_duplicate_of=duplicate_of,
        received_at=now,
        respond_by=respond_by(now, settings.lead_response_days),
        version=1,
        created_at=now,
        updated_at=now,
    )
    session.add(lead)
    await session.flush()
    await record_step(session, lead, step, None, now, {}, None)
    return lead


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


@dataclass(frozen=True, slots=True)
class QualifiedData:
    company: CompanyData
    contact: ContactData
    need: str
    contact_requested: bool = False
    consent_to_contact: bool = False
    campaign_id: str | None = None
    solution_area: str | None = None
    auto_reroute: bool = False


@dataclass(frozen=True, slots=True)
class _Clean:
    """Validated, normalised input: what is stored and what the idempotency hash covers."""

    company_name: str
    company_size: str
    country: str
    industry: str | None
    contact_name: str
    contact_email: str
    contact_phone: str | None
    need: str
    contact_requested: bool
    consent_to_contact: bool
    campaign_id: str | None = None
    solution_area: str | None = None
    auto_reroute: bool = False

    def digest(self, lead_type: LeadType) -> str:
        canonical = json.dumps(
            {"type": lead_type.value, **asdict(self)},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def _clean(check: Checker, data: InquiryData | QualifiedData) -> _Clean | None:
    company, contact = data.company, data.contact
    company_name = check.text(("company", "name"), company.name, max_len=MAX_NAME, required=True)
    size = (company.size or "").strip()
    if size not in CompanySize.__members__:
        check.fail(("company", "size"), f"must be one of {', '.join(CompanySize)}")
    industry = check.text(("company", "industry"), company.industry, max_len=MAX_INDUSTRY)
    country = (company.country or "").strip()
    if not COUNTRY.match(country):
        check.fail(("company", "country"), "must be an ISO 3166-1 alpha-2 code, e.g. US")
    contact_name = check.text(("contact", "name"), contact.name, max_len=MAX_NAME, required=True)
    email = check.email(("contact", "email"), contact.email, required=True)
    phone = check.phone(("contact", "phone"), contact.phone)
    need = check.text("need", data.need, max_len=MAX_NEED, required=True)
    if not data.consent_to_contact:
        check.fail("consentToContact", "the customer must consent to be contacted")
    campaign_id = solution_area = None
    auto_reroute = False
    if isinstance(data, QualifiedData):
        campaign_id = check.text("campaignId", data.campaign_id, max_len=MAX_REF)
        solution_area = check.text("solutionArea", data.solution_area, max_len=MAX_SOLUTION_AREA)
        auto_reroute = bool(data.auto_reroute)
    if check.problems:
        return None
    assert company_name and contact_name and email and need
    return _Clean(
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
        campaign_id=campaign_id,
        solution_area=solution_area,
        auto_reroute=auto_reroute,
    )


def _check_key(check: Checker, key: str | None, *, required: bool) -> str | None:
    """Idempotency keys are opaque; only their length is checked. Reported at the argument."""
    if key is None or not key.strip():
        if required:
            check.problems.append(Problem(("idempotencyKey",), "is required"))
        return None
    if len(key) > MAX_IDEMPOTENCY_KEY:
        check.problems.append(
            Problem(("idempotencyKey",), f"must be at most {MAX_IDEMPOTENCY_KEY} characters")
        )
        return None
    if any(unicodedata.category(ch) == "Cc" for ch in key):
        check.problems.append(Problem(("idempotencyKey",), "must not contain control characters"))
        return None
    return key


async def _published_profile(session: AsyncSession, raw_id: str) -> BusinessProfile | Refused:
    profile_id = parse_id(raw_id, "profileId")
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
            ErrorCode.NOT_FOUND, "no published business profile with this id", "profileId"
        )
    return profile


async def _replay(
    session: AsyncSession, scope: str, key: str, digest: str
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
    if earlier.request_hash != digest:
        return Refused.one(
            ErrorCode.CONFLICT,
            "this idempotency key was already used with different input; use a new key",
            "idempotencyKey",
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
    clean: _Clean,
    lead_type: LeadType,
    *,
    sender: Actor | None,
    scope: str | None,
    key: str | None,
    digest: str,
    now: datetime,
    settings: Settings,
) -> Lead:
    lead = await receive_lead(
        session,
        profile.organisation_id,
        IncomingLead(
            type=lead_type,
            company_name=clean.company_name,
            company_size=clean.company_size,
            country=clean.country,
            industry=clean.industry,
            contact_name=clean.contact_name,
            contact_email=clean.contact_email,
            contact_phone=clean.contact_phone,
            need=clean.need,
            contact_requested=clean.contact_requested,
            consent_to_contact=clean.consent_to_contact,
            campaign_id=clean.campaign_id,
            solution_area=clean.solution_area,
            auto_reroute=clean.auto_reroute,
            sender_user_id=sender.user_id if sender else None,
            sender_organisation_id=sender.organisation_id if sender else None,
        ),
        now=now,
        settings=settings,
    )
    if scope is not None and key is not None:
        session.add(IntakeRequest(scope=scope, key=key, request_hash=digest, lead_id=lead.id))
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
    refused = await _limit(limiter, INQUIRY_PER_CLIENT, client_ip)
    if refused is not None:
        return refused
    check = Checker("input")
    clean = _clean(check, data)
    key = _check_key(check, idempotency_key, required=True)
    if check.problems or clean is None or key is None:
        return Refused.invalid(check.problems)
    profile = await _published_profile(session, profile_id)
    if isinstance(profile, Refused):
        return profile
    scope = f"inquiry:{profile.id}"
    digest = clean.digest(LeadType.CUSTOMER_INQUIRY)
    earlier = await _replay(session, scope, key, digest)
    if earlier is not None:
        return earlier
    refused = await _limit(
        limiter, INQUIRY_PER_EMAIL, clean.contact_email.lower(), "input", "contact", "email"
    )
    if refused is not None:
        return refused
    return await _create(
        session,
        profile,
        clean,
        LeadType.CUSTOMER_INQUIRY,
        sender=None,
        scope=scope,
        key=key,
        digest=digest,
        now=now,
        settings=settings,
    )


async def _send(
    session: AsyncSession,
    actor: Actor,
    lead_type: LeadType,
    scope_name: str,
    *,
    profile_id: str,
    data: QualifiedData,
    idempotency_key: str | None,
    now: datetime,
    settings: Settings,
    campaign_required: bool,
    refer: bool,
) -> Lead | Refused:
    check = Checker("input")
    clean = _clean(check, data)
    if campaign_required and (data.campaign_id is None or not data.campaign_id.strip()):
        check.fail("campaignId", "is required for a marketing-qualified lead")
    key = _check_key(check, idempotency_key, required=False)
    if check.problems or clean is None:
        return Refused.invalid(check.problems)
    profile = await _published_profile(session, profile_id)
    if isinstance(profile, Refused):
        return profile
    if refer and profile.organisation_id == actor.organisation_id:
        return Refused.one(
            ErrorCode.VALIDATION, "refer the lead to another partner, not your own", "profileId"
        )
    digest = clean.digest(lead_type)
    scope = None
    if key is not None:
        scope = f"{scope_name}:{actor.user_id}:{profile.id}"
        earlier = await _replay(session, scope, key, digest)
        if earlier is not None:
            return earlier
    return await _create(
        session,
        profile,
        clean,
        lead_type,
        sender=actor,
        scope=scope,
        key=key,
        digest=digest,
        now=now,
        settings=settings,
    )


async def send_qualified_lead(
    session: AsyncSession,
    actor: Actor | None,
    *,
    profile_id: str,
    data: QualifiedData,
    idempotency_key: str | None = None,
    now: datetime,
    settings: Settings,
) -> Lead | Refused:
    """Platform staff send a partner a qualified lead (R4): MARKETER -> MARKETING_QUALIFIED
    (with its campaign id), SELLER -> SALES_QUALIFIED. The sender hears when it expires."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to send leads")
    is_platform = actor.organisation_kind == "PLATFORM"
    marketer = is_platform and actor.has(Role.MARKETER)
    seller = is_platform and actor.has(Role.SELLER)
    if not (marketer or seller):
        return Refused.one(
            ErrorCode.FORBIDDEN,
            "only platform marketers and sellers send qualified leads; partners use referLead",
        )
    # Someone with both roles sends a marketing lead when they name a campaign.
    as_marketer = marketer and (not seller or bool((data.campaign_id or "").strip()))
    return await _send(
        session,
        actor,
        LeadType.MARKETING_QUALIFIED if as_marketer else LeadType.SALES_QUALIFIED,
        "qualified",
        profile_id=profile_id,
        data=data,
        idempotency_key=idempotency_key,
        now=now,
        settings=settings,
        campaign_required=as_marketer,
        refer=False,
    )


async def refer_lead(
    session: AsyncSession,
    actor: Actor | None,
    *,
    profile_id: str,
    data: QualifiedData,
    idempotency_key: str | None = None,
    now: datetime,
    settings: Settings,
) -> Lead | Refused:
    """A partner's admin refers a customer to another partner: a SALES_QUALIFIED lead whose
    sender is the referring user and partner."""
    if actor is None:
        return Refused.one(ErrorCode.UNAUTHENTICATED, "sign in to refer leads")
    if not actor.manages_leads:
        return Refused.one(
            ErrorCode.FORBIDDEN, "only partner admins and referrals admins refer leads"
        )
    return await _send(
        session,
        actor,
        LeadType.SALES_QUALIFIED,
        "referral",
        profile_id=profile_id,
        data=data,
        idempotency_key=idempotency_key,
        now=now,
        settings=settings,
        campaign_required=False,
        refer=True,
    )
