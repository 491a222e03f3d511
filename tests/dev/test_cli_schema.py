"""Commands that read the database say what to do when it is not migrated, instead of showing
a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT, Settings
from app.db.urls import database_url_for
from app.dev.stack import DevStack, drop_database, ensure_database


@pytest.mark.parametrize("command", [["token", "--partner", "contoso"], ["demo-lead"]])
def test_an_unmigrated_database_gets_a_clear_message(
    stack: DevStack, settings: Settings, command: list[str]
) -> None:
    assert stack.database_url
    name = f"partner_leads_empty_{uuid.uuid4().hex[:8]}"
    ensure_database(stack.database_url, name)
    try:
        env = dict(
            os.environ,
            DATABASE_URL=database_url_for(stack.database_url, name),
            REDIS_URL=settings.redis_url or "",
            APP_ENV="test",
        )
        cli = str(Path(sys.executable).parent / "partner-leads")
        result = subprocess.run(
            [cli, *command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 1
        assert "has no schema yet" in result.stderr
        assert "partner-leads migrate" in result.stderr
        assert "Traceback" not in result.stderr
    finally:
        drop_database(stack.database_url, name)
