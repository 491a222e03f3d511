"""`partner-leads serve --workers N`: N API processes on one port.

uvicorn's own supervisor (`Multiprocess`) binds the socket in this process and hands it to N
children (spawned, each importing the app afresh: its own pools, its own event loop); the
kernel spreads connections among them. It restarts a child that dies or stops answering its
health pings, and SIGHUP replaces them one by one. Two things are added here:

- Stopping is bounded. SIGTERM or SIGINT: every child gets SIGTERM and finishes its requests
  (each bounded by REQUEST_TIMEOUT_SECONDS; open websockets are closed after that too), its
  lifespan closes its pools; a child still running STOP_MARGIN_SECONDS later is killed, and so
  is every child at once on a second signal.
- A child dies with its parent (even by kill -9), rather than serving on, orphaned.

Each process holds its own connections: see the README ("Operating it") for what N costs.
"""

from __future__ import annotations

import logging
import os
import signal
import tempfile
import time
from contextlib import suppress
from pathlib import Path

from starlette.applications import Starlette
from uvicorn import Config
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from app.config import Settings

log = logging.getLogger("partner_leads")

# After the request deadline, how long a stopping child may take to close its connections.
STOP_MARGIN_SECONDS = 10.0
# The ASGI factory each child calls (by name: children are spawned, not forked).
CHILD_APP = "app.processes:child_app"


def process_count(requested: int) -> int:
    """`requested`, or one per CPU core this process may run on when 0."""
    if requested > 0:
        return requested
    with suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def prepare_api_processes(settings: Settings, count: int) -> None:
    """Runs once, in the parent, before any API process starts (and before restarts): the one
    place for what the children must share through their environment. prometheus_client's
    multi-process mode, for one, needs PROMETHEUS_MULTIPROC_DIR set (and emptied) here: the
    operator's directory if they named one, else a fresh one of this run's own."""
    from app.observability.metrics import MULTIPROC_ENV, prepare_multiprocess_dir

    named = os.environ.get(MULTIPROC_ENV)
    where = Path(named) if named else Path(tempfile.mkdtemp(prefix="partner-leads-metrics-"))
    prepare_multiprocess_dir(where)


def die_with_parent() -> None:
    """In a child: SIGTERM when the parent dies, even by kill -9 (Linux)."""
    with suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_app() -> Starlette:
    """The app as each API process builds it: settings from the environment."""
    from app.cli import configure_logging
    from app.main import create_app

    die_with_parent()
    configure_logging()
    return create_app()


class Supervisor(Multiprocess):
    """uvicorn's supervisor with a bounded stop (see the module's docstring)."""

    def __init__(self, config: Config, stop_seconds: float) -> None:
        super().__init__(config, [config.bind_socket()])
        self.stop_seconds = stop_seconds
        self.signalled = False

    def handle_int(self) -> None:
        self.signalled = True
        super().handle_int()

    def handle_term(self) -> None:
        self.signalled = True
        super().handle_term()

    def join_all(self) -> None:
        deadline = time.monotonic() + self.stop_seconds
        for process in self.processes:
            while process.process.is_alive() and time.monotonic() < deadline:
                if self.signal_queue:
                    log.warning("stopping now: API processes killed")
                    break
                process.process.join(0.1)
            if process.process.is_alive():
                log.warning("API process [%s] did not stop in time: killed", process.pid)
                process.kill()
                process.process.join()

    @property
    def failed_to_start(self) -> bool:
        """A child could not start (the app, the database, the socket): uvicorn stops then."""
        return any(p.exitcode == STARTUP_FAILURE for p in self.processes) or (
            self.should_exit.is_set() and not self.signalled
        )


def serve_processes(settings: Settings, count: int) -> int:
    """Run `count` API processes until SIGTERM/SIGINT; the exit status."""
    prepare_api_processes(settings, count)
    graceful = int(settings.request_timeout_seconds) + 1
    config = Config(
        CHILD_APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=count,
        log_level="info",
        lifespan="on",
        # The app trusts X-Forwarded-For from TRUSTED_PROXIES itself (app.main.edge_middleware).
        proxy_headers=False,
        ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=graceful,
    )
    supervisor = Supervisor(config, stop_seconds=graceful + STOP_MARGIN_SECONDS)
    supervisor.run()
    return STARTUP_FAILURE if supervisor.failed_to_start else 0
