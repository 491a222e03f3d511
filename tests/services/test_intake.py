"""Lead intake services (R3, R4): what an inquiry, a qualified lead and a referral check, the
idempotency key, the per-client rate limit, and the refusals naming the argument that was wrong.
The RECEIVE step: test_receive.py; over GraphQL: tests/graphql/test_intake*.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import BusinessProfile, Lead
from app.ratelimit import RateLimiter
from app.services import intake, lead_queries
from app.services.errors import Refused
from tests.factories import World, make_partner, unique
from tests.intake_inputs import (
    actor,
    inquiry_data,
    profile_of,
    qualified_data,
    refused,
    submit,
    writes_nothing,
)


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"company": {"name": "   "}}, [("company", "name")]),
        ({"company": {"name": "x" * 201}}, [("company", "name")]),
        ({"company": {"size": "HUGE"}}, [("company", "size")]),
        ({"company": {"industry": "i" * 101}}, [("company", "industry")]),
        ({"company": {"country": "us"}}, [("company", "country")]),
        ({"company": {"country": "USA"}}, [("company", "country")]),
        ({"contact": {"name": ""}}, [("contact", "name")]),
        ({"contact": {"email": "not-an-address"}}, [("contact", "email")]),
        ({"contact": {"email": " "}}, [("contact", "email")]),
        ({"contact": {"phone": "call me"}}, [("contact", "phone")]),
        ({"need": ""}, [("need",)]),
        ({"need": "n" * 5001}, [("need",)]),
        ({"consentToContact": False}, [("consent_to_contact",)]),
        (
            {"company": {"name": "", "country": "1"}, "contact": {"email": "@"}, "need": " "},
            [
                ("company", "name"),
                ("company", "country"),
                ("contact", "email"),
                ("need",),
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
    async with writes_nothing(session):
        result = await submit(session, settings, profile_id, inquiry_data(**overrides))

        assert refused(result) == [("VALIDATION", f) for f in fields]


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
        assert refused(result) == [("VALIDATION", ("idempotency_key",))]


async def test_an_unknown_or_malformed_profile_id_is_refused(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    async with writes_nothing(session):
        assert refused(await submit(session, settings, "not-a-uuid")) == [
            ("VALIDATION", ("profile_id",))
        ]
        assert refused(await submit(session, settings, str(uuid.uuid4()))) == [
            ("NOT_FOUND", ("profile_id",))
        ]


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
    session: AsyncSession, world: World, settings: Settings
) -> None:
    profile_id = await profile_of(session, world.contoso.organisation_id)
    ip = unique("198.51.100.7")
    limiter = RateLimiter(settings.redis_url)
    try:
        for _ in range(10):
            lead = await submit(session, settings, profile_id, ip=ip, limiter=limiter)
            assert isinstance(lead, Lead)
        async with writes_nothing(session):
            result = await submit(session, settings, profile_id, ip=ip, limiter=limiter)

            assert refused(result) == [("RATE_LIMITED", None)]
            assert isinstance(result, Refused)
            assert result.errors[0].message.startswith("too many inquiries, retry in ")
        # Another client is not affected.
        other = unique("198.51.100.8")
        assert isinstance(
            await submit(session, settings, profile_id, ip=other, limiter=limiter), Lead
        )
    finally:
        await limiter.close()


async def test_a_replayed_inquiry_does_not_count_against_the_client_limit(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    """A client retrying an inquiry whose answer it lost (same key, same input) gets its lead
    back however often it retries; only new inquiries count."""
    profile_id = await profile_of(session, world.contoso.organisation_id)
    ip = unique("198.51.100.9")
    limiter = RateLimiter(settings.redis_url)
    try:
        key, data = unique("key"), inquiry_data()
        first = await submit(session, settings, profile_id, data, key=key, ip=ip, limiter=limiter)
        assert isinstance(first, Lead)
        for _ in range(12):
            again = await submit(
                session, settings, profile_id, data, key=key, ip=ip, limiter=limiter
            )
            assert isinstance(again, Lead) and again.id == first.id
        for _ in range(9):
            lead = await submit(session, settings, profile_id, ip=ip, limiter=limiter)
            assert isinstance(lead, Lead)
        result = await submit(session, settings, profile_id, ip=ip, limiter=limiter)
        assert refused(result) == [("RATE_LIMITED", None)]
        # Even at the limit, a retry is answered.
        again = await submit(session, settings, profile_id, data, key=key, ip=ip, limiter=limiter)
        assert isinstance(again, Lead) and again.id == first.id
    finally:
        await limiter.close()


async def send(
    session: AsyncSession,
    settings: Settings,
    user: uuid.UUID,
    source: intake.LeadSource,
    profile_id: str,
    **overrides: Any,
) -> Lead | Refused:
    return await intake.send_lead(
        session,
        await actor(session, user),
        source,
        profile_id=profile_id,
        data=qualified_data(**overrides),
        now=datetime.now(UTC),
        settings=settings,
    )


async def test_qualified_leads_and_referrals_name_what_was_wrong(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    fabrikam = await profile_of(session, world.fabrikam.organisation_id)
    own = await profile_of(session, world.contoso.organisation_id)
    async with writes_nothing(session):
        marketing = await send(session, settings, world.marketer, intake.PLATFORM_STAFF, fabrikam)
        assert refused(marketing) == [("VALIDATION", ("campaign_id",))]
        too_long = await send(
            session, settings, world.seller, intake.PLATFORM_STAFF, fabrikam, solutionArea="s" * 101
        )
        assert refused(too_long) == [("VALIDATION", ("solution_area",))]
        to_itself = await send(session, settings, world.contoso.partner_admin, intake.REFERRAL, own)
        assert refused(to_itself) == [("VALIDATION", ("profile_id",))]


async def test_a_partner_without_a_published_profile_is_not_referred_to(
    session: AsyncSession, world: World, settings: Settings
) -> None:
    partner = await make_partner(session)
    profile = BusinessProfile(
        id=uuid.uuid4(), organisation_id=partner.organisation_id, name="Draft", published=False
    )
    session.add(profile)
    await session.flush()
    result = await intake.send_lead(
        session,
        await actor(session, world.contoso.partner_admin),
        intake.REFERRAL,
        profile_id=str(profile.id),
        data=qualified_data(),
        now=datetime.now(UTC),
        settings=settings,
    )
    assert refused(result) == [("NOT_FOUND", ("profile_id",))]


async def test_sent_leads_arguments_are_checked(session: AsyncSession, world: World) -> None:
    seller = await actor(session, world.seller)
    now = datetime.now(UTC)
    sent = partial(lead_queries.list_sent_leads, contact_hidden_before=now)
    assert refused(await sent(session, seller, first=101)) == [("VALIDATION", ("first",))]
    assert refused(await sent(session, seller, after="garbage")) == [("VALIDATION", ("after",))]
