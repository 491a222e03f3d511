"""Valid intake inputs (as GraphQL variables and as service data) and probes of what intake
wrote, shared by the intake tests (services and GraphQL). Holds no tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.utils.str_converters import to_snake_case

from app.config import Settings
from app.db.models import (
    BusinessProfile,
    IntakeRequest,
    Lead,
    LeadHistory,
    OutboxMessage,
    User,
)
from app.domain.roles import Role
from app.ratelimit import RateLimiter
from app.services import intake
from app.services.auth import Actor, load_actor
from app.services.errors import Refused
from app.services.intake import CompanyData, ContactData, InquiryData, QualifiedData
from tests.factories import World, unique
from tests.graphql.in_process import data_of, execute_in_process

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


Data = TypeVar("Data", InquiryData, QualifiedData)


def _as_data(kind: type[Data], variables: dict[str, Any]) -> Data:
    """The service's data for these GraphQL variables."""
    fields = {to_snake_case(name): value for name, value in variables.items()}
    fields["company"] = CompanyData(**fields["company"])
    fields["contact"] = ContactData(**fields["contact"])
    return kind(**fields)


def inquiry_data(**overrides: Any) -> InquiryData:
    return _as_data(InquiryData, inquiry(**overrides))


def qualified_data(**overrides: Any) -> QualifiedData:
    return _as_data(QualifiedData, qualified(**overrides))


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


@asynccontextmanager
async def writes_nothing(session: AsyncSession) -> AsyncIterator[None]:
    """The block adds no lead, history, outbox or intake row."""
    before = await written(session)
    yield
    assert await written(session) == before


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


def refusals(data: dict[str, Any], mutation: str) -> list[tuple[str, list[str] | None]]:
    """The (code, field) of each error of a refused intake mutation, which returns no lead."""
    assert data[mutation]["lead"] is None, data
    return [(e["code"], e["field"]) for e in data[mutation]["errors"]]


def refused(result: object) -> list[tuple[str, tuple[str, ...] | None]]:
    assert isinstance(result, Refused), result
    return [(e.code.value, e.field) for e in result.errors]


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


Runner = Callable[..., Awaitable[dict[str, Any]]]


@asynccontextmanager
async def graphql_runner(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Runner]:
    """`await run(document, variables, user=..., ip=..., now=...)` -> the response data: the
    served schema in-process with a real rate limiter, from a fresh client address unless `ip`
    is given."""
    limiter = RateLimiter(settings.redis_url)

    async def run(
        document: str,
        variables: dict[str, Any],
        *,
        user: uuid.UUID | None = None,
        ip: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        async with sessionmaker() as s:
            who = await load_actor(s, user) if user else None
        result = await execute_in_process(
            settings,
            sessionmaker,
            document,
            variables,
            actor=who,
            limiter=limiter,
            client_ip=ip or unique("198.51.100"),
            now=now or datetime.now(UTC),
        )
        return data_of(result)

    try:
        yield run
    finally:
        await limiter.close()
