"""The raw ceiling: Starlette + asyncpg + orjson, one SQL statement per request.

It takes the same POST /graphql requests as partner-leads (it dispatches on `operationName` and
reads `variables`; it does not parse GraphQL), verifies the same HS256 bearer token, finds the
caller's organisation inside the statement itself, and answers with the JSON partner-leads
answers for the bench's four operations (the bench compares them). What no server can avoid:
HTTP, token check, one round trip, shaping rows into JSON — behind the same tenancy wall as
partner-leads (DATABASE_URL logs in as partner_leads_app).

    uvicorn bench.raw_app:app   (DATABASE_URL, JWT_SECRET, JWT_AUDIENCE)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from iso4217 import Currency
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

SECRET = os.environ.get("JWT_SECRET", "").encode()
AUDIENCE = os.environ.get("JWT_AUDIENCE", "partner-leads")
MINOR_UNITS = {c.code: c.exponent for c in Currency if c.exponent is not None}
QUANTA = {code: Decimal(1).scaleb(-exp) for code, exp in MINOR_UNITS.items()}


# Behind the same tenancy wall as partner-leads (migration 0007): the API's role, and each
# statement names its tenant first. A read is one statement: the actor's lookup
# (`partner_leads_actor`, which also makes the tenant's settings) is the outer side of a
# LATERAL join and the read its inner side, so the settings are made before anything is read
# (as `app.db.tenancy.tenant_statement` does for partner-leads' compiled reads).
def walled(sql: str, order: str = "") -> str:
    return (
        "SELECT q.* FROM partner_leads_actor($1::uuid) AS a CROSS JOIN LATERAL "
        f"(SELECT * FROM ({sql}) AS s WHERE a.id IS NOT NULL OFFSET 0) AS q {order}"
    )


# The caller's organisation if they manage its leads (partner admin or referrals admin), from
# the actor the walled statement looked up.
ACTOR_ORG = """(CASE WHEN a.kind = 'PARTNER'
    AND a.roles && ARRAY['PARTNER_ADMIN', 'REFERRALS_ADMIN']::varchar[]
    THEN a.organisation_id END)"""
# The same inside a write's transaction, whose first statement looked the actor up.
ACTOR_ORG_OF_USER = """(SELECT u.organisation_id FROM users u
    JOIN organisations o ON o.id = u.organisation_id
    WHERE u.id = $1::uuid AND u.active AND o.kind = 'PARTNER'
      AND u.roles && ARRAY['PARTNER_ADMIN', 'REFERRALS_ADMIN']::varchar[])"""
NEWEST_FIRST = "ORDER BY q.received_at DESC, q.id DESC"

HAS_DEAL = """(l.deal_name IS NOT NULL OR l.estimated_value_amount IS NOT NULL
    OR l.estimated_purchase_date IS NOT NULL OR l.notes IS NOT NULL OR l.crm_id IS NOT NULL
    OR l.campaign_id IS NOT NULL OR l.decline_reason IS NOT NULL OR l.decline_notes IS NOT NULL
    OR l.final_value_amount IS NOT NULL OR l.closing_date IS NOT NULL
    OR l.lost_reason IS NOT NULL OR l.lost_notes IS NOT NULL) AS has_deal"""

TEAM = """ARRAY(SELECT ROW(t.id, t.name, t.email) FROM lead_team_members t
    WHERE t.lead_id = l.id ORDER BY t.added_at, t.id) AS team"""

LIST_COLUMNS = f"""l.id, l.version, l.type, l.stage, l.outcome, l.received_at, l.respond_by,
    l.updated_at, l.company_name, l.company_size, l.industry, l.country, l.contact_name,
    l.contact_email, l.need, l.contact_requested, l.deal_name, l.estimated_value_amount,
    l.estimated_value_currency, l.estimated_purchase_date, l.crm_id, {HAS_DEAL}, {TEAM}"""

# Q1: a tab, newest first. Q2: the same with stage and type filters, after a cursor.
LIST_SQL = walled(
    f"""SELECT {LIST_COLUMNS} FROM leads l
    WHERE l.organisation_id = {ACTOR_ORG} AND l.tab = $2
    ORDER BY l.received_at DESC, l.id DESC LIMIT $3""",
    NEWEST_FIRST,
)
FILTERED_WHERE = f"""l.organisation_id = {ACTOR_ORG} AND l.tab = $2
    AND l.stage = ANY($4::varchar[]) AND l.type = ANY($5::varchar[])"""
FILTERED_FIRST_SQL = walled(
    f"""SELECT {LIST_COLUMNS} FROM leads l WHERE {FILTERED_WHERE}
    ORDER BY l.received_at DESC, l.id DESC LIMIT $3""",
    NEWEST_FIRST,
)
FILTERED_SQL = walled(
    f"""SELECT {LIST_COLUMNS} FROM leads l WHERE {FILTERED_WHERE}
    AND (l.received_at, l.id) < ($6::timestamptz, $7::uuid)
    ORDER BY l.received_at DESC, l.id DESC LIMIT $3""",
    NEWEST_FIRST,
)

DETAIL_SQL = f"""SELECT l.id, l.version, l.type, l.stage, l.outcome, l.received_at, l.respond_by,
    l.company_name, l.contact_name, l.need, l.deal_name, l.estimated_value_amount,
    l.estimated_value_currency, l.notes, {HAS_DEAL}, {TEAM},
    ARRAY(SELECT ROW(h.id, h.action, h.from_stage, h.to_stage, h.outcome, h.at, h.actor_kind,
            u.name)
        FROM lead_history h LEFT JOIN users u ON u.id = h.actor_user_id
        WHERE h.lead_id = l.id ORDER BY h.id) AS history
    FROM leads l WHERE l.id = $2::uuid AND l.organisation_id = {ACTOR_ORG}"""
DETAIL_SQL = walled(DETAIL_SQL)

ACCEPT_SQL = f"""UPDATE leads l SET stage = 'ACCEPTED', deal_name = $3,
    estimated_value_amount = ($4::text)::numeric, estimated_value_currency = $5,
    estimated_purchase_date = ($6::text)::date, responded_at = now(), updated_at = now(),
    version = l.version + 1
    WHERE l.id = $2::uuid AND l.stage = 'RECEIVED' AND l.organisation_id = {ACTOR_ORG_OF_USER}
    RETURNING l.id, l.version, l.stage, l.deal_name"""


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def subject(header: str | None) -> str | None:
    """The token's user id if it is a valid, unexpired HS256 token for our audience."""
    if not header or not header.startswith("Bearer "):
        return None
    try:
        head, payload, signature = header[7:].strip().split(".")
        expected = hmac.new(SECRET, f"{head}.{payload}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _b64(signature)):
            return None
        claims = orjson.loads(_b64(payload))
        if claims.get("aud") != AUDIENCE or claims.get("exp", 0) < time.time():
            return None
        return str(claims["sub"])
    except (ValueError, KeyError, TypeError):
        return None


def cursor(received_at: datetime, lead_id: Any) -> str:
    raw = orjson.dumps(["RECEIVED_AT_DESC", received_at.isoformat(), str(lead_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str) -> tuple[datetime, str]:
    _, at, lead_id = orjson.loads(_b64(value))
    return datetime.fromisoformat(at), lead_id


def money(amount: Decimal | None, currency: str | None) -> dict[str, str] | None:
    if amount is None or not currency:
        return None
    return {
        "amount": str(amount.quantize(QUANTA.get(currency, QUANTA["USD"]))),
        "currency": currency,
    }


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def team(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"id": str(t[0]), "name": t[1], "email": t[2]} for t in rows]


def list_node(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(r["id"]),
        "version": r["version"],
        "type": r["type"],
        "stage": r["stage"],
        "outcome": r["outcome"],
        "receivedAt": r["received_at"].isoformat(),
        "respondBy": r["respond_by"].isoformat(),
        "updatedAt": r["updated_at"].isoformat(),
        "customer": {
            "companyName": r["company_name"],
            "companySize": r["company_size"],
            "industry": r["industry"],
            "country": r["country"],
            "contactName": r["contact_name"],
            "contactEmail": r["contact_email"],
            "need": r["need"],
            "contactRequested": r["contact_requested"],
        },
        "deal": {
            "name": r["deal_name"],
            "estimatedValue": money(r["estimated_value_amount"], r["estimated_value_currency"]),
            "estimatedPurchaseDate": _date(r["estimated_purchase_date"]),
            "crmId": r["crm_id"],
        }
        if r["has_deal"]
        else None,
        "team": team(r["team"]),
    }


def connection(rows: list[asyncpg.Record], limit: int) -> dict[str, Any]:
    page = rows[:limit]
    edges = [{"cursor": cursor(r["received_at"], r["id"]), "node": list_node(r)} for r in page]
    return {
        "pageInfo": {
            "hasNextPage": len(rows) > limit,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
        "edges": edges,
    }


Handler = Callable[[asyncpg.Pool, str, dict[str, Any]], Awaitable[dict[str, Any]]]


async def q1(pool: asyncpg.Pool, sub: str, v: dict[str, Any]) -> dict[str, Any]:
    limit = int(v.get("first", 50))
    rows = await pool.fetch(LIST_SQL, sub, v.get("tab", "QUALIFIED"), limit + 1)
    return {"leads": connection(rows, limit)}


async def q2(pool: asyncpg.Pool, sub: str, v: dict[str, Any]) -> dict[str, Any]:
    limit = int(v.get("first", 50))
    args = [sub, v.get("tab", "QUALIFIED"), limit + 1, v["stages"], v["types"]]
    if v.get("after"):
        rows = await pool.fetch(FILTERED_SQL, *args, *decode_cursor(v["after"]))
    else:
        rows = await pool.fetch(FILTERED_FIRST_SQL, *args)
    return {"leads": connection(rows, limit)}


async def q3(pool: asyncpg.Pool, sub: str, v: dict[str, Any]) -> dict[str, Any]:
    r = await pool.fetchrow(DETAIL_SQL, sub, v["id"])
    if r is None:
        return {"lead": None}
    return {
        "lead": {
            "id": str(r["id"]),
            "version": r["version"],
            "type": r["type"],
            "stage": r["stage"],
            "outcome": r["outcome"],
            "receivedAt": r["received_at"].isoformat(),
            "respondBy": r["respond_by"].isoformat(),
            "customer": {
                "companyName": r["company_name"],
                "contactName": r["contact_name"],
                "need": r["need"],
            },
            "deal": {
                "name": r["deal_name"],
                "estimatedValue": money(r["estimated_value_amount"], r["estimated_value_currency"]),
                "notes": r["notes"],
            }
            if r["has_deal"]
            else None,
            "team": team(r["team"]),
            "history": [
                {
                    "id": str(h[0]),
                    "action": h[1],
                    "fromStage": h[2],
                    "toStage": h[3],
                    "outcome": h[4],
                    "at": h[5].isoformat(),
                    "actor": {"kind": h[6], "name": h[7]},
                }
                for h in r["history"]
            ],
        }
    }


async def m1(pool: asyncpg.Pool, sub: str, v: dict[str, Any]) -> dict[str, Any]:
    value = v["estimatedValue"]
    # A write cannot be a LATERAL's inner side: the actor's lookup names the tenant first, in
    # the write's own transaction.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT FROM partner_leads_actor($1::uuid)", sub)
        r = await conn.fetchrow(
            ACCEPT_SQL,
            sub,
            v["id"],
            v["dealName"],
            value["amount"],
            value["currency"],
            v["estimatedPurchaseDate"],
        )
    if r is None:
        return {"acceptLead": {"lead": None, "errors": [{"code": "NOT_FOUND"}]}}
    lead = {"id": str(r["id"]), "version": r["version"], "stage": r["stage"]}
    lead["deal"] = {"name": r["deal_name"]}
    return {"acceptLead": {"lead": lead, "errors": []}}


COUNTS_SQL = walled(
    f"""SELECT l.tab, l.stage, count(*) AS n FROM leads l
    WHERE l.organisation_id = {ACTOR_ORG} GROUP BY l.tab, l.stage
    UNION ALL
    SELECT 'FAVORITES', l.stage, count(*) FROM leads l JOIN lead_favorites f ON f.lead_id = l.id
    WHERE f.user_id = $1::uuid AND l.organisation_id = {ACTOR_ORG} GROUP BY l.stage"""
)


async def c1(pool: asyncpg.Pool, sub: str, v: dict[str, Any]) -> dict[str, Any]:
    found = {(r["tab"], r["stage"]): r["n"] for r in await pool.fetch(COUNTS_SQL, sub)}
    return {
        "leadCounts": [
            {"tab": tab, "stage": stage, "count": found.get((tab, stage), 0)}
            for tab in ("MARKETPLACE", "QUALIFIED", "FAVORITES")
            for stage in ("RECEIVED", "ACCEPTED", "ARCHIVED")
        ]
    }


HANDLERS: dict[str, Handler] = {"Q1": q1, "Q2": q2, "Q3": q3, "M1": m1, "C1": c1}


async def graphql(request: Request) -> Response:
    body = orjson.loads(await request.body())
    handler = HANDLERS.get(body.get("operationName") or "")
    if handler is None:
        return Response(b'{"errors":[{"message":"unknown operation"}]}', 400)
    sub = subject(request.headers.get("authorization"))
    if sub is None:
        return Response(b'{"errors":[{"message":"unauthenticated"}]}', 401)
    data = await handler(request.app.state.pool, sub, body.get("variables") or {})
    return Response(orjson.dumps({"data": data}), media_type="application/json")


async def _keep(connection: asyncpg.Connection) -> None:
    """No reset on release: every statement here is a single read in autocommit or a write in
    its own transaction, and the tenant's settings end with either, so there is no session
    state to clear (asyncpg's default costs four statements a request)."""


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        os.environ["DATABASE_URL"],
        min_size=2,
        max_size=int(os.environ.get("DB_POOL_SIZE", "10")),
        reset=_keep,
        server_settings={"application_name": "bench-raw"},
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = Starlette(routes=[Route("/graphql", graphql, methods=["POST"])], lifespan=lifespan)
