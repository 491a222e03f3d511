"""Commands that read the database say what to do when it is not migrated, instead of showing
a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import PROJECT_ROOT, Settings


@pytest.mark.parametrize("command", [["token", "--partner", "contoso"], ["demo-lead"]])
def test_an_unmigrated_database_gets_a_clear_message(
    settings: Settings, empty_database: str, command: list[str]
) -> None:
    env = dict(
        os.environ, DATABASE_URL=empty_database, REDIS_URL=settings.redis_url or "", APP_ENV="test"
    )
    cli = str(Path(sys.executable).parent / "partner-leads")
    result = subprocess.run(
        [cli, *command], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "has no schema yet" in result.stderr
    assert "partner-leads migrate" in result.stderr
    assert "Traceback" not in result.stderr
