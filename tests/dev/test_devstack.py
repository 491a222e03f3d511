"""`partner-leads run` (what `make run` does) end to end: comes up, answers with the printed
token, survives a kill -9 of itself, and stops everything it started on SIGTERM."""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from app.config import PROJECT_ROOT

CLI = str(Path(sys.executable).parent / "partner-leads")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "APP_ENV", "JWT_SECRET", "JWT_JWKS_URL"}
    }
    env.update(DATA_DIR=str(data_dir), PORT=str(port), APP_ENV="dev", LOG_LEVEL="WARNING")
    return env


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CLI, "run"],
        cwd=PROJECT_ROOT,
        env=_env(data_dir, port),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if "Uvicorn running" in text or "Application startup complete" in text:
            match = re.search(r"export TOKEN=(\S+)", text)
            assert match, text
            return match.group(1)
        assert process.poll() is None, f"run exited early:\n{text}"
        time.sleep(0.2)
    raise AssertionError(f"not ready in {timeout}s:\n{log.read_text()}")


def _graphql(port: int, token: str, query: str) -> Any:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _viewer(port: int, token: str) -> Any:
    return _graphql(port, token, "{ viewer { organisation { name } roles } }")


def _contact_me_lead_is_announced(data_dir: Path, port: int, token: str) -> None:
    """A customer asks to be contacted: within a minute the alert is in the mail folder and in
    the referrals admin's notifications, sent by the worker that `run` supervises."""
    created = subprocess.run(
        [CLI, "demo-lead", "--partner", "contoso"],
        cwd=PROJECT_ROOT,
        env=_env(data_dir, port),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    lead_id = created.stdout.strip().splitlines()[-1]
    query = "{ notifications { nodes { kind leadId } } }"
    deadline = time.monotonic() + 60
    urgent: list[email.message.EmailMessage] = []
    notes: list[dict[str, object]] = []
    while time.monotonic() < deadline and not (urgent and notes):
        mails = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in (data_dir / "mail").glob("*.eml")
        ]
        urgent = [
            m
            for m in mails
            if "contacted directly" in str(m["Subject"])
            and lead_id in m.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        ]
        nodes = _graphql(port, token, query)["data"]["notifications"]["nodes"]
        notes = [n for n in nodes if n["leadId"] == lead_id]
        time.sleep(0.5)
    assert len(urgent) == 1 and urgent[0]["X-Delivered-To"] == "leads@contoso.example"
    assert notes == [{"kind": "URGENT_CONTACT", "leadId": lead_id}]


def _servers_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "cwd", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (
                str(data_dir) in cmdline
                or ("valkey" in cmdline and str(data_dir) in (proc.info["cwd"] or ""))
                or (
                    "partner-leads" in cmdline
                    and "worker" in cmdline
                    and proc.environ().get("DATA_DIR") == str(data_dir)
                )
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    yield folder
    for leftover in _servers_of(folder):  # only when an assertion failed half-way
        with suppress(psutil.NoSuchProcess):
            leftover.kill()


def test_run_serves_survives_kill_9_and_stops_cleanly(tmp_path: Path, data_dir: Path) -> None:
    port = _free_port()

    first = _start(data_dir, port, tmp_path / "first.log")
    try:
        token = _wait_ready(first, tmp_path / "first.log")
        output = (tmp_path / "first.log").read_text()
        assert "DATABASE_URL=postgresql://" in output and "REDIS_URL=redis://" in output
        assert "curl -s" in output
        assert _viewer(port, token) == {
            "data": {
                "viewer": {"organisation": {"name": "Contoso Ltd"}, "roles": ["REFERRALS_ADMIN"]}
            }
        }
        # The seeded history is already scored: partners see their responsiveness at once.
        score = _graphql(
            port,
            token,
            "{ viewer { organisation { profile { responsiveness { score leadsConsidered } } } } }",
        )
        responsiveness = score["data"]["viewer"]["organisation"]["profile"]["responsiveness"]
        assert responsiveness is not None and responsiveness["leadsConsidered"] > 0
        _contact_me_lead_is_announced(data_dir, port, token)
    finally:
        first.kill()  # kill -9: nothing of ours runs, the servers are orphaned
        first.wait(10)
    assert _servers_of(data_dir), "expected orphaned embedded servers after kill -9"

    port = _free_port()
    second = _start(data_dir, port, tmp_path / "second.log")
    try:
        token = _wait_ready(second, tmp_path / "second.log")
        assert "seeded the demo world" not in (tmp_path / "second.log").read_text()
        assert _viewer(port, token)["data"] == {
            "viewer": {"organisation": {"name": "Contoso Ltd"}, "roles": ["REFERRALS_ADMIN"]}
        }
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0, (tmp_path / "second.log").read_text()

    deadline = time.monotonic() + 15
    while _servers_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_of(data_dir) == [], "SIGTERM left embedded servers running"
