"""arq jobs that recompute responsiveness scores (SPEC R11).

`ctx["sessionmaker"]` is an async_sessionmaker and `ctx["settings"]` the Settings; each job is
one transaction and idempotent (an upsert of the scores as of the job's clock).

Two triggers:

- after a partner answers a lead (or a lead expires), enqueue the profile's recompute with a
  debounce id, so a burst of answers costs one recompute::

      await redis.enqueue_job(
          JOB_RECOMPUTE_PROFILE, str(profile_id),
          _job_id=debounce_job_id(profile_id), _defer_by=timedelta(seconds=30),
      )

  arq refuses an enqueue while a job with that id is queued or running, so every event of the
  next 30 seconds collapses into the first one's job, which runs 30 s after it (it reads the
  database when it runs, so it sees them all). arq also refuses the id while a kept *result*
  exists: register the job with `func(..., keep_result=0)`, or every answer within the result
  TTL after a recompute (the worker's `keep_result`) would be dropped, not deferred. An event
  while the job is already running is refused too: the next event or the periodic recompute
  picks it up;
- periodically (a cron of `recompute_scores`), recompute every profile: leads age out of the
  window and unanswered leads pass their deadline without anyone acting on them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.services import responsiveness

JOB_RECOMPUTE_ALL = "score.recompute_all"
JOB_RECOMPUTE_PROFILE = "score.recompute_profile"


def debounce_job_id(profile_id: uuid.UUID | str) -> str:
    """The arq job id that collapses a profile's recompute requests (see the module doc)."""
    return f"score:{profile_id}"


async def recompute_scores(ctx: dict[str, Any]) -> int:
    """Every profile's score, in one statement; the number of profiles written."""
    async with ctx["sessionmaker"]() as session, session.begin():
        written: int = await responsiveness.recompute_all(
            session, now=datetime.now(UTC), settings=ctx["settings"]
        )
    return written


async def recompute_profile_score(ctx: dict[str, Any], profile_id: str) -> None:
    """One profile's score; a profile deleted meanwhile is skipped."""
    async with ctx["sessionmaker"]() as session, session.begin():
        await responsiveness.recompute_profile(
            session, uuid.UUID(str(profile_id)), now=datetime.now(UTC), settings=ctx["settings"]
        )
