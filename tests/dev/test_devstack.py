"""`partner-leads run` (what `make run` does) end to end: comes up, answers with the printed
token, survives a kill -9 of itself, and stops everything it started on SIGTERM."""

from __future__ import annotations

import email
import email.message
import email.policy
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from app.config import PROJECT_ROOT
from app.dev.ports import free_port
from tests.stack import servers_under, wait_servers_gone
from tests.waiting import wait_until

CLI = str(Path(sys.executable).parent / "partner-leads")


def _env(data_dir: Path, port: int, log_level: str = "WARNING") -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "APP_ENV", "JWT_SECRET", "JWT_JWKS_URL"}
    }
    env.update(DATA_DIR=str(data_dir), PORT=str(port), APP_ENV="dev", LOG_LEVEL=log_level)
    return env


def _start(
    data_dir: Path, port: int, log: Path, *, log_level: str = "WARNING", own_group: bool = False
) -> subprocess.Popen[bytes]:
    """`partner-leads run`; `own_group` makes it a process group leader, as a shell makes a
    foreground job, so a test can signal the group as a terminal's Ctrl-C does."""
    return subprocess.Popen(
        [CLI, "run"],
        cwd=PROJECT_ROOT,
        env=_env(data_dir, port, log_level),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        process_group=0 if own_group else None,
    )


def _wait_for_line(process: subprocess.Popen[bytes], log: Path, text: str, timeout: float) -> str:
    def seen() -> str:
        output = log.read_text(errors="replace")
        assert process.poll() is None or text in output, f"run exited early:\n{output}"
        return output if text in output else ""

    return wait_until(seen, timeout=timeout, describe=lambda: f"no {text!r} in:\n{log.read_text()}")


def _wait_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> str:
    output = _wait_for_line(process, log, "Application startup complete", timeout)
    match = re.search(r"export TOKEN=(\S+)", output)
    assert match, output
    return match.group(1)


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

    def urgent_mail() -> list[email.message.EmailMessage]:
        mails = [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in (data_dir / "mail").glob("*.eml")
        ]
        return [
            m
            for m in mails
            if "contacted directly" in str(m["Subject"])
            and lead_id in m.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        ]

    def notes() -> list[dict[str, object]]:
        nodes = _graphql(port, token, query)["data"]["notifications"]["nodes"]
        return [n for n in nodes if n["leadId"] == lead_id]

    urgent = wait_until(urgent_mail, timeout=60, poll=0.5, describe="no urgent alert e-mail")
    found = wait_until(notes, timeout=60, poll=0.5, describe="no urgent notification")
    assert len(urgent) == 1 and urgent[0]["X-Delivered-To"] == "leads@contoso.example"
    assert found == [{"kind": "URGENT_CONTACT", "leadId": lead_id}]


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    yield folder
    for leftover in servers_under(folder):  # only when an assertion failed half-way
        with suppress(psutil.NoSuchProcess):
            leftover.kill()


def test_run_serves_survives_kill_9_and_stops_cleanly(tmp_path: Path, data_dir: Path) -> None:
    port = free_port()

    first = _start(data_dir, port, tmp_path / "first.log")
    try:
        token = _wait_ready(first, tmp_path / "first.log")
        output = (tmp_path / "first.log").read_text()
        assert "DATABASE_URL=postgresql://" in output and "REDIS_URL=redis://" in output
        assert "curl -s" in output
        assert f"http://127.0.0.1:{port}/metrics" in output  # README, "Operating it"
        # README, "The reference SPA": the printed link opens the inbox signed in.
        assert f"http://127.0.0.1:{port}/#token={token}" in output
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200 and "/web/js/app.js" in page.text
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
    assert servers_under(data_dir), "expected orphaned embedded servers after kill -9"

    port = free_port()
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

    wait_servers_gone(data_dir)  # SIGTERM stops every embedded server


def test_ctrl_c_pressed_twice_stops_everything_quietly(tmp_path: Path, data_dir: Path) -> None:
    """A terminal's Ctrl-C signals the whole foreground process group. Pressed again (and
    again) while `run` is stopping, it prints no traceback and every server still stops. The
    migrations' INFO lines appear once, though the worker `run` starts imports alembic too."""
    log = tmp_path / "run.log"
    run = _start(data_dir, free_port(), log, log_level="INFO", own_group=True)
    try:
        _wait_ready(run, log)
        _wait_for_line(run, log, "Starting worker", timeout=60)
        os.killpg(run.pid, signal.SIGINT)
        _wait_for_line(run, log, "Shutting down", timeout=30)
        os.killpg(run.pid, signal.SIGINT)  # while the server and the worker stop
        _wait_for_line(run, log, "Finished server process", timeout=30)
        with suppress(ProcessLookupError):  # it may be done already
            os.killpg(run.pid, signal.SIGINT)  # while the embedded servers stop
        assert run.wait(60) == 0, log.read_text()
    finally:
        if run.poll() is None:
            run.kill()
    output = log.read_text()
    assert "Traceback" not in output, output
    assert not [line for line in output.splitlines() if "ERROR" in line or "Warning" in line]
    wait_servers_gone(data_dir)
    alembic = Counter(
        line.split(" INFO ", 1)[1] for line in output.splitlines() if " INFO alembic" in line
    )
    assert any("Running upgrade" in line for line in alembic), output
    assert set(alembic.values()) == {1}, alembic
