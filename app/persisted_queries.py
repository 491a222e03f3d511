"""Automatic persisted queries (Apollo's `extensions.persistedQuery`): an SPA sends the
SHA-256 of a document instead of the document; the first time, the server answers
PERSISTED_QUERY_NOT_FOUND and the client sends both, which registers it.

Documents live in Redis (shared by every API process, expiring `ttl` after their last
registration) with a small per-process LRU in front, so a hot document costs no round trip.
Fails open like the rate limiter: without Redis, each process remembers what it was sent."""

from __future__ import annotations

import hashlib
import logging
import re
from collections import OrderedDict
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.graphql.http_edge import EdgeError

log = logging.getLogger(__name__)

KEY_PREFIX = "apq:"
NOT_FOUND = "PersistedQueryNotFound"  # the message Apollo's clients look for
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PersistedQueries:
    def __init__(self, redis_url: str | None, *, ttl_seconds: int, local_size: int = 2000) -> None:
        self.ttl_seconds = ttl_seconds
        self.local_size = local_size
        self._local: OrderedDict[str, str] = OrderedDict()
        self._redis = (
            aioredis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
            if redis_url
            else None
        )

    async def complete(self, params: Any) -> Any:
        """The request's parameters with the document filled in from its hash; a request that
        names no persisted query is returned as it came."""
        if not isinstance(params, dict):
            return params
        extensions = params.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            return params
        sha = _hash_of(persisted)
        query = params.get("query")
        if isinstance(query, str):
            if hashlib.sha256(query.encode()).hexdigest() != sha:
                raise EdgeError("provided sha does not match query", "PERSISTED_QUERY_MISMATCH")
            await self._register(sha, query)
            return params
        if query is not None:
            return params  # not a string: the request's own checks say so
        document = await self._lookup(sha)
        if document is None:
            raise EdgeError(NOT_FOUND, "PERSISTED_QUERY_NOT_FOUND")
        return {**params, "query": document}

    async def _lookup(self, sha: str) -> str | None:
        document = self._local.get(sha)
        if document is not None:
            self._local.move_to_end(sha)
            return document
        if self._redis is None:
            return None
        try:
            stored = await self._redis.get(KEY_PREFIX + sha)
        except RedisError as exc:
            log.warning("persisted queries unavailable (%s)", exc)
            return None
        if stored is None:
            return None
        document = stored.decode()
        self._remember(sha, document)
        return document

    async def _register(self, sha: str, query: str) -> None:
        self._remember(sha, query)
        if self._redis is None:
            return
        try:
            await self._redis.set(KEY_PREFIX + sha, query, ex=self.ttl_seconds)
        except RedisError as exc:
            log.warning("persisted query not shared (%s)", exc)

    def _remember(self, sha: str, query: str) -> None:
        self._local[sha] = query
        self._local.move_to_end(sha)
        while len(self._local) > self.local_size:
            self._local.popitem(last=False)

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


def _hash_of(persisted: Any) -> str:
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise EdgeError(
            "persistedQuery must be {version: 1, sha256Hash: ...}", "PERSISTED_QUERY_NOT_SUPPORTED"
        )
    sha = persisted.get("sha256Hash")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise EdgeError(
            "persistedQuery.sha256Hash must be 64 lowercase hex digits", "PERSISTED_QUERY_INVALID"
        )
    return sha
