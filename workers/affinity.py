"""arq jobs that keep the similar-deal counts (`app.services.affinity_counts`).

A partner answering a lead stages `app.jobs.refresh_affinity` (debounced, so a burst of answers
costs one refresh); a cron rebuilds every partner's counts, for answers whose job was lost while
Redis was down and for changes made outside the lifecycle. Each job is one transaction and
idempotent: it writes the counts the leads say."""

from __future__ import annotations

import uuid
from typing import Any

from app.services import affinity_counts


async def refresh_organisation(ctx: dict[str, Any], organisation_id: str) -> int:
    """One organisation's counts; the number of rows written or deleted."""
    async with ctx["sessionmaker"]() as session, session.begin():
        return await affinity_counts.refresh(session, [uuid.UUID(str(organisation_id))])


async def rebuild(ctx: dict[str, Any]) -> int:
    """Every organisation's counts; the number of rows written or deleted."""
    async with ctx["sessionmaker"]() as session, session.begin():
        return await affinity_counts.refresh(session)
