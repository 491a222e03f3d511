"""Issue 10's acceptance: a CRM connector, as an integration engineer writes one, against a
real server. With an API key it pages `leadChanges` to the end; another process changes leads,
and two transactions commit out of the order of their ids; the connector resumes from its
cursor and ends with exactly the database's state. It bulk-updates 500 leads (a dry run, then
for real), exports 100,000 leads as CSV in constant memory, and redelivers a failed webhook.

Everything here commits (a real server, another process, a worker's relay), in a database of
its own that is dropped afterwards; the server is wired as in production (its own engine and
read pools, as partner_leads_app)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import textwrap
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import uvicorn
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.migrate import upgrade
from app.db.session import create_engine
from app.dev.smtp_sink import MailSink
from app.domain.lifecycle import LeadStage
from app.main import create_app
from app.notify.deliver import Deps
from app.services.auth import issue_token
from tests.factories import WorldPartner, make_lead, make_partner
from tests.http.conftest import copy_leads
from tests.receivers import WebhookReceiver
from tests.waiting import eventually
from workers.outbox import relay

FEED = """query($after: String, $first: Int) {
  leadChanges(after: $after, first: $first) {
    edges { cursor node { id action version lead { id version stage deal { crmId notes } } } }
    pageInfo { endCursor hasNextPage }
  }
}"""
CREATE_KEY = """mutation($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { apiKey { id prefix } secret errors { code field message } }
}"""
BULK = """mutation($input: BulkLeadActionsInput!) {
  bulkLeadActions(input: $input) { applied results { index leadId ok version errors { code } } }
}"""

# What the other process does: the partner's own people working leads through the API.
OTHER_PROCESS = textwrap.dedent(
    """
    import json, os, sys
    import httpx
    url, token = os.environ["API_URL"], os.environ["API_TOKEN"]
    accept = ("mutation($id: ID!) { acceptLead(input: {id: $id, dealName: \\"Pilot\\", "
              "estimatedValue: {amount: \\"12000\\", currency: \\"EUR\\"}, "
              "estimatedPurchaseDate: \\"2027-03-01\\"}) { errors { code } } }")
    decline = ("mutation($id: ID!) { declineLead(input: {id: $id, reason: NO_CAPACITY}) "
               "{ errors { code } } }")
    with httpx.Client(base_url=url, headers={"Authorization": "Bearer " + token}) as http:
        for lead_id in json.loads(os.environ["ACCEPT"]):
            body = http.post("/graphql", json={"query": accept, "variables": {"id": lead_id}})
            assert body.json()["data"]["acceptLead"]["errors"] == [], body.text
        for lead_id in json.loads(os.environ["DECLINE"]):
            body = http.post("/graphql", json={"query": decline, "variables": {"id": lead_id}})
            assert body.json()["data"]["declineLead"]["errors"] == [], body.text
    print("done")
    """
)


@dataclass
class Connector:
    """The connector's own store: each lead's state as the feed last showed it, and where to
    resume. Nothing else survives a restart."""

    http: httpx.AsyncClient
    cursor: str | None = None
    leads: dict[str, tuple[int, str, str | None, str | None]] = field(default_factory=dict)
    seen: int = 0

    async def post(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def sync(self) -> int:
        """Pages the feed from its cursor to the end; the number of changes read."""
        read = 0
        while True:
            page = (await self.post(FEED, {"after": self.cursor, "first": 100}))["leadChanges"]
            for edge in page["edges"]:
                lead = edge["node"]["lead"]
                deal = lead["deal"] or {}
                self.leads[lead["id"]] = (
                    lead["version"],
                    lead["stage"],
                    deal.get("crmId"),
                    deal.get("notes"),
                )
            read += len(page["edges"])
            self.cursor = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                self.seen += read
                return read


@dataclass
class World:
    settings: Settings
    engine: AsyncEngine  # the owner's: test data and checks
    partner: WorldPartner


@pytest.fixture
async def own_world(empty_database: str, settings: Settings) -> AsyncIterator[World]:
    """A database of its own, migrated, with a partner and 40 received leads."""
    upgrade(empty_database)
    own = settings.model_copy(update={"database_url": empty_database})
    engine = create_engine(own, pool_size=2, max_overflow=2)
    try:
        async with AsyncSession(engine) as session, session.begin():
            partner = await make_partner(session)
            for _ in range(40):
                await make_lead(session, organisation_id=partner.organisation_id)
        yield World(own, engine, partner)
    finally:
        await engine.dispose()


@asynccontextmanager
async def server(settings: Settings) -> AsyncIterator[str]:
    """The API under uvicorn on loopback, wired as `partner-leads serve` wires it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    running = uvicorn.Server(config)
    task = asyncio.ensure_future(running.serve())

    async def started() -> bool:
        return running.started

    await eventually(started, timeout=20, describe="the server started")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        running.should_exit = True
        await task


async def database_state(
    engine: AsyncEngine, organisation_id: uuid.UUID, ids: set[str] | None = None
) -> dict[str, tuple[int, str, str | None, str | None]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT id, version, stage, crm_id, notes FROM leads WHERE organisation_id = :o"
                ),
                {"o": organisation_id},
            )
        ).all()
    state = {str(r[0]): (r[1], r[2], r[3], r[4]) for r in rows}
    return state if ids is None else {k: v for k, v in state.items() if k in ids}


async def create_key(address: str, settings: Settings, admin: uuid.UUID) -> str:
    async with httpx.AsyncClient(base_url=f"http://{address}") as http:
        response = await http.post(
            "/graphql",
            headers={"Authorization": f"Bearer {issue_token(settings, admin)}"},
            json={
                "query": CREATE_KEY,
                "variables": {"input": {"name": "CRM sync", "roles": ["PARTNER_ADMIN"]}},
            },
        )
    payload = response.json()["data"]["createApiKey"]
    assert payload["errors"] == []
    secret: str = payload["secret"]
    return secret


async def other_process(address: str, key: str, accept: list[str], decline: list[str]) -> None:
    import json

    env = dict(
        os.environ,
        API_URL=f"http://{address}",
        API_TOKEN=key,
        ACCEPT=json.dumps(accept),
        DECLINE=json.dumps(decline),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        OTHER_PROCESS,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "done"


OUT_OF_ORDER = text(
    "WITH lead AS (UPDATE leads SET notes = :notes, version = version + 1, updated_at = now() "
    "WHERE id = :lead RETURNING id, stage) "
    "INSERT INTO lead_history (lead_id, action, from_stage, to_stage, actor_kind, changes) "
    "SELECT id, 'UPDATE', stage, stage, 'SYSTEM', CAST(:changes AS jsonb) FROM lead RETURNING id"
)


async def test_a_crm_connector_stays_in_step_with_the_partner(
    own_world: World, tmp_path: Path
) -> None:
    settings, engine, partner = own_world.settings, own_world.engine, own_world.partner
    org = partner.organisation_id
    async with server(settings) as address:
        key = await create_key(address, settings, partner.partner_admin)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(
            base_url=f"http://{address}", headers=headers, timeout=120
        ) as http:
            connector = Connector(http)

            # 1. The first sync pages the whole feed: every lead, as the database has it.
            assert await connector.sync() == 40
            assert connector.leads == await database_state(engine, org)

            # 2. Another process works leads while the connector is away.
            ids = sorted(connector.leads)
            await other_process(address, key, accept=ids[:5], decline=ids[5:8])
            assert await connector.sync() == 8
            assert connector.leads == await database_state(engine, org)

            # 3. Two transactions commit out of the order of their ids, around a poll.
            first, second = ids[10], ids[11]
            async with engine.connect() as t1, engine.connect() as t2:
                await t1.begin()
                await t1.execute(
                    OUT_OF_ORDER, {"lead": first, "notes": "T1", "changes": '{"notes": "T1"}'}
                )
                await t2.begin()
                await t2.execute(
                    OUT_OF_ORDER, {"lead": second, "notes": "T2", "changes": '{"notes": "T2"}'}
                )
                await t2.commit()
                assert await connector.sync() == 0, "T2 waits until T1, before it, is done"
                await t1.commit()
            # A restart: a new client, the stored cursor.
            async with httpx.AsyncClient(
                base_url=f"http://{address}", headers=headers, timeout=120
            ) as again:
                restarted = Connector(again, cursor=connector.cursor, leads=connector.leads)
                assert await restarted.sync() == 2
            assert restarted.leads == await database_state(engine, org)
            connector = Connector(http, cursor=restarted.cursor, leads=restarted.leads)

            # 4. Bulk: 500 accepted leads get their CRM ids, first as a dry run.
            async with AsyncSession(engine) as session, session.begin():
                accepted = [
                    str(
                        (await make_lead(session, organisation_id=org, stage=LeadStage.ACCEPTED)).id
                    )
                    for _ in range(500)
                ]
            await connector.sync()
            actions = [
                {"update": {"id": lead_id, "expectedVersion": 1, "crmId": f"CRM-{n}"}}
                for n, lead_id in enumerate(accepted)
            ]
            before = await database_state(engine, org, set(accepted))
            dry = (await connector.post(BULK, {"input": {"dryRun": True, "actions": actions}}))[
                "bulkLeadActions"
            ]
            assert dry["applied"] is False and all(r["ok"] for r in dry["results"])
            assert await database_state(engine, org, set(accepted)) == before
            assert await connector.sync() == 0
            real = (await connector.post(BULK, {"input": {"dryRun": False, "actions": actions}}))[
                "bulkLeadActions"
            ]
            assert real["applied"] is True and all(r["version"] == 2 for r in real["results"])
            assert await connector.sync() == 500
            assert connector.leads == await database_state(engine, org)
            assert {connector.leads[i][2] for i in accepted} == {f"CRM-{n}" for n in range(500)}

            # 5. Export 100,000 leads as CSV, streamed: the server holds a batch at a time.
            async with engine.begin() as conn:
                await copy_leads(conn, org, 100_000)
            lines, size, peak, seconds = await export_lines(http)
            async with engine.connect() as conn:
                marketplace = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM leads "
                            "WHERE organisation_id = :o AND tab = 'MARKETPLACE'"
                        ),
                        {"o": org},
                    )
                ).scalar_one()
            print(
                f"\nconnector: CSV export of {lines - 1:,} leads, {size / 1e6:.1f} MB in "
                f"{seconds:.1f} s; Python memory peak {peak / 1e6:.1f} MB (server and client)"
            )
            assert marketplace >= 100_000
            assert lines == marketplace + 1  # the header, and every lead: no cap
            assert size > 25e6 and peak < size / 4, "the export was never held whole"

            # 6. A webhook whose receiver was down: its delivery failed for good; once the
            # receiver is back, the connector redelivers it, and it arrives, signed.
            await redeliver_a_failed_webhook(connector, settings, tmp_path)


async def export_lines(http: httpx.AsyncClient) -> tuple[int, int, int, float]:
    """(lines, bytes, peak traced memory, seconds) of the MARKETPLACE export, read in chunks."""
    lines = size = 0
    tracemalloc.start()
    started = time.perf_counter()
    try:
        async with http.stream("GET", "/export/leads.csv", params={"tab": "MARKETPLACE"}) as got:
            assert got.status_code == 200
            async for chunk in got.aiter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")  # no cell here holds a line break
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return lines, size, peak, time.perf_counter() - started


HOOK = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } secret errors { code } }
}"""
ENABLE = """mutation($id: ID!) {
  updateWebhookEndpoint(input: {id: $id, active: true}) { endpoint { active } errors { code } }
}"""
PING = """mutation($id: ID!) {
  pingWebhookEndpoint(input: {id: $id}) { delivery { id status } errors { code } }
}"""
DEAD = """query($id: ID!) {
  webhookDeliveries(endpointId: $id, status: DEAD) { id eventType status attemptCount }
}"""
REDELIVER = """mutation($id: ID!) {
  redeliverWebhookDelivery(input: {id: $id}) { delivery { status } errors { code } }
}"""
SENT = """query($id: ID!) {
  webhookDeliveries(endpointId: $id, status: SENT) { id eventType attemptCount }
}"""


async def redeliver_a_failed_webhook(
    connector: Connector, settings: Settings, tmp_path: Path
) -> None:
    """The worker's own relay job, as the worker's role, against a real receiver."""
    workers = create_engine(settings, settings.jobs_database_url, pool_size=2, max_overflow=0)
    redis = aioredis.from_url(settings.redis_url or "")
    try:
        with WebhookReceiver() as receiver, MailSink(tmp_path / "mail") as sink:
            created = (
                await connector.post(
                    HOOK, {"input": {"url": receiver.url(), "events": ["lead.won"]}}
                )
            )["createWebhookEndpoint"]
            assert created["errors"] == []
            endpoint, receiver.secret = created["endpoint"]["id"], created["secret"]
            async with httpx.AsyncClient(trust_env=False) as http:
                ctx = {
                    "sessionmaker": async_sessionmaker(workers, expire_on_commit=False),
                    "deps": Deps(
                        settings=settings.model_copy(update={"smtp_url": sink.url}),
                        http=http,
                        redis=redis,
                    ),
                }
                receiver.statuses = [410, 200]  # Gone: dead at once, the endpoint disabled
                ping = (await connector.post(PING, {"id": endpoint}))["pingWebhookEndpoint"]
                assert ping["errors"] == []
                await relay(ctx)
                [dead] = (await connector.post(DEAD, {"id": endpoint}))["webhookDeliveries"]
                assert (dead["id"], dead["eventType"]) == (ping["delivery"]["id"], "ping")
                enabled = await connector.post(ENABLE, {"id": endpoint})
                assert enabled["updateWebhookEndpoint"]["errors"] == []
                again = await connector.post(REDELIVER, {"id": dead["id"]})
                assert again["redeliverWebhookDelivery"]["errors"] == []
                await relay(ctx)
            sent = (await connector.post(SENT, {"id": endpoint}))["webhookDeliveries"]
            assert [(d["id"], d["attemptCount"]) for d in sent] == [(dead["id"], 2)]
            arrived = [(r.event_type, r.status, r.verified) for r in receiver.requests]
            assert arrived == [("ping", 410, True), ("ping", 200, True)]
            assert len({r.webhook_id for r in receiver.requests}) == 1, "one delivery, twice"
    finally:
        await redis.aclose()
        await workers.dispose()
