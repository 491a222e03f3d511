"""`partner-leads serve` as a real process for tests: started on a port, waited for, and its
API processes found. Holds no tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil

from app.config import PROJECT_ROOT, Settings
from tests.waiting import wait_until

CLI = str(Path(sys.executable).parent / "partner-leads")


def serve_api(
    settings: Settings, port: int, log: Path, workers: int = 2
) -> subprocess.Popen[bytes]:
    """`partner-leads serve --workers N` against `settings`' servers."""
    env = dict(os.environ)
    env.update(
        APP_ENV=settings.app_env.value,
        DATABASE_URL=str(settings.database_url),
        REDIS_URL=str(settings.redis_url),
        SMTP_URL=str(settings.smtp_url or ""),
        JWT_SECRET=settings.jwt_secret,
        PORT=str(port),
        REQUEST_TIMEOUT_SECONDS="5",
        LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [CLI, "serve", "--workers", str(workers)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def api_processes(parent: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The children serving requests (not multiprocessing's helpers)."""
    found = []
    for child in psutil.Process(parent.pid).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()) and child.status() != "zombie":
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_serving(port: int, log: Path) -> None:
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200,
        timeout=90,
        describe=lambda: f"serve did not come up:\n{log.read_text(errors='replace')}",
        ignoring=(httpx.HTTPError,),
    )


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
