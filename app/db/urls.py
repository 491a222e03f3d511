"""Postgres URLs: the driver in the scheme, the database in the path."""

from __future__ import annotations

from urllib.parse import quote, unquote

# The roles the API and the workers connect as (created by migration 0007): they own no table
# and cannot bypass row-level security.
APP_ROLE = "partner_leads_app"
WORKER_ROLE = "partner_leads_worker"


def with_driver(url: str, driver: str = "postgresql+asyncpg") -> str:
    """`postgresql://...` -> `postgresql+asyncpg://...` (and back with driver="postgresql")."""
    scheme, rest = url.split("://", 1)
    return f"{driver}://{rest}" if scheme.startswith("postgres") else url


def database_url_for(server_url: str, database: str) -> str:
    """Swap the database name in a Postgres URL, keeping host/query (unix socket) intact."""
    scheme, rest = server_url.split("://", 1)
    authority, _, path = rest.partition("/")
    query = ""
    if "?" in path:
        path, query = path.split("?", 1)
        query = "?" + query
    elif "?" in authority:
        authority, query = authority.split("?", 1)
        query = "?" + query
    return f"{scheme}://{authority}/{database}{query}"


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database as another user: `postgresql://owner:pw@host/db` ->
    `postgresql://partner_leads_app@host/db` (a password only when one is given)."""
    scheme, rest = url.split("://", 1)
    authority, slash, tail = rest.partition("/")
    hostpart = authority.rpartition("@")[2]
    credentials = quote(user, safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    return f"{scheme}://{credentials}@{hostpart}{slash}{tail}"


def user_of(url: str) -> str | None:
    authority = url.split("://", 1)[1].partition("/")[0]
    if "@" not in authority:
        return None
    return unquote(authority.rpartition("@")[0].partition(":")[0]) or None
