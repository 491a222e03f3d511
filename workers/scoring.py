"""arq jobs that recompute responsiveness scores (SPEC R11).

Two triggers: a partner answering a lead stages `app.jobs.score_profile` (debounced, so a
burst of answers costs one recompute), and a cron recomputes every profile, because leads age
out of the window and unanswered leads pass their deadline without anyone acting on them. Each
job is one transaction and idempotent (an upsert of the scores as of the job's clock).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from app.services import responsiveness


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
