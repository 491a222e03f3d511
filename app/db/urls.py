"""Postgres URLs: the driver in the scheme, the database in the path."""

from __future__ import annotations


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
