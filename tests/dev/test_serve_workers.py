"""`partner-leads serve --workers 2`: two API processes on one port, a dead one replaced, and
SIGTERM to the parent stops them all, promptly and cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import psutil

from app.config import Settings
from app.db.urls import database_url_for
from app.dev.ports import free_port
from app.processes import process_count
from app.services.auth import issue_token
from tests.factories import World
from tests.observability.conftest import parse, value
from tests.serving import api_processes, serve_api, wait_serving
from tests.waiting import wait_until

EXITS_WITHIN_SECONDS = 30.0
LATENCY_COUNT = "partner_leads_graphql_request_duration_seconds_count"


def test_two_processes_serve_one_port_are_restarted_and_stop_on_sigterm(
    settings: Settings, world: World, tmp_path: Path
) -> None:
    port, log = free_port(), tmp_path / "serve.log"
    server = serve_api(settings, port, log)
    try:
        wait_serving(port, log)
        children = wait_until(
            lambda: len(api_processes(server)) == 2 and api_processes(server),
            timeout=30,
            describe="two API processes",
        )
        token = issue_token(settings, world.contoso.referrals_admin)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            # Every connection a fresh one: the kernel spreads them over both processes.
            for _ in range(6):
                response = http.post(
                    "/graphql",
                    json={"query": "query Who { viewer { organisation { name } } }"},
                    headers={"Authorization": f"Bearer {token}", "Connection": "close"},
                )
                assert response.json()["data"]["viewer"]["organisation"]["name"]
            # The supervisor gave the processes one metrics directory: whichever answers the
            # scrape counts every process's requests.
            for _ in range(4):
                scraped = http.get("/metrics", headers={"Connection": "close"})
                assert scraped.status_code == 200
                counts = parse(scraped.text)
                served = sum(
                    value(counts, LATENCY_COUNT, operation="Who", path=path)
                    for path in ("compiled", "general")
                )
                assert served == 6, scraped.text[:2000]

            victim = children[0]
            victim.kill()
            replaced = wait_until(
                lambda: (
                    {p.pid for p in api_processes(server)} - {c.pid for c in children}
                    and len(api_processes(server)) == 2
                ),
                timeout=60,
                describe=lambda: f"no replacement:\n{log.read_text(errors='replace')}",
            )
            assert replaced
            assert http.get("/health").status_code == 200

        survivors = api_processes(server)
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        exit_code = server.wait(EXITS_WITHIN_SECONDS)
        assert time.monotonic() - signalled < EXITS_WITHIN_SECONDS
        assert exit_code == 0, log.read_text(errors="replace")
        for child in survivors:
            assert not child.is_running() or child.status() == "zombie", child
        with_port = [c for c in psutil.net_connections("tcp") if c.laddr and c.laddr.port == port]
        assert not [c for c in with_port if c.status == psutil.CONN_LISTEN]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


async def test_a_child_that_cannot_start_stops_the_parent(
    settings: Settings, tmp_path: Path
) -> None:
    """A database that refuses the API's role: the child fails its start-up, and the parent
    stops with an error instead of restarting it forever."""
    port, log = free_port(), tmp_path / "serve.log"
    broken = settings.model_copy(
        update={"database_url": database_url_for(str(settings.database_url), "no_such_database")}
    )
    server = serve_api(broken, port, log)
    try:
        exit_code = await asyncio.to_thread(server.wait, 60)
        assert exit_code != 0, log.read_text(errors="replace")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)


def test_workers_0_means_one_per_core_and_the_default_is_one() -> None:
    assert process_count(0) == len(os.sched_getaffinity(0))
    assert process_count(3) == 3
    assert Settings().api_workers == 1
