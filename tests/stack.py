"""An isolated stack for process-level tests: its own Postgres, Valkey, SMTP sink, webhook
receiver and worker processes, so faults injected here never touch the rest of the suite."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from arq import ArqRedis, create_pool
from arq.constants import default_queue_name, health_check_key_suffix
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.config import AppEnv, Settings
from app.db.migrate import upgrade
from app.db.models import Delivery, OutboxMessage, User
from app.db.session import create_engine
from app.db.urls import database_url_for
from app.dev.demo_world import seed_demo_into
from app.dev.partners import Partner
from app.dev.smtp_sink import MailSink
from app.dev.stack import EmbeddedPostgres, EmbeddedValkey, ensure_database
from app.domain.events import LEAD_EVENTS, Channel, DeliveryStatus
from app.jobs import JobQueue, redis_settings, relay
from app.services import webhooks
from app.services.auth import load_actor
from tests.receivers import WebhookReceiver
from tests.waiting import eventually, wait_until

CLI = str(Path(sys.executable).parent / "partner-leads")


# arq's worker writes this key when it starts polling for jobs.
WORKER_HEALTH_KEY = default_queue_name + health_check_key_suffix
# How often the supervisor looks for a dead worker (`make run`'s supervisor waits on the child).
SUPERVISE_POLL_SECONDS = 0.5


@dataclass
class IsolatedStack:
    """Started by `start()` (everything, or nothing left running if it fails half-way) and
    stopped by `stop()`, which undoes what was started in reverse order."""

    root: Path
    postgres: EmbeddedPostgres = field(init=False)
    valkey: EmbeddedValkey = field(init=False)
    sink: MailSink = field(init=False)
    receiver: WebhookReceiver = field(init=False)
    settings: Settings = field(init=False)
    engine: AsyncEngine = field(init=False)
    partners: dict[str, Partner] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    redis_port: int = 0
    _started: AsyncExitStack = field(default_factory=AsyncExitStack)

    async def start(self) -> IsolatedStack:
        try:
            self._start_servers()
            await self._seed()
        except BaseException:
            await self.stop()
            raise
        return self

    def _start_servers(self) -> None:
        started = self._started
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres = EmbeddedPostgres(self.root / "pg")
        server = self.postgres.start()
        started.callback(lambda: self.postgres.stop())
        ensure_database(server, "faults")
        database_url = database_url_for(server, "faults")
        upgrade(database_url)
        self.valkey = EmbeddedValkey(self.root / "valkey")
        redis_url = self.valkey.start()
        # Late-bound: a fault test may have replaced the server (stop_redis / start_redis).
        started.callback(lambda: self.valkey.stop())
        self.redis_port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
        self.sink = MailSink(self.root / "mail")
        self.sink.start()
        started.callback(self.sink.stop)
        self.receiver = WebhookReceiver()
        self.webhook_url = self.receiver.start()
        started.callback(self.receiver.stop)
        self.settings = Settings(
            app_env=AppEnv.TEST,
            database_url=database_url,
            redis_url=redis_url,
            smtp_url=self.sink.url,
            data_dir=self.root,
        )
        self.engine = create_engine(self.settings)
        started.push_async_callback(lambda: self.engine.dispose())
        started.callback(self.kill_workers, signal.SIGTERM)

    async def _seed(self) -> None:
        async with AsyncSession(self.engine) as session, session.begin():
            self.partners = await seed_demo_into(session, self.settings)
        async with AsyncSession(self.engine) as session, session.begin():
            admin = await session.scalar(
                select(User.id).where(User.email == "admin@contoso.example")
            )
            assert admin is not None
            actor = await load_actor(session, admin)
            created = await webhooks.create_endpoint(
                session,
                actor,
                url=self.webhook_url,
                events=list(LEAD_EVENTS),
                settings=self.settings,
            )
            assert not isinstance(created, webhooks.Refused)
            self.receiver.secret = created[1]

    async def stop(self) -> None:
        await self._started.aclose()

    # --- workers ------------------------------------------------------------------------------

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            DATABASE_URL=self.settings.database_url or "",
            REDIS_URL=self.settings.redis_url or "",
            SMTP_URL=self.settings.smtp_url or "",
            APP_ENV="test",
            LOG_LEVEL="WARNING",
            DATA_DIR=str(self.root),  # how servers_under() recognises it
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
                worker.wait()

    async def supervise(self, stop: asyncio.Event) -> None:
        """What `make run` does: keep one worker alive."""
        while not stop.is_set():
            if not self.alive_workers():
                self.start_worker()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SUPERVISE_POLL_SECONDS)

    @asynccontextmanager
    async def redis(self) -> AsyncIterator[ArqRedis]:
        assert self.settings.redis_url
        pool = await create_pool(redis_settings(self.settings.redis_url))
        try:
            yield pool
        finally:
            await pool.aclose()

    async def forget_worker_health(self) -> None:
        """Drop the key a worker writes when it polls, so the next one to appear is fresh."""
        async with self.redis() as pool:
            await pool.delete(WORKER_HEALTH_KEY)

    async def wait_worker_polling(self, timeout: float = 60) -> None:
        """Until a worker has started and polls Redis for jobs (forget_worker_health first)."""
        async with self.redis() as pool:

            async def polling() -> bool:
                return bool(await pool.exists(WORKER_HEALTH_KEY))

            await eventually(
                polling, timeout=timeout, describe=f"no worker polling; logs in {self.root}"
            )

    # --- faults -------------------------------------------------------------------------------

    def stop_redis(self) -> None:
        self.valkey.stop()

    def start_redis(self) -> None:
        self.valkey = EmbeddedValkey(self.root / "valkey", port=self.redis_port)
        self.valkey.start()

    def restart_postgres(self) -> None:
        self.postgres.restart()

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
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == DeliveryStatus.PENDING)
            )
        return int(unprocessed or 0) + int(pending or 0)

    async def sent(self) -> int:
        """Deliveries sent so far, on every channel."""
        async with AsyncSession(self.engine) as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.status == DeliveryStatus.SENT)
            )
        return int(count or 0)

    async def wait_delivered(self, timeout: float) -> None:
        last_seen: list[int | None] = [None]

        async def drained() -> bool:
            last_seen[0] = await self.pending()
            return last_seen[0] == 0

        await eventually(
            drained,
            timeout=timeout,
            poll=0.5,
            # Postgres may be coming back from a restart.
            ignoring=(OSError, SQLAlchemyError),
            describe=lambda: (
                f"{last_seen[0]} outbox rows/deliveries still pending; worker logs in {self.root}"
            ),
        )

    async def expected(self, channel: Channel) -> Counter[tuple[str, str]]:
        """(event id, recipient) for every delivery the database says is owed on `channel`."""
        async with AsyncSession(self.engine) as session:
            rows = await session.execute(
                select(OutboxMessage.payload["eventId"].astext, Delivery.recipient, Delivery.status)
                .join(Delivery, Delivery.outbox_id == OutboxMessage.id)
                .where(Delivery.channel == channel)
            )
            result: Counter[tuple[str, str]] = Counter()
            for event_id, recipient, status in rows:
                assert status == DeliveryStatus.SENT, (event_id, recipient, status)
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


def servers_under(folder: Path) -> list[psutil.Process]:
    """Live processes started for `folder`: embedded servers (Postgres names its data folder,
    Valkey runs in its own) and `partner-leads` workers given DATA_DIR=folder."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (
                str(folder) in cmdline
                or ("valkey" in cmdline and str(folder) in (proc.info["cwd"] or ""))
                or (
                    "partner-leads" in cmdline
                    and "worker" in cmdline
                    and proc.environ().get("DATA_DIR") == str(folder)
                )
            ):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def wait_servers_gone(folder: Path, timeout: float = 15) -> None:
    wait_until(
        lambda: not servers_under(folder),
        timeout=timeout,
        describe=lambda: f"still running for {folder}: {servers_under(folder)}",
    )


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex
