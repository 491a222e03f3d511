"""OpenTelemetry traces, only when OTEL_EXPORTER_OTLP_ENDPOINT is set: this module imports the
SDK inside its functions, so a process without the setting loads none of it (start-up and
per-request cost: nothing).

Spans: the ASGI server span of each request (renamed after the GraphQL operation), SQLAlchemy's
statements as its children, and one span per arq job (`job <name>`), all exported over
OTLP/HTTP in batches. The compiled read path talks to asyncpg directly: its reads show as the
request's span without SQL children."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware

from app.config import Settings
from app.observability.requests import RequestInfo

log = logging.getLogger(__name__)

_provider: Any = None


def start(settings: Settings, role: str) -> bool:
    """Set this process's tracer provider up (once); False when tracing is off."""
    global _provider
    endpoint = settings.otel_exporter_otlp_endpoint
    if not endpoint:
        return False
    if _provider is not None:
        return True
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"{settings.otel_service_name}-{role}"})
    )
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))
    )
    # The global provider too, for libraries that look it up; ours is passed explicitly.
    trace.set_tracer_provider(provider)
    _provider = provider
    log.info("tracing to %s", endpoint)
    return True


def stop() -> None:
    """Send what is buffered (at process exit)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def instrument_engine(engine: AsyncEngine) -> None:
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    SQLAlchemyInstrumentor().instrument(
        engine=engine.sync_engine,
        tracer_provider=_provider,
        # Its version check stops at SQLAlchemy 2.0; the event hooks it uses are 2.1's too
        # (tests/observability/test_processes.py sees the statements' spans).
        skip_dep_check=True,
    )


def asgi_middleware(settings: Settings) -> list[Middleware]:
    """The server span around each request, outermost; none when tracing is off."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [
        Middleware(
            OpenTelemetryMiddleware,
            excluded_urls="healthz,readyz,metrics",
            tracer_provider=_provider,
            # One span per request: not one per ASGI message sent or received.
            exclude_spans=["receive", "send"],
        )
    ]


def name_request_span() -> Callable[[RequestInfo], None] | None:
    """RequestObserver's hook: the server span names the GraphQL operation and the request id."""
    if _provider is None:
        return None
    from opentelemetry import trace

    def name(info: RequestInfo) -> None:
        span = trace.get_current_span()
        if not span.is_recording():
            return
        span.set_attribute("http.request_id", info.request_id)
        if info.operation is not None:
            span.set_attribute("graphql.operation.name", info.operation)
            span.set_attribute("graphql.execution_path", info.path or "")
            span.update_name(f"{info.operation} ({info.path})")

    return name


def job_span(name: str) -> Any:
    """A span around one job run, or None when tracing is off."""
    if _provider is None:
        return None
    from opentelemetry import trace

    return _provider.get_tracer("partner_leads.jobs").start_as_current_span(
        f"job {name}", kind=trace.SpanKind.CONSUMER, attributes={"arq.job": name}
    )
