"""The embedded servers and the isolated test stack stop everything they start: after a
restart, after a failed start, and when a test run ends."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.dev.stack import EmbeddedPostgres, EmbeddedValkey
from tests.stack import IsolatedStack, servers_under, wait_servers_gone


def test_a_restarted_postgres_is_still_stopped(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path / "pg")
    url = server.start()
    try:
        assert server.restart() == url
        assert servers_under(tmp_path)
    finally:
        server.stop()
    wait_servers_gone(tmp_path)


def test_valkey_runs_in_its_own_session(tmp_path: Path) -> None:
    """So a terminal's Ctrl-C (sent to the foreground process group) leaves it to us to stop."""
    valkey = EmbeddedValkey(tmp_path / "valkey")
    valkey.start()
    try:
        pid = json.loads(valkey.state_file.read_text())["pid"]
        assert os.getsid(pid) == pid != os.getsid(0)
    finally:
        valkey.stop()
    wait_servers_gone(tmp_path)


async def test_the_isolated_stack_leaves_nothing_running(tmp_path: Path) -> None:
    stack = IsolatedStack(tmp_path)
    try:
        await stack.start()
        stack.start_worker()
        stack.restart_postgres()
        assert servers_under(tmp_path)
    finally:
        await stack.stop()
    wait_servers_gone(tmp_path)


async def test_a_stack_that_fails_to_start_stops_what_it_started(tmp_path: Path) -> None:
    (tmp_path / "mail").write_text("not a folder")  # the mail sink, started after both servers
    with pytest.raises(FileExistsError):
        await IsolatedStack(tmp_path).start()
    wait_servers_gone(tmp_path)
