"""The arq worker: jobs, cron schedule, and the resources jobs share."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from arq import cron, func
from arq.worker import Worker

from app.config import Settings
from app.db.migrate import schema_problem
from app.db.session import create_engine, create_sessionmaker, refuse_to_bypass_the_wall
from app.jobs import (
    JOB_AFFINITY_REBUILD,
    JOB_AFFINITY_REFRESH,
    JOB_EXPIRE,
    JOB_REDACT_RETAINED,
    JOB_RELAY,
    JOB_REMIND,
    JOB_REROUTE,
    JOB_SCORE_ALL,
    JOB_SCORE_PROFILE,
    JobQueue,
    redis_settings,
)
from app.notify.deliver import Deps
from app.observability import tracing
from workers import affinity, outbox, privacy, scoring, sweeps
from workers.observability import HealthServer, health_app, observed

log = logging.getLogger(__name__)

EVERY_10_SECONDS = set(range(0, 60, 10))


class SchemaTooOld(RuntimeError):
    pass


def build_worker(settings: Settings, **overrides: Any) -> Worker:
    assert settings.jobs_database_url and settings.redis_url

    async def startup(ctx: dict[str, Any]) -> None:
        engine = create_engine(settings, settings.jobs_database_url)
        await refuse_to_bypass_the_wall(engine, "the worker")
        problem = await schema_problem(engine)
        if problem is not None:
            await engine.dispose()
            raise SchemaTooOld(problem)
        if tracing.start(settings, "worker"):
            tracing.instrument_engine(engine)
        ctx["settings"] = settings
        ctx["engine"] = engine
        ctx["sessionmaker"] = create_sessionmaker(engine)
        if settings.worker_health_listen_port:
            ctx["health"] = HealthServer(
                health_app(settings, lambda: ctx.get("sessionmaker")),
                settings.host,
                settings.worker_health_listen_port,
            )
            await ctx["health"].start()
        # Webhooks go straight to the address their check resolved (app/notify/safe_address.py):
        # never through a proxy from the environment, which would resolve the name again.
        ctx["http"] = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        ctx["deps"] = Deps(settings=settings, http=ctx["http"], redis=ctx["redis"])
        ctx["jobs"] = JobQueue(settings.redis_url, pool=ctx["redis"])

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "health" in ctx:
            await ctx["health"].stop()
        tracing.stop()
        if "http" in ctx:
            await ctx["http"].aclose()
        if "engine" in ctx:
            await ctx["engine"].dispose()

    options: dict[str, Any] = {
        "functions": [
            func(outbox.relay, name=JOB_RELAY, keep_result=0),
            func(sweeps.expire, name=JOB_EXPIRE),
            func(sweeps.remind, name=JOB_REMIND),
            func(sweeps.reroute, name=JOB_REROUTE),
            func(scoring.recompute_scores, name=JOB_SCORE_ALL),
            # No kept result: it would block the next debounced enqueue with the same job id.
            func(scoring.recompute_profile_score, name=JOB_SCORE_PROFILE, keep_result=0),
            func(affinity.refresh_organisation, name=JOB_AFFINITY_REFRESH, keep_result=0),
            func(affinity.rebuild, name=JOB_AFFINITY_REBUILD),
            func(privacy.redact_retained, name=JOB_REDACT_RETAINED),
        ],
        "cron_jobs": [
            cron(sweeps.expire, name=f"cron:{JOB_EXPIRE}", second=0, run_at_startup=True),
            cron(sweeps.remind, name=f"cron:{JOB_REMIND}", second=30, run_at_startup=True),
            # After expiry (second 0) has archived what was overdue.
            cron(sweeps.reroute, name=f"cron:{JOB_REROUTE}", second={15, 45}, run_at_startup=True),
            # The safety net: anything not yet delivered, and retries that came due.
            cron(
                outbox.relay, name=f"cron:{JOB_RELAY}", second=EVERY_10_SECONDS, run_at_startup=True
            ),
            cron(
                scoring.recompute_scores,
                name=f"cron:{JOB_SCORE_ALL}",
                minute={0, 15, 30, 45},
                second=5,
                run_at_startup=True,
            ),
            # The safety net of the counts: answers whose refresh was never queued.
            cron(
                affinity.rebuild,
                name=f"cron:{JOB_AFFINITY_REBUILD}",
                minute={10, 40},
                second=20,
                run_at_startup=True,
            ),
            # Retention is counted in days: once an hour is plenty, and a run drains the backlog.
            cron(
                privacy.redact_retained,
                name=f"cron:{JOB_REDACT_RETAINED}",
                minute=25,
                second=40,
                run_at_startup=True,
            ),
        ],
        "redis_settings": redis_settings(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "max_jobs": 20,
        # arq polls Redis for queued jobs; its 0.5 s default was most of the commit-to-webhook
        # latency (median 260 ms -> see bench/RESULTS.md).
        "poll_delay": 0.05,
        "job_timeout": 300,
        "keep_result": 60,
        "handle_signals": True,
    }
    options.update(overrides)
    worker = Worker(**options)
    for job in worker.functions.values():  # cron jobs included
        job.coroutine = observed(job.name, job.coroutine)
    return worker
