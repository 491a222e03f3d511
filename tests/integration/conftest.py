"""End-to-end tests against a real server (uvicorn on loopback) and committed data."""

from __future__ import annotations

from tests.edge.conftest import serve

__all__ = ["serve"]
