"""Lead intake (R3, R4, issue 4 §3): customer inquiries, qualified leads, referrals, what a
sender sent, idempotency keys, rate limits, duplicate flags and engagements.

Real Postgres and Valkey. Services are called with the test's session; the GraphQL layer runs on
a schema merged here from the lead schema and the intake types, inside the test's transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import (
    BusinessProfile,
    IntakeRequest,
    Lead,
    LeadHistory,
    OutboxMessage,
    User,
)
from app.domain.lifecycle import LeadType
from app.domain.reference import DeclineReason
from app.domain.roles import Role
from app.graphql.context import Context
from app.graphql.schema import schema as served_schema
from app.ratelimit import RateLimiter
from app.services import intake, lead_queries
from app.services.auth import Actor, load_actor
from app.services.errors import Refused
from app.services.intake import (
    CompanyData,
    ContactData,
    InquiryData,
    QualifiedData,
    normalise_company,
)
from app.services.leads import decline_lead
from tests.factories import World, make_partner, unique

schema = served_schema  # intake is part of the schema the app serves

LEAD_FIELDS = """
    id type stage outcome contactAlert
    customer { companyName companySize industry country contactName contactEmail contactPhone
               need contactRequested consentToContact }
    deal { campaignId }
    sender { kind name organisationName }
"""
PAYLOAD = f"lead {{ {LEAD_FIELDS} }} errors {{ code field message }}"
SUBMIT = f"""
mutation($profileId: ID!, $input: InquiryInput!, $key: String!) {{
  submitInquiry(profileId: $profileId, input: $input, idempotencyKey: $key) {{ {PAYLOAD} }}
}}"""
SEND = f"""
mutation($profileId: ID!, $input: QualifiedLeadInput!, $key: String) {{
  sendQualifiedLead(profileId: $profileId, input: $input, idempotencyKey: $key) {{ {PAYLOAD} }}
}}"""
REFER = f"""
mutation($profileId: ID!, $input: QualifiedLeadInput!, $key: String) {{
  referLead(profileId: $profileId, input: $input, idempotencyKey: $key) {{ {PAYLOAD} }}
}}"""
SENT = """
query($first: Int, $after: String) {
  sentLeads(first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id type stage outcome customer { companyName } } }
  }
}"""


# --- helpers -------------------------------------------------------------------------------


def email(prefix: str = "ana", domain: str | None = None) -> str:
    """A fresh address, at a fresh domain unless one is given: no duplicate of demo leads."""
    return f"{prefix}.{uuid.uuid4().hex[:10]}@{domain or uuid.uuid4().hex[:10] + '.example'}"


def inquiry(**overrides: Any) -> dict[str, Any]:
    """A valid InquiryInput as GraphQL variables; company and contact merge their overrides."""
    value: dict[str, Any] = {
        "company": {
            "name": "Adatum Corp",
            "size": "SIZE_51_250",
            "industry": "Retail",
            "country": "US",
        },
        "contact": {"name": "Ana Silva", "email": email(), "phone": "+1 555 0100"},
        "need": "Move our shops to the cloud",
        "contactRequested": True,
        "consentToContact": True,
    }
    for part in ("company", "contact"):
        value[part].update(overrides.pop(part, {}))
    value.update(overrides)
    return value


def qualified(**overrides: Any) -> dict[str, Any]:
    value = inquiry(contactRequested=False)
    value.update(campaignId=None, solutionArea="Infrastructure", autoReroute=False)
    for part in ("company", "contact"):
        value[part].update(overrides.pop(part, {}))
    value.update(overrides)
    return value


def _company(v: dict[str, Any]) -> CompanyData:
    return CompanyData(
        name=v["name"], size=v["size"], industry=v.get("industry"), country=v["country"]
    )


def _contact(v: dict[str, Any]) -> ContactData:
    return ContactData(name=v["name"], email=v["email"], phone=v.get("phone"))


def inquiry_data(**overrides: Any) -> InquiryData:
    v = inquiry(**overrides)
    return InquiryData(
        company=_company(v["company"]),
        contact=_contact(v["contact"]),
        need=v["need"],
        contact_requested=v["contactRequested"],
        consent_to_contact=v["consentToContact"],
    )


def qualified_data(**overrides: Any) -> QualifiedData:
    v = qualified(**overrides)
    return QualifiedData(
        company=_company(v["company"]),
        contact=_contact(v["contact"]),
        need=v["need"],
        contact_requested=v["contactRequested"],
        consent_to_contact=v["consentToContact"],
        campaign_id=v["campaignId"],
        solution_area=v["solutionArea"],
        auto_reroute=v["autoReroute"],
    )


async def profile_of(session: AsyncSession, organisation_id: uuid.UUID) -> str:
    profile_id = await session.scalar(
        select(BusinessProfile.id).where(BusinessProfile.organisation_id == organisation_id)
    )
    assert profile_id is not None
    return str(profile_id)


async def actor(session: AsyncSession, user_id: uuid.UUID) -> Actor:
    loaded = await load_actor(session, user_id)
    assert loaded is not None
    return loaded


async def lead_row(session: AsyncSession, lead_id: str | uuid.UUID) -> Lead:
    row = (
        await session.execute(
            select(Lead)
            .where(Lead.id == uuid.UUID(str(lead_id)))
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
    return row


async def lead_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Lead)) or 0)


async def outbox_topics(session: AsyncSession, lead_id: str | uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(OutboxMessage.topic)
        .where(OutboxMessage.lead_id == uuid.UUID(str(lead_id)))
        .order_by(OutboxMessage.id)
    )
    return list(rows)


async def written(session: AsyncSession) -> tuple[int, int, int, int]:
    """Row counts of everything intake writes."""
    counts = []
    for model in (Lead, LeadHistory, OutboxMessage, IntakeRequest):
        counts.append(int(await session.scalar(select(func.count()).select_from(model)) or 0))
    return counts[0], counts[1], counts[2], counts[3]


async def new_platform_user(session: AsyncSession, world: World, *roles: Role) -> uuid.UUID:
    """A platform user with nothing sent yet (the demo world's seller has sent demo leads)."""
    seller = await actor(session, world.seller)
    user = User(
        id=uuid.uuid4(),
        organisation_id=seller.organisation_id,
        email=f"{unique('staff')}@platform.example",
        name="Sam Staff",
        roles=[r.value for r in roles],
    )
    session.add(user)
    await session.flush()
    return user.id


def refused(result: object) -> list[tuple[str, tuple[str, ...] | None]]:
    assert isinstance(result, Refused), result
    return [(e.code.value, e.field) for e in result.errors]


@pytest.fixture
async def limiter(settings: Settings) -> AsyncIterator[RateLimiter]:
    limiter = RateLimiter(settings.redis_url)
    yield limiter
    await limiter.close()


async def clear_limits(settings: Settings, *subjects: str) -> None:
    client = aioredis.from_url(settings.redis_url or "")
    try:
        for subject in subjects:
            async for key in client.scan_iter(match=f"ratelimit:inquiry:*:{subject}:*"):
                await client.delete(key)
    finally:
        await client.aclose()


@pytest.fixture
def run(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], limiter: RateLimiter
) -> Any:
    """`await run(document, variables, user=..., ip=...)` -> the response data."""

    async def execute(
        document: str,
        variables: dict[str, Any],
        *,
        user: uuid.UUID | None = None,
        ip: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        async with sessionmaker() as s:
            who = await load_actor(s, user) if user else None
        context = Context(
            settings=settings,
            sessionmaker=sessionmaker,
            actor=who,
            queue=None,
            limiter=limiter,
            client_ip=ip or unique("198.51.100"),
            now=now or datetime.now(UTC),
        )
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


async def submit(
    session: AsyncSession,
    settings: Settings,
    profile_id: str,
    data: InquiryData | None = None,
    *,
    key: str | None = None,
    now: datetime | None = None,
    limiter: RateLimiter | None = None,
    ip: str = "192.0.2.1",
) -> Lead | Refused:
    return await intake.submit_inquiry(
        session,
        profile_id=profile_id,
        data=data or inquiry_data(),
        idempotency_key=key or unique("key"),
        client_ip=ip,
        now=now or datetime.now(UTC),
        settings=settings,
        limiter=limiter,
    )


# --- customer inquiries (R3) ---------------------------------------------------------------


async def test_submit_inquiry_creates_a_received_lead_with_its_alerts(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    domain = f"Adatum-{uuid.uuid4().hex[:8]}.EXAMPLE"
    address = email("Ana", domain)
    variables = inquiry(
        company={"name": "  Adatum   Corp ", "country": "US"}, contact={"email": f"  {address} "}
    )

    data = await run(SUBMIT, {"profileId": profile_id, "input": variables, "key": unique("k")})

    payload = data["submitInquiry"]
    assert payload["errors"] == []
    lead = payload["lead"]
    assert lead["type"] == "CUSTOMER_INQUIRY"
    assert lead["stage"] == "RECEIVED"
    assert lead["outcome"] is None
    assert lead["contactAlert"] == "URGENT"
    assert lead["customer"] == {
        "companyName": "Adatum   Corp",
        "companySize": "SIZE_51_250",
        "industry": "Retail",
        "country": "US",
        "contactName": "Ana Silva",
        "contactEmail": address.split("@")[0] + "@" + domain.lower(),  # domain normalised
        "contactPhone": "+1 555 0100",
        "need": "Move our shops to the cloud",
        "contactRequested": True,
        "consentToContact": True,
    }
    assert lead["sender"] == {
        "kind": "CUSTOMER",
        "name": "Ana Silva",
        "organisationName": "Adatum   Corp",
    }
    row = await lead_row(session, lead["id"])
    assert row.organisation_id == world.contoso.organisation_id
    assert str(row.profile_id) == profile_id
    assert row.sender_user_id is None and row.sender_organisation_id is None
    assert row.engagement_id is not None
    assert row.possible_duplicate_of is None
    # The RECEIVE step's history row and its two outbox rows, exactly once.
    history = (
        await session.scalars(select(LeadHistory.action).where(LeadHistory.lead_id == row.id))
    ).all()
    assert list(history) == ["RECEIVE"]
    assert await outbox_topics(session, row.id) == ["lead.received", "notify.new_lead"]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"company": {"name": "   "}}, [("input", "company", "name")]),
        ({"company": {"name": "x" * 201}}, [("input", "company", "name")]),
        ({"company": {"size": "HUGE"}}, [("input", "company", "size")]),
        ({"company": {"industry": "i" * 101}}, [("input", "company", "industry")]),
        ({"company": {"country": "us"}}, [("input", "company", "country")]),
        ({"company": {"country": "USA"}}, [("input", "company", "country")]),
        ({"contact": {"name": ""}}, [("input", "contact", "name")]),
        ({"contact": {"email": "not-an-address"}}, [("input", "contact", "email")]),
        ({"contact": {"email": " "}}, [("input", "contact", "email")]),
        ({"contact": {"phone": "call me"}}, [("input", "contact", "phone")]),
        ({"need": ""}, [("input", "need")]),
        ({"need": "n" * 5001}, [("input", "need")]),
        ({"consentToContact": False}, [("input", "consentToContact")]),
        (
            {"company": {"name": "", "country": "1"}, "contact": {"email": "@"}, "need": " "},
            [
                ("input", "company", "name"),
                ("input", "company", "country"),
                ("input", "contact", "email"),
                ("input", "need"),
            ],
        ),
    ],
)
async def test_submit_inquiry_validation_writes_nothing(
    session: AsyncSession,
    world: World,
    settings: Settings,
    overrides: dict[str, Any],
    fields: list[tuple[str, ...]],
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    before = await written(session)

    result = await submit(session, settings, profile_id, inquiry_data(**overrides))

    assert refused(result) == [("VALIDATION", f) for f in fields]
    assert await written(session) == before


async def test_consent_is_required_with_a_message(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    result = await submit(session, settings, profile_id, inquiry_data(consentToContact=False))
    assert isinstance(result, Refused)
    assert result.errors[0].message == "the customer must consent to be contacted"


async def test_idempotency_key_is_required_and_bounded(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    for key in ("  ", "k" * 201, "a\x00b"):
        result = await submit(session, settings, profile_id, key=key)
        assert refused(result) == [("VALIDATION", ("idempotencyKey",))]


async def test_validation_errors_over_graphql_carry_field_paths(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    before = await written(session)
    data = await run(
        SUBMIT,
        {
            "profileId": profile_id,
            "key": unique("k"),
            "input": inquiry(company={"country": "Germany"}, consentToContact=False),
        },
    )
    payload = data["submitInquiry"]
    assert payload["lead"] is None
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [
        ("VALIDATION", ["input", "company", "country"]),
        ("VALIDATION", ["input", "consentToContact"]),
    ]
    assert await written(session) == before


async def test_unknown_or_unpublished_profiles_receive_no_inquiries(
    run: Any, session: AsyncSession, world: World, settings: Settings
) -> None:
    profile_id = await profile_of(session, world.northwind.organisation_id)
    await session.execute(
        update(BusinessProfile)
        .where(BusinessProfile.id == uuid.UUID(profile_id))
        .values(published=False)
    )
    await session.flush()
    before = await written(session)

    for target in (profile_id, str(uuid.uuid4())):
        data = await run(SUBMIT, {"profileId": target, "input": inquiry(), "key": unique("k")})
        assert data["submitInquiry"]["lead"] is None
        assert [(e["code"], e["field"]) for e in data["submitInquiry"]["errors"]] == [
            ("NOT_FOUND", ["profileId"])
        ]
    result = await submit(session, settings, "not-a-uuid")
    assert refused(result) == [("VALIDATION", ("profileId",))]
    assert await written(session) == before


async def test_same_key_same_input_returns_the_same_lead(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    key = unique("key")
    variables = inquiry()
    first = await run(SUBMIT, {"profileId": profile_id, "input": variables, "key": key})
    lead_id = first["submitInquiry"]["lead"]["id"]
    after_first = await written(session)

    # The same input, typed with different spacing, from another address: the same request.
    again = inquiry(
        company={**variables["company"], "name": f"  {variables['company']['name']} "},
        contact=variables["contact"],
    )
    second = await run(
        SUBMIT, {"profileId": profile_id, "input": again, "key": key}, ip="203.0.113.77"
    )

    assert second["submitInquiry"]["errors"] == []
    assert second["submitInquiry"]["lead"]["id"] == lead_id
    assert await written(session) == after_first  # no new lead, history or outbox rows
    assert await outbox_topics(session, lead_id) == ["lead.received", "notify.new_lead"]


async def test_same_key_different_input_is_a_conflict(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    key = unique("key")
    variables = inquiry()
    await run(SUBMIT, {"profileId": profile_id, "input": variables, "key": key})
    before = await written(session)

    changed = {**variables, "need": "Something else entirely"}
    data = await run(SUBMIT, {"profileId": profile_id, "input": changed, "key": key})

    assert data["submitInquiry"]["lead"] is None
    assert [(e["code"], e["field"]) for e in data["submitInquiry"]["errors"]] == [
        ("CONFLICT", ["idempotencyKey"])
    ]
    assert await written(session) == before


async def test_a_key_is_scoped_to_its_profile(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    key = unique("key")
    data = inquiry_data()
    contoso = await submit(
        session, settings, await profile_of(session, world.contoso.organisation_id), data, key=key
    )
    fabrikam = await submit(
        session, settings, await profile_of(session, world.fabrikam.organisation_id), data, key=key
    )
    assert isinstance(contoso, Lead) and isinstance(fabrikam, Lead)
    assert contoso.id != fabrikam.id
    assert fabrikam.organisation_id == world.fabrikam.organisation_id


# --- rate limits ---------------------------------------------------------------------------


async def test_inquiries_are_rate_limited_per_client(
    session: AsyncSession, world: World, settings: Settings, limiter: RateLimiter
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    ip = unique("198.51.100.7")
    await clear_limits(settings, ip)
    for _ in range(10):
        assert isinstance(await submit(session, settings, profile_id, ip=ip, limiter=limiter), Lead)
    before = await written(session)

    result = await submit(session, settings, profile_id, ip=ip, limiter=limiter)

    assert refused(result) == [("RATE_LIMITED", None)]
    assert isinstance(result, Refused)
    assert result.errors[0].message.startswith("too many inquiries, retry in ")
    assert await written(session) == before
    # Another client is not affected.
    assert isinstance(
        await submit(session, settings, profile_id, ip=unique("198.51.100.8"), limiter=limiter),
        Lead,
    )


async def test_inquiries_are_rate_limited_per_email(
    run: Any, session: AsyncSession, world: World, settings: Settings
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    address = email("flood")
    await clear_limits(settings, address)
    keys = []
    for n in range(5):
        keys.append(unique("key"))
        variables = inquiry(
            contact={"email": address if n % 2 else address.upper()}, need=f"Need {n}"
        )
        data = await run(SUBMIT, {"profileId": profile_id, "input": variables, "key": keys[-1]})
        assert data["submitInquiry"]["errors"] == []
    before = await written(session)

    data = await run(
        SUBMIT,
        {
            "profileId": profile_id,
            "key": unique("key"),
            "input": inquiry(contact={"email": address}, need="Need 6"),
        },
    )

    assert data["submitInquiry"]["lead"] is None
    [error] = data["submitInquiry"]["errors"]
    assert (error["code"], error["field"]) == ("RATE_LIMITED", ["input", "contact", "email"])
    assert await written(session) == before

    # A retry of an inquiry that already went through still gets its lead back.
    replay = await run(
        SUBMIT,
        {
            "profileId": profile_id,
            "key": keys[-1],
            "input": inquiry(contact={"email": address.upper()}, need="Need 4"),
        },
    )
    assert replay["submitInquiry"]["errors"] == []
    assert await written(session) == before


# --- qualified leads and referrals (R4) ----------------------------------------------------


async def test_marketer_sends_a_marketing_qualified_lead_with_a_campaign(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.fabrikam.organisation_id)
    missing = await run(SEND, {"profileId": profile_id, "input": qualified()}, user=world.marketer)
    assert [(e["code"], e["field"]) for e in missing["sendQualifiedLead"]["errors"]] == [
        ("VALIDATION", ["input", "campaignId"])
    ]

    data = await run(
        SEND,
        {"profileId": profile_id, "input": qualified(campaignId="CAMP-7", autoReroute=True)},
        user=world.marketer,
    )

    payload = data["sendQualifiedLead"]
    assert payload["errors"] == []
    assert payload["lead"]["type"] == "MARKETING_QUALIFIED"
    # The sender sees the lead's state, not the partner's deal data (campaign id included).
    assert payload["lead"]["deal"] is None
    assert payload["lead"]["sender"]["kind"] == "PLATFORM"
    row = await lead_row(session, payload["lead"]["id"])
    marketer = await actor(session, world.marketer)
    assert (row.sender_user_id, row.sender_organisation_id) == (
        world.marketer,
        marketer.organisation_id,
    )
    assert row.organisation_id == world.fabrikam.organisation_id
    assert (row.solution_area, row.auto_reroute) == ("Infrastructure", True)
    assert await outbox_topics(session, row.id) == ["lead.received", "notify.new_lead"]


async def test_seller_sends_a_sales_qualified_lead_idempotently(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.northwind.organisation_id)
    key = unique("key")
    variables = {"profileId": profile_id, "input": qualified(), "key": key}

    first = await run(SEND, variables, user=world.seller)
    after_first = await written(session)
    second = await run(SEND, variables, user=world.seller)

    lead = first["sendQualifiedLead"]["lead"]
    assert lead["type"] == "SALES_QUALIFIED"
    assert lead["sender"]["kind"] == "PLATFORM"
    assert second["sendQualifiedLead"]["lead"]["id"] == lead["id"]
    assert await written(session) == after_first
    row = await lead_row(session, lead["id"])
    assert row.sender_user_id == world.seller

    changed = await run(SEND, {**variables, "input": qualified(need="Other")}, user=world.seller)
    assert [(e["code"], e["field"]) for e in changed["sendQualifiedLead"]["errors"]] == [
        ("CONFLICT", ["idempotencyKey"])
    ]
    # Without a key every call is a new lead.
    a = await run(SEND, {"profileId": profile_id, "input": qualified()}, user=world.seller)
    b = await run(SEND, {"profileId": profile_id, "input": qualified()}, user=world.seller)
    assert a["sendQualifiedLead"]["lead"]["id"] != b["sendQualifiedLead"]["lead"]["id"]


@pytest.mark.parametrize(
    ("who", "code"),
    [
        ("anonymous", "UNAUTHENTICATED"),
        ("partner_admin", "FORBIDDEN"),
        ("referrals_admin", "FORBIDDEN"),
        ("member", "FORBIDDEN"),
        ("platform_admin", "FORBIDDEN"),
    ],
)
async def test_only_marketers_and_sellers_send_qualified_leads(
    run: Any, session: AsyncSession, world: World, who: str, code: str
) -> None:
    users = {
        "anonymous": None,
        "partner_admin": world.contoso.partner_admin,
        "referrals_admin": world.contoso.referrals_admin,
        "member": world.contoso.member,
        "platform_admin": world.platform_admin,
    }
    profile_id = await profile_of(session, world.fabrikam.organisation_id)
    before = await written(session)
    data = await run(
        SEND, {"profileId": profile_id, "input": qualified(campaignId="C")}, user=users[who]
    )
    assert data["sendQualifiedLead"]["lead"] is None
    assert [e["code"] for e in data["sendQualifiedLead"]["errors"]] == [code]
    assert await written(session) == before


async def test_partner_refers_a_lead_to_another_partner(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.fabrikam.organisation_id)
    data = await run(
        REFER, {"profileId": profile_id, "input": qualified()}, user=world.contoso.referrals_admin
    )

    payload = data["referLead"]
    assert payload["errors"] == []
    assert payload["lead"]["type"] == "SALES_QUALIFIED"
    assert payload["lead"]["sender"]["kind"] == "PARTNER"
    row = await lead_row(session, payload["lead"]["id"])
    assert row.organisation_id == world.fabrikam.organisation_id
    assert row.sender_user_id == world.contoso.referrals_admin
    assert row.sender_organisation_id == world.contoso.organisation_id
    assert await outbox_topics(session, row.id) == ["lead.received", "notify.new_lead"]


async def test_referral_refusals(run: Any, session: AsyncSession, world: World) -> None:
    own = await profile_of(session, world.contoso.organisation_id)
    other = await profile_of(session, world.fabrikam.organisation_id)
    before = await written(session)
    cases = [
        (own, world.contoso.partner_admin, "VALIDATION", ["profileId"]),
        (other, world.contoso.member, "FORBIDDEN", None),
        (other, world.seller, "FORBIDDEN", None),
        (other, None, "UNAUTHENTICATED", None),
        (str(uuid.uuid4()), world.contoso.partner_admin, "NOT_FOUND", ["profileId"]),
    ]
    for profile_id, user, code, field in cases:
        data = await run(REFER, {"profileId": profile_id, "input": qualified()}, user=user)
        assert data["referLead"]["lead"] is None
        assert [(e["code"], e["field"]) for e in data["referLead"]["errors"]] == [(code, field)]
    assert await written(session) == before


async def test_a_partner_without_a_published_profile_is_not_referred_to(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    partner = await make_partner(session)
    profile = BusinessProfile(
        id=uuid.uuid4(), organisation_id=partner.organisation_id, name="Draft", published=False
    )
    session.add(profile)
    await session.flush()
    result = await intake.refer_lead(
        session,
        await actor(session, world.contoso.partner_admin),
        profile_id=str(profile.id),
        data=qualified_data(),
        now=datetime.now(UTC),
        settings=settings,
    )
    assert refused(result) == [("NOT_FOUND", ("profileId",))]


# --- duplicates and engagements ------------------------------------------------------------


def test_company_names_are_normalised() -> None:
    assert normalise_company("  Adatum,  Corp. ") == "adatum corp"
    assert normalise_company("ADATUM CORP") == "adatum corp"
    assert normalise_company("Adatum Corp!") == normalise_company("adatum   corp")


async def test_possible_duplicates_are_flagged(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    contoso = await profile_of(session, world.contoso.organisation_id)
    fabrikam = await profile_of(session, world.fabrikam.organisation_id)
    company = unique("Tailspin Toys")
    domain = f"{uuid.uuid4().hex[:8]}.example"
    address = email("lee", domain)
    now = datetime.now(UTC)

    async def send(profile: str, at: datetime, **overrides: Any) -> Lead:
        lead = await submit(session, settings, profile, inquiry_data(**overrides), now=at)
        assert isinstance(lead, Lead), lead
        return lead

    old = await send(
        contoso, now - timedelta(days=34), company={"name": company}, contact={"email": address}
    )
    first = await send(
        contoso, now - timedelta(days=3), company={"name": company}, contact={"email": address}
    )
    assert first.possible_duplicate_of is None  # the older one is outside the 30 days
    # The same e-mail, however it is capitalised and whatever the company is called.
    same_email = await send(
        contoso,
        now - timedelta(days=2),
        company={"name": unique("Other")},
        contact={"email": address.upper()},
    )
    assert same_email.possible_duplicate_of == first.id
    # Another person at the same company (normalised) and e-mail domain.
    colleague = await send(
        contoso,
        now - timedelta(days=1),
        company={"name": f" {company.upper()}. "},
        contact={"email": email("kim", domain)},
    )
    assert colleague.possible_duplicate_of == first.id
    # A third: the most recent of the matching leads.
    third = await send(
        contoso,
        now - timedelta(hours=1),
        company={"name": company},
        contact={"email": email("max", domain.upper())},
    )
    assert third.possible_duplicate_of == colleague.id
    # The same company name at another domain is someone else.
    namesake = await send(
        contoso,
        now,
        company={"name": company},
        contact={"email": email("kim", "elsewhere.example")},
    )
    assert namesake.possible_duplicate_of is None
    # Another partner has never seen this customer.
    elsewhere = await send(fabrikam, now, company={"name": company}, contact={"email": address})
    assert elsewhere.possible_duplicate_of is None
    assert old.possible_duplicate_of is None


async def test_leads_about_one_customer_share_an_engagement(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    now = datetime.now(UTC)
    address = email("lee")
    contoso = await profile_of(session, world.contoso.organisation_id)
    fabrikam = await profile_of(session, world.fabrikam.organisation_id)
    northwind = await profile_of(session, world.northwind.organisation_id)

    old = await submit(
        session,
        settings,
        contoso,
        inquiry_data(contact={"email": address}),
        now=now - timedelta(days=40),
    )
    first = await submit(
        session,
        settings,
        fabrikam,
        inquiry_data(contact={"email": address}),
        now=now - timedelta(days=5),
    )
    assert isinstance(old, Lead) and isinstance(first, Lead)
    assert first.engagement_id != old.engagement_id  # 40 days ago is another engagement

    referred = await intake.refer_lead(
        session,
        await actor(session, world.fabrikam.partner_admin),
        profile_id=northwind,
        data=qualified_data(contact={"email": address.upper()}),
        now=now,
        settings=settings,
    )
    other_customer = await submit(session, settings, fabrikam, inquiry_data(), now=now)
    assert isinstance(referred, Lead) and isinstance(other_customer, Lead)
    assert referred.engagement_id == first.engagement_id
    assert other_customer.engagement_id not in (first.engagement_id, old.engagement_id, None)


# --- what a sender sent --------------------------------------------------------------------


async def test_seller_lists_sent_leads_newest_first_with_stage_and_outcome(
    run: Any, session: AsyncSession, world: World, settings: Settings
) -> None:
    seller_id = await new_platform_user(session, world, Role.SELLER)
    seller = await actor(session, seller_id)
    profile_id = await profile_of(session, world.contoso.organisation_id)
    base = datetime.now(UTC) - timedelta(hours=3)
    sent = []
    for n in range(3):
        lead = await intake.send_qualified_lead(
            session,
            seller,
            profile_id=profile_id,
            data=qualified_data(company={"name": f"Customer {n}"}),
            now=base + timedelta(hours=n),
            settings=settings,
        )
        assert isinstance(lead, Lead)
        sent.append(lead)
    declined = await decline_lead(
        session,
        await actor(session, world.contoso.partner_admin),
        str(sent[0].id),
        DeclineReason.NO_CAPACITY,
        None,
        now=datetime.now(UTC),
    )
    assert isinstance(declined, Lead)

    page1 = (await run(SENT, {"first": 2}, user=seller_id))["sentLeads"]
    page2 = (
        await run(SENT, {"first": 2, "after": page1["pageInfo"]["endCursor"]}, user=seller_id)
    )["sentLeads"]

    assert page1["totalCount"] == 3
    assert [e["node"]["customer"]["companyName"] for e in page1["edges"]] == [
        "Customer 2",
        "Customer 1",
    ]
    assert page1["pageInfo"]["hasNextPage"] is True
    assert [
        (e["node"]["id"], e["node"]["stage"], e["node"]["outcome"]) for e in page2["edges"]
    ] == [(str(sent[0].id), "ARCHIVED", "DECLINED")]
    assert page2["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "endCursor": page2["edges"][0]["cursor"],
    }
    assert {e["node"]["stage"] for e in page1["edges"]} == {"RECEIVED"}


async def test_referring_partner_lists_what_it_referred_and_nobody_else_does(
    run: Any, session: AsyncSession, world: World, settings: Settings
) -> None:
    partner = await make_partner(session)
    admin = await actor(session, partner.partner_admin)
    lead = await intake.refer_lead(
        session,
        admin,
        profile_id=await profile_of(session, world.northwind.organisation_id),
        data=qualified_data(),
        now=datetime.now(UTC),
        settings=settings,
    )
    assert isinstance(lead, Lead)

    mine = (await run(SENT, {}, user=partner.partner_admin))["sentLeads"]
    assert [(e["node"]["id"], e["node"]["type"], e["node"]["stage"]) for e in mine["edges"]] == [
        (str(lead.id), "SALES_QUALIFIED", "RECEIVED")
    ]
    for user in (partner.referrals_admin, partner.member, None):
        other = (await run(SENT, {}, user=user))["sentLeads"]
        assert other["edges"] == [] and other["totalCount"] == 0
    # The receiving partner's admin does not see it as sent (they may have sent others).
    receiver = (await run(SENT, {"first": 100}, user=world.northwind.partner_admin))["sentLeads"]
    assert str(lead.id) not in {e["node"]["id"] for e in receiver["edges"]}


async def test_sent_leads_arguments_are_checked(session: AsyncSession, world: World) -> None:
    seller = await actor(session, world.seller)
    assert refused(await lead_queries.list_sent_leads(session, seller, first=101)) == [
        ("VALIDATION", ("first",))
    ]
    assert refused(await lead_queries.list_sent_leads(session, seller, after="garbage")) == [
        ("VALIDATION", ("after",))
    ]


# --- the RECEIVE step for existing callers -------------------------------------------------


async def test_receive_lead_keeps_its_signature_and_groups_leads(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    address = email("kai")
    incoming = intake.IncomingLead(
        type=LeadType.CUSTOMER_INQUIRY,
        company_name="Kai Co",
        company_size="SIZE_1_9",
        country="DE",
        contact_name="Kai",
        contact_email=address,
        need="Help",
    )
    now = datetime.now(UTC)
    first = await intake.receive_lead(
        session,
        world.contoso.organisation_id,
        incoming,
        now=now - timedelta(minutes=5),
        settings=settings,
    )
    second = await intake.receive_lead(
        session, world.contoso.organisation_id, incoming, now=now, settings=settings
    )
    assert second.possible_duplicate_of == first.id
    assert second.engagement_id == first.engagement_id
    assert await outbox_topics(session, second.id) == ["lead.received", "notify.new_lead"]
