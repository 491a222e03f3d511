"""What the request observer (request id, access line, metrics) costs per request, in process:
2,000 `{ __typename }` requests through the ASGI app, with and without it, in alternating
rounds. Needs no database (the operation reads none). `python -m bench.observability_overhead`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from starlette.applications import Starlette

from app.config import Settings
from app.main import create_app
from app.observability.logs import configure_logging
from app.observability.requests import RequestObserver

REQUESTS = 2_000
ROUNDS = 7


def _app(observed: bool) -> Starlette:
    settings = Settings(compiled_reads=False, gc_freeze=False, redis_url=None)
    app = create_app(settings, sessionmaker=async_sessionmaker())
    if not observed:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestObserver]
    return app


async def _round(observed: bool) -> float:
    app = _app(observed)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        body = {"query": "query Bench { __typename }"}
        for _ in range(50):  # warm the caches
            await http.post("/graphql", json=body)
        started = time.perf_counter()
        for _ in range(REQUESTS):
            response = await http.post("/graphql", json=body)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200
    return elapsed / REQUESTS * 1e6


async def main() -> None:
    # Production's logging: JSON access lines, to nowhere.
    configure_logging(json=True, stream=open(os.devnull, "w"))  # noqa: SIM115
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the bench's client, not the app
    timings: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(ROUNDS):
        for observed in (False, True):
            timings[observed].append(await _round(observed))
    # The fastest round of each: the least disturbed by whatever else the machine runs.
    for label, pick in (("fastest", min), ("median", statistics.median)):
        without, with_ = pick(timings[False]), pick(timings[True])
        print(
            f"{REQUESTS} requests x {ROUNDS} rounds, {label} round, per request: without "
            f"{without:.0f} us, with the observer {with_:.0f} us, overhead "
            f"{with_ - without:.0f} us ({(with_ - without) / without:.1%})"
        )


if __name__ == "__main__":
    asyncio.run(main())
