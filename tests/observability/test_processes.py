"""Issue 12, section 1, with real processes: two API processes sharing one metrics directory
(JSON logs, as in production), and traces from `serve` and `worker` reaching an OTLP/HTTP
receiver. Workers get a database and a Redis database of their own: their sweeps and relays
must not touch the suite's world or take other tests' jobs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import PROJECT_ROOT, Settings
from app.db.migrate import upgrade
from app.dev.ports import free_port
from app.services.auth import issue_token
from tests.factories import World
from tests.observability.conftest import Samples, parse, value
from tests.observability.otlp import OtlpReceiver, Span
from tests.waiting import wait_until

CLI = str(Path(sys.executable).parent / "partner-leads")
PRODUCTION_SECRET = "a-production-grade-secret-for-this-test-only-0123456789"
LATENCY_COUNT = "partner_leads_graphql_request_duration_seconds_count"
STARTS_WITHIN = 60.0


def _start(command: str, settings: Settings, log: Path, **env: str) -> subprocess.Popen[bytes]:
    environment = dict(os.environ)
    for key in ("PROMETHEUS_MULTIPROC_DIR", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        environment.pop(key, None)
    environment.update(
        APP_ENV="test",
        DATABASE_URL=str(settings.database_url),
        REDIS_URL=str(settings.redis_url),
        JWT_SECRET=settings.jwt_secret,
        LOG_LEVEL="INFO",
        GC_FREEZE="false",
    )
    environment.update(env)
    return subprocess.Popen(
        [CLI, command],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    def healthy() -> bool:
        assert process.poll() is None, log.read_text()
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200

    wait_until(
        healthy,
        timeout=STARTS_WITHIN,
        describe=lambda: log.read_text(),
        ignoring=(httpx.HTTPError,),
    )


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for process in started:
            _stop(process)


def _metrics(port: int) -> Samples:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert response.status_code == 200, response.text
    return parse(response.text)


def test_two_api_processes_share_their_metrics_and_log_json(
    settings: Settings,
    world: World,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    ports = [free_port(), free_port()]
    logs = [tmp_path / "api-0.log", tmp_path / "api-1.log"]
    for port, log in zip(ports, logs, strict=True):
        processes.append(
            _start(
                "serve",
                settings,
                log,
                APP_ENV="production",
                JWT_SECRET=PRODUCTION_SECRET,
                PORT=str(port),
                PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
            )
        )
    for process, port, log in zip(processes, ports, logs, strict=True):
        _wait_healthy(process, port, log)

    paths = set()
    for index, (port, count) in enumerate(zip(ports, (2, 3), strict=True)):
        for n in range(count):
            response = httpx.post(
                f"http://127.0.0.1:{port}/graphql",
                json={"query": "query Ping { __typename }"},
                headers={"X-Request-ID": f"mp-{index}-{n}"},
            )
            assert response.json() == {"data": {"__typename": "Query"}}
            assert response.headers["x-request-id"] == f"mp-{index}-{n}"
            paths.add(response.headers.get("x-execution-path", "general"))
    (path,) = paths

    # Either process answers for both.
    for port in ports:
        assert value(_metrics(port), LATENCY_COUNT, operation="Ping", path=path) == 5

    # Each process samples its pools into the directory; both count while they run.
    def pools_counted() -> bool:
        live = list(metrics_dir.glob("gauge_livesum_*.db"))
        return len(live) == 2 and (
            "partner_leads_db_pool_connections_in_use",
            (("pool", "engine"),),
        ) in _metrics(ports[0])

    wait_until(pools_counted, timeout=10, describe=lambda: str(list(metrics_dir.iterdir())))

    # A process that stops takes its live gauges with it; what it counted stays counted.
    assert _stop(processes[1]) == 0
    assert [p.name for p in metrics_dir.glob("gauge_livesum_*.db")] == [
        f"gauge_livesum_{processes[0].pid}.db"
    ]
    assert value(_metrics(ports[0]), LATENCY_COUNT, operation="Ping", path=path) == 5

    # Production logs are JSON, one object a line, each request's carrying its id.
    _stop(processes[0])
    for index, log in enumerate(logs):
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        access = {
            line["request_id"]: line for line in lines if line["logger"] == "partner_leads.access"
        }
        assert set(access) == {f"mp-{index}-{n}" for n in range(2 + index)}, lines
        assert {line["operation"] for line in access.values()} == {"Ping"}
        assert any(line["logger"].startswith("uvicorn") for line in lines), lines


VIEWER_HOOKS = "query ViewerHooks { viewer { organisation { name } } webhookEndpoints { id } }"


def _children_of(spans: list[Span], parent: Span) -> list[Span]:
    return [s for s in spans if s.trace_id == parent.trace_id and s.parent_id == parent.span_id]


def test_traces_reach_an_otlp_collector(
    settings: Settings,
    world: World,
    tmp_path: Path,
    empty_database: str,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    with OtlpReceiver() as receiver:
        traced = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        port, log = free_port(), tmp_path / "api.log"
        processes.append(
            _start("serve", settings, log, PORT=str(port), COMPILED_READS="false", **traced)
        )
        _wait_healthy(processes[0], port, log)
        token = issue_token(settings, world.contoso.referrals_admin)
        response = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": VIEWER_HOOKS},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "traced-1"},
        )
        assert "errors" not in response.json(), response.text

        def request_span() -> tuple[Span, list[Span]] | None:
            spans = receiver.snapshot()
            for span in spans:
                if span.service == "partner-leads-api" and span.name == "ViewerHooks (general)":
                    children = _children_of(spans, span)
                    if children:
                        return span, children
            return None

        server, children = wait_until(
            request_span, timeout=20, describe=lambda: str(receiver.snapshot())
        )
        assert server.attributes["graphql.operation.name"] == "ViewerHooks"
        assert server.attributes["http.request_id"] == "traced-1"
        assert any("db.statement" in child.attributes for child in children), children

        # The worker: its own database and Redis database (its cron jobs run at start-up).
        upgrade(empty_database)
        worker_port, worker_log = free_port(), tmp_path / "worker.log"
        redis_url = str(settings.redis_url).rsplit("/", 1)[0] + "/7"
        processes.append(
            _start(
                "worker",
                settings,
                worker_log,
                DATABASE_URL=empty_database,
                REDIS_URL=redis_url,
                WORKER_HEALTH_PORT=str(worker_port),
                **traced,
            )
        )
        job = "cron:lead.expire_overdue"

        def job_span() -> tuple[Span, list[Span]] | None:
            spans = receiver.snapshot()
            for span in spans:
                if span.service == "partner-leads-worker" and span.name == f"job {job}":
                    children = _children_of(spans, span)
                    if children:
                        return span, children
            return None

        span, sql = wait_until(
            job_span, timeout=STARTS_WITHIN, describe=lambda: worker_log.read_text()
        )
        assert span.attributes["arq.job"] == job
        assert any("db.statement" in child.attributes for child in sql)

        # The worker's own health and metrics port.
        _wait_healthy(processes[1], worker_port, worker_log)
        ready = httpx.get(f"http://127.0.0.1:{worker_port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        samples = _metrics(worker_port)
        assert value(samples, "partner_leads_job_runs_total", job=job, outcome="success") >= 1
        assert value(samples, "partner_leads_outbox_lag_seconds") == 0
        assert _stop(processes[1]) == 0


def test_no_tracing_code_loads_without_an_endpoint(settings: Settings) -> None:
    """Start-up and requests cost nothing for tracing when it is off: not even an import."""
    script = (
        "import sys, asyncio, httpx\n"
        "from app.main import create_app\n"
        "from app.config import Settings\n"
        "app = create_app(Settings(compiled_reads=False))\n"
        "async def main():\n"
        "    transport = httpx.ASGITransport(app=app)\n"
        "    async with httpx.AsyncClient(transport=transport, base_url='http://t') as c:\n"
        "        r = await c.get('/healthz')\n"
        "        assert r.status_code == 200\n"
        "asyncio.run(main())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('opentelemetry')}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(APP_ENV="test", DATABASE_URL=str(settings.database_url))
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
