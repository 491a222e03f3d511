"""POST /import/leads.csv: deal fields and won/lost of accepted leads from CSV, through the bulk
service, all or nothing, with a dry run and a report per CSV line."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.models import Lead, LeadHistory, OutboxMessage
from app.domain.lifecycle import LeadStage
from app.main import create_app
from tests.factories import World, WorldPartner, make_lead
from tests.graphql.lead_documents import history_rows, lead_row
from tests.graphql_client import asgi_client
from tests.http.conftest import bearer

URL = "/import/leads.csv"
CSV = {"Content-Type": "text/csv; charset=utf-8"}


async def post(
    http: httpx.AsyncClient,
    settings: Settings,
    user: uuid.UUID,
    body: str | bytes,
    *,
    dry_run: str = "false",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    sent = {**CSV, **bearer(settings, user), **(headers or {})}
    content = body.encode() if isinstance(body, str) else body
    return await http.post(URL, params={"dryRun": dry_run}, content=content, headers=sent)


def lines(*rows: str) -> str:
    return "\r\n".join(rows) + "\r\n"


async def counts(session: AsyncSession, ids: list[uuid.UUID]) -> tuple[int, int]:
    history = await session.scalar(
        select(func.count()).select_from(LeadHistory).where(LeadHistory.lead_id.in_(ids))
    )
    outbox = await session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.lead_id.in_(ids))
    )
    return int(history or 0), int(outbox or 0)


@pytest.fixture
async def accepted(session: AsyncSession, partner: WorldPartner) -> list[Lead]:
    return [
        await make_lead(session, organisation_id=partner.organisation_id, stage=LeadStage.ACCEPTED)
        for _ in range(2)
    ]


def good_file(leads: list[Lead]) -> str:
    first, second = leads
    return lines(
        "id,version,crmId,notes,dealName,estimatedValueAmount,estimatedValueCurrency,"
        "outcome,finalValueAmount,finalValueCurrency,closingDate,lostReason,lostNotes",
        f'{first.id},1,CRM-1,"Pilot first, then, ""phase 2""",Adatum phase 2,60000,USD,,,,,,',
        f"{second.id},1,CRM-2,,Adatum migration,50000,USD,WON,48000,USD,2026-12-15,,",
    )


async def test_dry_run_reports_per_line_and_writes_nothing(
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    partner: WorldPartner,
    accepted: list[Lead],
) -> None:
    ids = [lead.id for lead in accepted]
    before = await counts(session, ids)
    response = await post(
        http, settings, partner.referrals_admin, good_file(accepted), dry_run="true"
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["applied"], report["dryRun"], report["errors"]) == (False, True, [])
    first, second = report["rows"]
    assert (first["row"], first["leadId"], first["ok"], first["actions"]) == (
        2,
        str(ids[0]),
        True,
        ["update"],
    )
    assert {c["field"] for c in first["changes"]} == {
        "crmId",
        "notes",
        "dealName",
        "estimatedValue",
    }
    assert (first["stage"], first["version"]) == ("ACCEPTED", 2)
    assert (second["row"], second["actions"], second["stage"], second["outcome"]) == (
        3,
        ["update", "markWon"],
        "ARCHIVED",
        "WON",
    )
    assert await counts(session, ids) == before
    assert (await lead_row(session, ids[1]))["stage"] == "ACCEPTED"


async def test_real_run_applies_every_row_with_history(
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    partner: WorldPartner,
    accepted: list[Lead],
) -> None:
    response = await post(http, settings, partner.referrals_admin, good_file(accepted))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["applied"] is True and all(r["ok"] for r in report["rows"])
    first = await lead_row(session, accepted[0].id)
    assert (first["crm_id"], first["notes"], first["deal_name"]) == (
        "CRM-1",
        'Pilot first, then, "phase 2"',
        "Adatum phase 2",
    )
    assert first["estimated_value_amount"] == Decimal("60000")
    second = await lead_row(session, accepted[1].id)
    assert (second["stage"], second["outcome"], second["final_value_amount"]) == (
        "ARCHIVED",
        "WON",
        Decimal("48000"),
    )
    assert [h.action for h in await history_rows(session, accepted[1].id)] == [
        "RECEIVE",
        "UPDATE",
        "MARK_WON",
    ]
    topics = (
        await session.scalars(
            select(OutboxMessage.topic)
            .where(OutboxMessage.lead_id == accepted[1].id)
            .order_by(OutboxMessage.id)
        )
    ).all()
    assert list(topics) == ["lead.updated", "lead.won"]


async def test_bad_values_and_refusals_apply_nothing_and_say_where(
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    partner: WorldPartner,
    accepted: list[Lead],
    world: World,
) -> None:
    foreign = await make_lead(
        session, organisation_id=world.fabrikam.organisation_id, stage=LeadStage.ACCEPTED
    )
    first, second = accepted
    body = lines(
        "id,version,notes,estimatedValueAmount,estimatedValueCurrency,outcome,lostReason,"
        "lostNotes,closingDate",
        f"{first.id},,fine,,,,,,",
        f'{second.id},,"two\nlines",abc,USD,WON,,,2027-13-01',
        f"{first.id},9,,,,,,,",
        f"{second.id},,,,,LOST,OTHER,,",
        f"{foreign.id},,x,,,,,,",
        f"{first.id},,,,,MAYBE,,,",
    )
    ids = [first.id, second.id, foreign.id]
    before = await counts(session, ids)
    response = await post(http, settings, partner.referrals_admin, body)
    assert response.status_code == 200
    report = response.json()
    assert report["applied"] is False
    got = [
        (r["row"], r["ok"], [(e["code"], e["field"]) for e in r["errors"]]) for r in report["rows"]
    ]
    assert got == [
        (2, True, []),
        (3, False, [("VALIDATION", ["estimatedValueAmount"]), ("VALIDATION", ["closingDate"])]),
        (5, False, [("CONFLICT", ["version"])]),
        (6, False, [("VALIDATION", ["lostNotes"])]),
        (7, False, [("NOT_FOUND", ["id"])]),
        (8, False, [("VALIDATION", ["outcome"])]),
    ]
    assert await counts(session, ids) == before


async def test_leads_named_by_crm_id(
    http: httpx.AsyncClient, settings: Settings, session: AsyncSession, partner: WorldPartner
) -> None:
    org = partner.organisation_id
    lead = await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED, crm_id="A-1")
    for _ in range(2):
        await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED, crm_id="TWICE")
    body = lines("crmId,notes", "A-1,From the CRM", "NOPE,x", "TWICE,y")
    report = (await post(http, settings, partner.referrals_admin, body)).json()
    assert [
        (r["row"], r["ok"], [(e["code"], e["field"]) for e in r["errors"]]) for r in report["rows"]
    ] == [
        (2, True, []),
        (3, False, [("NOT_FOUND", ["crmId"])]),
        (4, False, [("VALIDATION", ["crmId"])]),
    ]
    assert report["rows"][0]["leadId"] == str(lead.id)
    report = (
        await post(
            http, settings, partner.referrals_admin, lines("crmId,notes", "A-1,From the CRM")
        )
    ).json()
    assert report["applied"] is True
    assert (await lead_row(session, lead.id))["notes"] == "From the CRM"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (lines("id,colour", f"{uuid.uuid4()},red"), "VALIDATION", ["colour"]),
        (lines("id,notes,notes", f"{uuid.uuid4()},a,b"), "VALIDATION", ["notes"]),
        (lines("notes", "a"), "VALIDATION", None),
        (
            lines("id,estimatedValueAmount", f"{uuid.uuid4()},5"),
            "VALIDATION",
            ["estimatedValueCurrency"],
        ),
        (lines("id,notes", f"{uuid.uuid4()},a,extra"), "BAD_REQUEST", None),
        (lines("id,notes", 'x,"unclosed'), "BAD_REQUEST", None),
        ("id,notes\r\n", "BAD_REQUEST", None),
        ("", "BAD_REQUEST", None),
        (b"id,notes\r\n\xff\xfe,x\r\n", "BAD_REQUEST", None),
        (lines("id,notes", *(f"{uuid.uuid4()},n" for _ in range(1001))), "VALIDATION", None),
    ],
)
async def test_a_bad_file_gets_a_typed_400(
    http: httpx.AsyncClient,
    settings: Settings,
    partner: WorldPartner,
    body: str | bytes,
    code: str,
    field: list[str] | None,
) -> None:
    response = await post(http, settings, partner.referrals_admin, body)
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == (code, field), error


async def test_the_edge(
    http: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    partner: WorldPartner,
    accepted: list[Lead],
) -> None:
    body = good_file(accepted)
    anonymous = await http.post(URL, params={"dryRun": "true"}, content=body, headers=CSV)
    assert (anonymous.status_code, anonymous.json()["errors"][0]["code"]) == (
        401,
        "UNAUTHENTICATED",
    )
    member = await post(http, settings, partner.member, body)
    assert (member.status_code, member.json()["errors"][0]["code"]) == (403, "FORBIDDEN")
    json = await post(
        http, settings, partner.referrals_admin, body, headers={"Content-Type": "application/json"}
    )
    assert (json.status_code, json.json()["errors"][0]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    no_flag = await http.post(
        URL, content=body, headers={**CSV, **bearer(settings, partner.referrals_admin)}
    )
    assert (no_flag.status_code, no_flag.json()["errors"][0]["field"]) == (400, ["dryRun"])
    small = create_app(
        settings.model_copy(update={"csv_import_max_bytes": 1024}), sessionmaker=sessionmaker
    )
    big = lines("id,notes", *(f"{lead.id},{'n' * 600}" for lead in accepted))
    async with asgi_client(small) as client:
        too_big = await post(client, settings, partner.referrals_admin, big)
    assert (too_big.status_code, too_big.json()["errors"][0]["code"]) == (413, "PAYLOAD_TOO_LARGE")


async def test_other_methods_get_a_typed_405(
    http: httpx.AsyncClient, settings: Settings, partner: WorldPartner
) -> None:
    response = await http.get(URL, headers=bearer(settings, partner.referrals_admin))
    assert (response.status_code, response.json()["errors"][0]["code"]) == (
        405,
        "METHOD_NOT_ALLOWED",
    )
    assert response.headers["allow"] == "POST"
