"""GET /export/leads.csv: the same credentials, tabs, filters and order as `leads`; RFC 4180;
formula-safe user text; streamed in constant memory."""

from __future__ import annotations

import asyncio
import csv
import io
import time
import tracemalloc
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from starlette.applications import Starlette

from app.config import Settings
from app.domain.lifecycle import LeadStage, LeadType
from app.domain.roles import Role
from app.services.lead_export import EXPORT_COLUMNS
from tests.factories import World, WorldPartner, make_api_key, make_lead
from tests.http.conftest import bearer, copy_leads

URL = "/export/leads.csv"
HEADER = [c.header for c in EXPORT_COLUMNS]


def parse(body: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0] == HEADER
    return [dict(zip(HEADER, row, strict=True)) for row in rows[1:]]


async def export(
    http: httpx.AsyncClient, settings: Settings, user: uuid.UUID, **params: Any
) -> list[dict[str, str]]:
    response = await http.get(URL, params=params, headers=bearer(settings, user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    return parse(response.text)


async def test_credentials_are_those_of_graphql(
    http: httpx.AsyncClient, settings: Settings, partner: WorldPartner
) -> None:
    anonymous = await http.get(URL, params={"tab": "MARKETPLACE"})
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["code"] == "UNAUTHENTICATED"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    forged = await http.get(
        URL, params={"tab": "MARKETPLACE"}, headers={"Authorization": "Bearer not.a.jwt"}
    )
    assert (forged.status_code, forged.json()["errors"][0]["code"]) == (401, "UNAUTHENTICATED")
    assert "jwt" not in forged.text.lower().replace("not.a.jwt", "")
    basic = await http.get(URL, params={"tab": "MARKETPLACE"}, headers={"Authorization": "Basic x"})
    assert basic.status_code == 401
    unknown = await http.get(
        URL, params={"tab": "MARKETPLACE"}, headers=bearer(settings, uuid.uuid4())
    )
    assert unknown.status_code == 401
    member = await http.get(
        URL, params={"tab": "MARKETPLACE"}, headers=bearer(settings, partner.member)
    )
    assert (member.status_code, member.json()["errors"][0]["code"]) == (403, "FORBIDDEN")


async def test_an_api_key_exports_as_it_reads_and_a_revoked_one_is_refused(
    http: httpx.AsyncClient, settings: Settings, session: AsyncSession, partner: WorldPartner
) -> None:
    await make_lead(session, organisation_id=partner.organisation_id, company_name="Keyed Co")
    key, secret = await make_api_key(
        session, settings, organisation_id=partner.organisation_id, roles=(Role.REFERRALS_ADMIN,)
    )
    headers = {"Authorization": f"Bearer {secret}"}
    response = await http.get(URL, params={"tab": "MARKETPLACE"}, headers=headers)
    assert response.status_code == 200, response.text
    assert [row["companyName"] for row in parse(response.text)] == ["Keyed Co"]
    key.revoked_at = datetime.now(UTC)
    await session.flush()
    refused = await http.get(URL, params={"tab": "MARKETPLACE"}, headers=headers)
    assert (refused.status_code, refused.json()["errors"][0]["code"]) == (401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({}, 400, "VALIDATION", ["tab"]),
        ({"tab": "INBOX"}, 400, "VALIDATION", ["tab"]),
        ({"tab": "MARKETPLACE", "stages": "RECEIVED,NOPE"}, 400, "VALIDATION", ["stages"]),
        ({"tab": "MARKETPLACE", "orderBy": "NAME"}, 400, "VALIDATION", ["orderBy"]),
        ({"tab": "MARKETPLACE", "receivedFrom": "yesterday"}, 400, "VALIDATION", ["receivedFrom"]),
        (
            {"tab": "MARKETPLACE", "contactRequested": "maybe"},
            400,
            "VALIDATION",
            ["contactRequested"],
        ),
        ({"tab": "MARKETPLACE", "search": "x" * 201}, 400, "VALIDATION", ["search"]),
        (
            {"tab": "MARKETPLACE", "receivedFrom": "2026-02-01", "receivedTo": "2026-01-01"},
            400,
            "VALIDATION",
            ["receivedFrom"],
        ),
        ({"tab": "MARKETPLACE", "limit": "10"}, 400, "BAD_REQUEST", ["limit"]),
    ],
)
async def test_bad_parameters_get_typed_400s(
    http: httpx.AsyncClient,
    settings: Settings,
    partner: WorldPartner,
    params: dict[str, str],
    status: int,
    code: str,
    field: list[str],
) -> None:
    response = await http.get(URL, params=params, headers=bearer(settings, partner.referrals_admin))
    assert response.status_code == status
    [error] = response.json()["errors"]
    assert (error["code"], error["field"]) == (code, field), error
    assert error["message"]


async def test_quoting_and_formula_escaping(
    http: httpx.AsyncClient, settings: Settings, session: AsyncSession, partner: WorldPartner
) -> None:
    lead = await make_lead(
        session,
        organisation_id=partner.organisation_id,
        stage=LeadStage.ACCEPTED,
        company_name='=HYPERLINK("http://evil.example","click")',
        contact_phone="+1 555 0100",
        contact_name="@SUM(A1)",
        need='Line one,\r\nline "two"',
        notes="-2+3",
        deal_name="\tTabbed",
        crm_id="\rCR",
        industry="Plain, with a comma",
        estimated_value_amount=Decimal("48000"),
        estimated_value_currency="JPY",
    )
    response = await http.get(
        URL, params={"tab": "MARKETPLACE"}, headers=bearer(settings, partner.referrals_admin)
    )
    assert response.headers["content-disposition"] == 'attachment; filename="leads.csv"'
    body = response.text
    assert body.endswith("\r\n") and body.startswith(",".join(HEADER) + "\r\n")
    assert '"\'=HYPERLINK(""http://evil.example"",""click"")"' in body, "RFC 4180 quoting"
    [row] = parse(body)
    assert row["id"] == str(lead.id)
    assert row["companyName"] == '\'=HYPERLINK("http://evil.example","click")'
    assert row["contactPhone"] == "'+1 555 0100"
    assert row["contactName"] == "'@SUM(A1)"
    assert row["notes"] == "'-2+3"
    assert row["dealName"] == "'\tTabbed"
    assert row["crmId"] == "'\rCR"
    assert row["need"] == 'Line one,\r\nline "two"', "a line break inside a quoted cell"
    assert row["industry"] == "Plain, with a comma"
    assert (row["estimatedValueAmount"], row["estimatedValueCurrency"]) == ("48000", "JPY")
    assert (row["stage"], row["version"], row["contactRequested"]) == ("ACCEPTED", "1", "false")
    assert row["outcome"] == "" and row["closingDate"] == ""
    assert datetime.fromisoformat(row["receivedAt"]) == lead.received_at


async def test_tabs_filters_and_order_as_leads_takes_them(
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    partner: WorldPartner,
    world: World,
) -> None:
    org = partner.organisation_id
    now = datetime.now(UTC)

    async def lead(hours: int, **fields: Any) -> str:
        made = await make_lead(
            session, organisation_id=org, received_at=now - timedelta(hours=hours), **fields
        )
        return str(made.id)

    old_received = await lead(30, company_name="Fabrikam Foods")
    accepted = await lead(20, stage=LeadStage.ACCEPTED, company_name="Adatum Retail")
    new_received = await lead(10, company_name="Adatum Cloud", contact_requested=True)
    qualified = await lead(5, type=LeadType.SALES_QUALIFIED)
    await make_lead(session, organisation_id=world.fabrikam.organisation_id)
    user = partner.referrals_admin

    ids = [r["id"] for r in await export(http, settings, user, tab="MARKETPLACE")]
    assert ids == [new_received, accepted, old_received], "newest first by default; one tenant"
    ids = [
        r["id"]
        for r in await export(http, settings, user, tab="MARKETPLACE", orderBy="RECEIVED_AT_ASC")
    ]
    assert ids == [old_received, accepted, new_received]
    ids = [
        r["id"] for r in await export(http, settings, user, tab="MARKETPLACE", stages="RECEIVED")
    ]
    assert ids == [new_received, old_received]
    ids = [r["id"] for r in await export(http, settings, user, tab="MARKETPLACE", search="adat")]
    assert ids == [new_received, accepted]
    ids = [
        r["id"]
        for r in await export(http, settings, user, tab="MARKETPLACE", contactRequested="true")
    ]
    assert ids == [new_received]
    ids = [
        r["id"]
        for r in await export(
            http,
            settings,
            user,
            tab="MARKETPLACE",
            receivedFrom=(now - timedelta(hours=25)).isoformat(),
            receivedTo=(now - timedelta(hours=15)).isoformat(),
        )
    ]
    assert ids == [accepted]
    assert [r["id"] for r in await export(http, settings, user, tab="QUALIFIED")] == [qualified]
    response = await http.get(
        URL + "?tab=MARKETPLACE&stages=ACCEPTED&stages=RECEIVED&types=CUSTOMER_INQUIRY",
        headers=bearer(settings, user),
    )
    assert [r["id"] for r in parse(response.text)] == [new_received, accepted, old_received]


@dataclass
class Consumed:
    status: int = 0
    chunks: int = 0
    bytes: int = 0
    lines: int = 0
    largest_chunk: int = 0
    seconds: float = 0.0
    peak: int = 0
    headers: dict[str, str] = field(default_factory=dict)


async def consume(app: Starlette, token: str, query: str) -> Consumed:
    """The export straight from the ASGI app, each chunk counted and dropped as it arrives, so
    what is measured is what the server holds."""
    consumed = Consumed()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            consumed.status = message["status"]
        elif message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            consumed.chunks += 1
            consumed.bytes += len(chunk)
            consumed.lines += chunk.count(b"\r\n")
            consumed.largest_chunk = max(consumed.largest_chunk, len(chunk))
            if not message.get("more_body"):
                done.set()

    tracemalloc.start()
    started = time.perf_counter()
    try:
        await app(scope, receive, send)
        consumed.seconds = time.perf_counter() - started
        consumed.peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return consumed


async def test_streams_in_constant_memory(
    app: Starlette,
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    connection: AsyncConnection,
) -> None:
    """20,000 rows hold no more memory than 2,000: the server holds a batch at a time."""
    from tests.factories import make_partner

    small, large = await make_partner(session), await make_partner(session)
    await copy_leads(connection, small.organisation_id, 2_000)
    await copy_leads(connection, large.organisation_id, 20_000)
    token_small = bearer(settings, small.referrals_admin)["Authorization"].split()[1]
    token_large = bearer(settings, large.referrals_admin)["Authorization"].split()[1]
    await consume(app, token_small, "tab=MARKETPLACE")  # warm: compiled statements, caches

    two = await consume(app, token_small, "tab=MARKETPLACE")
    twenty = await consume(app, token_large, "tab=MARKETPLACE")
    print(
        f"\nCSV export: 2,000 rows peak {two.peak / 1e6:.2f} MB ({two.bytes / 1e6:.1f} MB out); "
        f"20,000 rows peak {twenty.peak / 1e6:.2f} MB ({twenty.bytes / 1e6:.1f} MB out, "
        f"{twenty.chunks} chunks, {twenty.seconds:.1f} s under tracemalloc)"
    )
    assert (two.status, twenty.status) == (200, 200)
    assert (two.lines, twenty.lines) == (2_001, 20_001), "a header and every row, no cap"
    assert twenty.chunks >= 20, "sent as it is read, a batch at a time"
    assert twenty.largest_chunk < twenty.bytes / 10
    assert twenty.peak < two.peak * 1.5, (two.peak, twenty.peak)


async def test_other_methods_get_a_typed_405_and_head_runs_no_export(
    http: httpx.AsyncClient, settings: Settings, partner: WorldPartner
) -> None:
    auth = bearer(settings, partner.referrals_admin)
    posted = await http.post(URL, params={"tab": "MARKETPLACE"}, headers=auth)
    assert (posted.status_code, posted.json()["errors"][0]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert posted.headers["allow"] == "GET, HEAD"
    head = await http.head(URL, params={"tab": "MARKETPLACE"}, headers=auth)
    assert (head.status_code, head.headers["content-type"], head.content) == (
        200,
        "text/csv; charset=utf-8",
        b"",
    )
    assert (await http.head(URL, params={"tab": "NOPE"}, headers=auth)).status_code == 400


async def test_team_filters_export_what_leads_lists_and_bad_values_are_typed(
    http: httpx.AsyncClient,
    settings: Settings,
    session: AsyncSession,
    partner: WorldPartner,
    world: World,
) -> None:
    org, sender = partner.organisation_id, world.contoso.organisation_id
    br = await make_lead(
        session,
        organisation_id=org,
        country="BR",
        sender_organisation_id=sender,
        campaign_id="spring-26",
        company_size="SIZE_1_9",
    )
    pt = await make_lead(session, organisation_id=org, country="PT", industry="Banking")
    await make_lead(session, organisation_id=org, country="US")
    user = partner.referrals_admin

    async def exported(**params: Any) -> set[str]:
        return {r["id"] for r in await export(http, settings, user, tab="MARKETPLACE", **params)}

    assert await exported(countries="BR,PT") == {str(br.id), str(pt.id)}
    assert await exported(countries=["BR", "PT"], industries="Banking") == {str(pt.id)}
    assert await exported(senderOrganisationIds=str(sender)) == {str(br.id)}
    assert await exported(campaignIds="spring-26", companySizes="SIZE_1_9") == {str(br.id)}
    assert await exported(dueWithinHours="24", countries="PT") == set()  # due in 14 days
    assert await exported(dueWithinHours="720", countries="PT") == {str(pt.id)}
    for params, path in (
        ({"countries": "BR,bra"}, ["countries", "1"]),
        ({"companySizes": "HUGE"}, ["companySizes"]),
        ({"senderOrganisationIds": "nope"}, ["senderOrganisationIds", "0"]),
        ({"dueWithinHours": "soon"}, ["dueWithinHours"]),
        ({"dueWithinHours": "0"}, ["dueWithinHours"]),
    ):
        response = await http.get(
            URL, params={"tab": "MARKETPLACE", **params}, headers=bearer(settings, user)
        )
        assert response.status_code == 400, params
        [error] = response.json()["errors"]
        assert (error["code"], error["field"]) == ("VALIDATION", path), error


async def test_a_hidden_contact_is_exported_as_the_api_shows_it(
    http: httpx.AsyncClient, settings: Settings, session: AsyncSession, partner: WorldPartner
) -> None:
    """CONTACT_HIDDEN_AFTER_DAYS after a decline or expiry, and once redacted, the contact
    cells are empty and `contactHidden` says why (app/domain/privacy.py)."""
    now = datetime.now(UTC)

    async def archived(outcome: str, days: int, **fields: Any) -> str:
        lead = await make_lead(
            session,
            organisation_id=partner.organisation_id,
            stage=LeadStage.ARCHIVED,
            received_at=now - timedelta(days=days + 2),
            outcome=outcome,
            archived_at=now - timedelta(days=days),
            **{
                "contact_phone": "+1 555 0100",
                **({"decline_reason": "OTHER"} if outcome == "DECLINED" else {}),
                **fields,
            },
        )
        return str(lead.id)

    recent = await archived("DECLINED", 10)
    old = await archived("EXPIRED", 31)
    redacted = await archived(
        "EXPIRED",
        5,
        contact_name="",
        contact_email="",
        need="",
        contact_phone=None,
        pii_redacted_at=now,
    )
    rows = {
        r["id"]: r for r in await export(http, settings, partner.referrals_admin, tab="MARKETPLACE")
    }
    contact = ("contactName", "contactEmail", "contactPhone", "contactHidden")
    assert [rows[recent][c] for c in contact] == [
        "Ana Silva",
        "ana@adatum.example",
        "'+1 555 0100",  # formula-safe
        "false",
    ]
    assert [rows[old][c] for c in contact] == ["", "", "", "true"]
    assert rows[old]["need"] == "Cloud migration"
    assert [rows[redacted][c] for c in (*contact, "need")] == ["", "", "", "true", ""]
    # Nor does a word search find a hidden contact by its words (its other words still do).
    searched = await export(
        http, settings, partner.referrals_admin, tab="MARKETPLACE", search="ana adatum"
    )
    assert {r["id"] for r in searched} >= {recent} and old not in {r["id"] for r in searched}
    searched = await export(
        http, settings, partner.referrals_admin, tab="MARKETPLACE", search="adatum"
    )
    assert {recent, old} <= {r["id"] for r in searched}
