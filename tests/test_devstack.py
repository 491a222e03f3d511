"""`partner-leads run` (what `make run` does) end to end: comes up, answers with the printed
token, survives a kill -9 of itself, and stops everything it started on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

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


def _viewer(port: int, token: str) -> dict[str, object]:
    response = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": "{ viewer { organisation { name } roles } }"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _servers_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline", "cwd", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if str(data_dir) in cmdline or (
                "valkey" in cmdline and str(data_dir) in (proc.info["cwd"] or "")
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_run_serves_survives_kill_9_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
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
