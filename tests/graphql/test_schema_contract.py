"""The schema is a contract with the SPAs and connectors built on it: the code's schema may not
break what the last release published (or, while no release is tagged, the previous commit),
unless the old field stays, marked `@deprecated(reason: ...)`. graphql-core's
`find_breaking_changes` decides what breaks a client; additions never do."""

from __future__ import annotations

import subprocess

from graphql import BreakingChangeType, build_schema, find_breaking_changes

from app.config import PROJECT_ROOT
from app.graphql.sdl import schema_sdl

RELEASE_TAGS = "v[0-9]*"


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60
    )


def baseline_ref() -> str:
    """The last release tag reachable from HEAD; without one, the commit before the change:
    HEAD while schema.graphql has uncommitted edits, else HEAD's parent."""
    tag = _git("describe", "--tags", "--abbrev=0", "--match", RELEASE_TAGS, "HEAD")
    if tag.returncode == 0:
        return tag.stdout.strip()
    if _git("diff", "--quiet", "HEAD", "--", "schema.graphql").returncode != 0:
        return "HEAD"
    no_parent = _git("rev-parse", "--verify", "--quiet", "HEAD~1").returncode != 0
    if no_parent and _git("rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        # A shallow clone has no parent to compare with: fetch just that one commit.
        _git("fetch", "--quiet", "--deepen=1")
    return "HEAD~1"


def published_sdl(ref: str) -> str:
    shown = _git("show", f"{ref}:schema.graphql")
    assert shown.returncode == 0, f"no schema.graphql at {ref} to compare with: {shown.stderr}"
    return shown.stdout


def breaking(old_sdl: str, new_sdl: str) -> list[str]:
    return [
        f"{change.type.name}: {change.description}"
        for change in find_breaking_changes(build_schema(old_sdl), build_schema(new_sdl))
    ]


def test_the_code_keeps_the_published_schema_working() -> None:
    ref = baseline_ref()
    changes = breaking(published_sdl(ref), schema_sdl())
    assert changes == [], (
        f"the schema breaks clients of {ref}; keep the old field with "
        f"@deprecated(reason: ...) instead:\n  " + "\n  ".join(changes)
    )


LEAD_BEFORE = """
type Query { lead(id: ID!): Lead }
type Lead { id: ID! notes: String stage: String! }
"""


def test_a_removed_field_breaks_and_a_deprecated_one_does_not() -> None:
    removed = LEAD_BEFORE.replace(" notes: String", "")
    deprecated = LEAD_BEFORE.replace(
        "notes: String", 'notes: String @deprecated(reason: "Use deal.notes.")'
    )
    renamed_argument = LEAD_BEFORE.replace("lead(id: ID!)", "lead(leadId: ID!)")
    assert breaking(LEAD_BEFORE, removed) == ["FIELD_REMOVED: Field Lead.notes was removed."]
    assert breaking(LEAD_BEFORE, deprecated) == []
    assert [
        c.type
        for c in find_breaking_changes(build_schema(LEAD_BEFORE), build_schema(renamed_argument))
    ] == [BreakingChangeType.ARG_REMOVED, BreakingChangeType.REQUIRED_ARG_ADDED]
    # Growing the schema never breaks a client.
    grown = LEAD_BEFORE.replace("stage: String!", "stage: String! owner: ID")
    assert breaking(LEAD_BEFORE, grown) == []
