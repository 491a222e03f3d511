"""Issue 9, section 1: SIGTERM always stops the server. A real `partner-leads serve` process
gets SIGTERM while a request is in flight that would wait forever (a mutation on a lead whose
row the test keeps locked): the request's deadline ends it, it is answered with TIMEOUT, and
the process exits promptly and cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import PROJECT_ROOT, Settings
from app.db.models import Lead
from app.dev.ports import free_port
from app.services.auth import issue_token
from tests.factories import World, make_lead, make_partner
from tests.waiting import eventually, wait_until

CLI = str(Path(sys.executable).parent / "partner-leads")
DEADLINE_SECONDS = 1.0
# Generous (the machine is shared): the deadline, then a clean shutdown.
EXITS_WITHIN_SECONDS = 20.0

ACCEPT = """
mutation($id: ID!) {
  acceptLead(input: {id: $id, dealName: "Shutdown", estimatedPurchaseDate: "2027-01-31",
                     estimatedValue: {amount: "1000", currency: "USD"}}) {
    lead { stage } errors { code }
  }
}"""


def _serve(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        APP_ENV=settings.app_env.value,
        DATABASE_URL=str(settings.database_url),
        REDIS_URL=str(settings.redis_url),
        JWT_SECRET=settings.jwt_secret,
        PORT=str(port),
        REQUEST_TIMEOUT_SECONDS=str(DEADLINE_SECONDS),
        LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [CLI, "serve"], cwd=PROJECT_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


async def _waiting_on_a_lock(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        waiting = await connection.scalar(
            select(func.count())
            .select_from(text("pg_stat_activity"))
            .where(text("wait_event_type = 'Lock' AND datname = current_database()"))
        )
    return int(waiting or 0)


async def test_sigterm_stops_the_server_with_a_request_in_flight(
    settings: Settings, engine: AsyncEngine, world: World, tmp_path: Path
) -> None:
    async with AsyncSession(engine) as session, session.begin():
        partner = await make_partner(session)
        lead_id = (await make_lead(session, organisation_id=partner.organisation_id)).id
    token = issue_token(settings, partner.referrals_admin)
    port, log = free_port(), tmp_path / "serve.log"
    server = _serve(settings, port, log)
    try:
        await asyncio.to_thread(
            wait_until,
            lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500,
            timeout=90,
            describe=lambda: f"serve did not come up:\n{log.read_text(errors='replace')}",
            ignoring=(httpx.HTTPError,),
        )
        async with (
            AsyncSession(engine) as locker,
            locker.begin(),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http,
        ):
            await locker.execute(select(Lead.id).where(Lead.id == lead_id).with_for_update())
            request = asyncio.ensure_future(
                http.post(
                    "/graphql",
                    json={"query": ACCEPT, "variables": {"id": str(lead_id)}},
                    headers={"Authorization": f"Bearer {token}"},
                )
            )
            await eventually(
                lambda: _waiting_on_a_lock(engine), timeout=30, describe="the request waits"
            )
            server.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            exit_code = await asyncio.to_thread(server.wait, EXITS_WITHIN_SECONDS)
            stopped_after = time.monotonic() - signalled
            response = await request
        assert exit_code == 0, log.read_text(errors="replace")
        assert stopped_after < EXITS_WITHIN_SECONDS
        assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
