"""Customer inquiries over GraphQL (R3): the lead and its alerts, typed refusals with the input
paths clients see, idempotency keys, and the per-e-mail rate limit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import BusinessProfile, LeadHistory
from tests.factories import World, unique
from tests.intake_inputs import (
    SEND,
    SUBMIT,
    Runner,
    email,
    graphql_runner,
    inquiry,
    lead_row,
    outbox_topics,
    profile_of,
    qualified,
    refusals,
    writes_nothing,
    written,
)


@pytest.fixture
async def run(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Runner]:
    async with graphql_runner(settings, sessionmaker) as runner:
        yield runner


@pytest.fixture
async def profile_id(session: AsyncSession, world: World) -> str:
    """Contoso's published profile: where the inquiries below are sent."""
    return await profile_of(session, world.contoso.organisation_id)


async def test_submit_inquiry_creates_a_received_lead_with_its_alerts(
    run: Any, session: AsyncSession, world: World, profile_id: str
) -> None:
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


async def test_validation_errors_over_graphql_carry_field_paths(
    run: Any, session: AsyncSession, profile_id: str
) -> None:
    async with writes_nothing(session):
        data = await run(
            SUBMIT,
            {
                "profileId": profile_id,
                "key": unique("k"),
                "input": inquiry(company={"country": "Germany"}, consentToContact=False),
            },
        )
        assert refusals(data, "submitInquiry") == [
            ("VALIDATION", ["input", "company", "country"]),
            ("VALIDATION", ["input", "consentToContact"]),
        ]


async def test_refusals_name_the_arguments_clients_sent(
    run: Any, session: AsyncSession, world: World, profile_id: str
) -> None:
    async with writes_nothing(session):
        bad_input = inquiry(
            company={"name": " "}, contact={"email": "@"}, need="", consentToContact=False
        )
        data = await run(SUBMIT, {"profileId": profile_id, "input": bad_input, "key": unique("k")})
        assert refusals(data, "submitInquiry") == [
            ("VALIDATION", ["input", "company", "name"]),
            ("VALIDATION", ["input", "contact", "email"]),
            ("VALIDATION", ["input", "need"]),
            ("VALIDATION", ["input", "consentToContact"]),
        ]
        data = await run(SUBMIT, {"profileId": profile_id, "input": inquiry(), "key": "  "})
        assert refusals(data, "submitInquiry") == [("VALIDATION", ["idempotencyKey"])]
        data = await run(
            SUBMIT, {"profileId": "not-a-uuid", "input": inquiry(), "key": unique("k")}
        )
        assert refusals(data, "submitInquiry") == [("VALIDATION", ["profileId"])]
        too_long = qualified(company={"industry": "i" * 101}, solutionArea="s" * 101)
        data = await run(SEND, {"profileId": profile_id, "input": too_long}, user=world.seller)
        assert refusals(data, "sendQualifiedLead") == [
            ("VALIDATION", ["input", "company", "industry"]),
            ("VALIDATION", ["input", "solutionArea"]),
        ]


async def test_unknown_or_unpublished_profiles_receive_no_inquiries(
    run: Any, session: AsyncSession, world: World
) -> None:
    profile_id = await profile_of(session, world.northwind.organisation_id)
    await session.execute(
        update(BusinessProfile)
        .where(BusinessProfile.id == uuid.UUID(profile_id))
        .values(published=False)
    )
    await session.flush()
    async with writes_nothing(session):
        for target in (profile_id, str(uuid.uuid4())):
            data = await run(SUBMIT, {"profileId": target, "input": inquiry(), "key": unique("k")})
            assert refusals(data, "submitInquiry") == [("NOT_FOUND", ["profileId"])]


async def test_same_key_same_input_returns_the_same_lead(
    run: Any, session: AsyncSession, profile_id: str
) -> None:
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
    run: Any, session: AsyncSession, profile_id: str
) -> None:
    key = unique("key")
    variables = inquiry()
    await run(SUBMIT, {"profileId": profile_id, "input": variables, "key": key})
    async with writes_nothing(session):
        changed = {**variables, "need": "Something else entirely"}
        data = await run(SUBMIT, {"profileId": profile_id, "input": changed, "key": key})

        assert refusals(data, "submitInquiry") == [("CONFLICT", ["idempotencyKey"])]


async def test_inquiries_are_rate_limited_per_email(
    run: Any, session: AsyncSession, profile_id: str
) -> None:
    address = email("flood")
    keys = []
    for n in range(5):
        keys.append(unique("key"))
        variables = inquiry(
            contact={"email": address if n % 2 else address.upper()}, need=f"Need {n}"
        )
        data = await run(SUBMIT, {"profileId": profile_id, "input": variables, "key": keys[-1]})
        assert data["submitInquiry"]["errors"] == []
    async with writes_nothing(session):
        data = await run(
            SUBMIT,
            {
                "profileId": profile_id,
                "key": unique("key"),
                "input": inquiry(contact={"email": address}, need="Need 6"),
            },
        )

        limited = [("RATE_LIMITED", ["input", "contact", "email"])]
        assert refusals(data, "submitInquiry") == limited

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
