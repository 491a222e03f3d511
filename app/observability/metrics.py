"""Prometheus metrics: their definitions, the bounded operation-name label, and rendering.

Several processes serving one port (PROMETHEUS_MULTIPROC_DIR set before the process starts,
as prometheus_client requires) each write their figures to files there, and a scrape of any one
of them adds them up (`MultiProcessCollector`); a process that stops removes its live gauges
(`mark_process_dead`, from the app's shutdown). Without it, figures live in the process.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import REGISTRY, Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Distinct operation names a process labels; later ones are counted as OTHER. Operation names
# come from clients: without a cap, a client could grow the series without end.
MAX_OPERATION_NAMES = 200
# Label values no GraphQL name can take (names match /[_A-Za-z][_0-9A-Za-z]*/).
ANONYMOUS = "(anonymous)"
OTHER = "(other)"
NOT_RUN = "(none)"  # refused before an operation was validated (bad request, 401, 413, ...)
COMPILED, GENERAL = "compiled", "general"
LATENCY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "partner_leads_graphql_request_duration_seconds",
    "GraphQL requests over HTTP, by operation name and execution path (compiled or general)",
    ["operation", "path"],
    buckets=LATENCY_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "partner_leads_http_requests",
    "HTTP responses by route and status code",
    ["route", "status"],
)
ERRORS = Counter(
    "partner_leads_graphql_errors",
    "Errors by code: top-level GraphQL errors (kind=graphql, the HTTP edge's too) and the typed "
    "errors of mutation payloads (kind=payload)",
    ["code", "kind"],
)
POOL_IN_USE_SAMPLED = Gauge(
    "partner_leads_db_pool_connections_in_use",
    "Database connections checked out, by pool (engine: SQLAlchemy's; reads, searches: the "
    "compiled path's)",
    ["pool"],
    multiprocess_mode="livesum",
)
JOB_RUNS = Counter(
    "partner_leads_job_runs",
    "Jobs run by the worker, by job name and outcome (success, failure, cancelled)",
    ["job", "outcome"],
)
JOB_SECONDS = Histogram(
    "partner_leads_job_duration_seconds",
    "How long jobs ran, by job name",
    ["job"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class OperationNames:
    """The label for an operation name that parsed and validated: itself while fewer than
    MAX_OPERATION_NAMES have been seen, OTHER after that."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None) -> str:
        if name is None:
            return ANONYMOUS
        if name in self._seen:
            return name
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(name)
        return name


OPERATION_NAMES = OperationNames()


def count_errors(codes: Iterable[str], kind: str = "graphql") -> None:
    for code in codes:
        ERRORS.labels(code, kind).inc()


PoolReader = Callable[[], int]


@dataclass(eq=False)  # registries keep collectors in dicts
class PoolGauges(Collector):
    """Connections in use, read from the pools when scraped (nothing counted per checkout).
    Apps register their pools for as long as they run; in multi-process mode a sampler copies
    the same figures into POOL_IN_USE_SAMPLED instead (`sample`)."""

    readers: dict[int, dict[str, PoolReader]] = field(default_factory=dict)

    def add(self, owner: object, pools: dict[str, PoolReader]) -> None:
        self.readers[id(owner)] = pools

    def remove(self, owner: object) -> None:
        self.readers.pop(id(owner), None)

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for pools in list(self.readers.values()):
            for name, read in pools.items():
                totals[name] = totals.get(name, 0) + read()
        return totals

    def sample(self) -> None:
        for name, value in self.totals().items():
            POOL_IN_USE_SAMPLED.labels(name).set(value)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "partner_leads_db_pool_connections_in_use",
            POOL_IN_USE_SAMPLED._documentation,
            labels=["pool"],
        )
        for name, value in sorted(self.totals().items()):
            family.add_metric([name], value)
        yield family


POOLS = PoolGauges()
if not multiprocess():
    # The sampled gauge would say the same thing again, later.
    REGISTRY.unregister(POOL_IN_USE_SAMPLED)
    REGISTRY.register(POOLS)


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of this process's metrics, or of every process's in multi-process
    mode, with `extra` collectors (figures read at scrape time) added."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    added: list[Collector] = []
    try:
        for collector in extra:
            registry.register(collector)
            added.append(collector)
        return generate_latest(registry)
    finally:
        for collector in added:
            registry.unregister(collector)


def prepare_multiprocess_dir(path: Path) -> None:
    """For a supervisor about to start several serving processes (`serve --workers N`): an
    empty directory, named in the environment the processes inherit. A previous run's files
    would be added to this run's figures."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)


def process_stopped() -> None:
    """A serving process's last word in multi-process mode: its live gauges stop counting."""
    if multiprocess():
        mark_process_dead(os.getpid())


def may_scrape(client_host: str | None, authorization: str | None, token: str | None) -> bool:
    """/metrics answers loopback clients, and anyone presenting METRICS_TOKEN as a bearer token.
    Behind a proxy on the same host, set TRUSTED_PROXIES so that clients are who the proxy
    says, not the proxy's loopback address."""
    if token and authorization:
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip(), token):
            return True
    if client_host is None:
        return False
    try:
        return ipaddress.ip_address(client_host).is_loopback
    except ValueError:
        return False


__all__ = ["CONTENT_TYPE_LATEST", "render"]
