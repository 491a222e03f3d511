"""A GraphQL client over the ASGI app, as a given user."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from app.config import Settings
from app.services.auth import issue_token


@dataclass
class GraphQLClient:
    http: httpx.AsyncClient
    settings: Settings
    token: str | None = None
    last_status: int = 0

    def as_user(self, user_id: uuid.UUID | None) -> GraphQLClient:
        token = issue_token(self.settings, user_id) if user_id else None
        return GraphQLClient(self.http, self.settings, token)

    async def raw(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if self.token and "Authorization" not in sent:
            sent["Authorization"] = f"Bearer {self.token}"
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=sent
        )

    async def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.raw(query, variables)
        self.last_status = response.status_code
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result
