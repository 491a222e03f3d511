"""GraphQL over HTTP at the edge: media types, status codes, bounded bodies, well-formed params.

Follows https://graphql.github.io/graphql-over-http/draft/: a client that accepts
`application/graphql-response+json` gets 4xx statuses (and no `data`) for requests that cannot
be executed; one that accepts only `application/json` gets 200 with `errors`, as it always has.
Everything here runs before any GraphQL parsing, and costs at most one pass over a body of at
most `MAX_BODY_BYTES`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Receive

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"


class EdgeError(Exception):
    """A request refused before execution. `status` None: the media type decides (400 for
    graphql-response+json, 200 with `errors` for application/json)."""

    def __init__(
        self, message: str, code: str = "BAD_REQUEST", status: int | None = None, **headers: str
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.headers = headers

    def status_for(self, media_type: str) -> int:
        if self.status is not None:
            return self.status
        return 400 if media_type == GRAPHQL_RESPONSE else 200

    def body(self) -> bytes:
        error = {"message": self.message, "extensions": {"code": self.code}}
        return orjson.dumps({"errors": [error]})


def response_media_type(accept: str | None) -> str | None:
    """The media type to answer in, from the Accept header; None when the client accepts
    neither JSON type. No header, `*/*` and `application/json` get application/json (what
    clients written before the graphql-response type expect)."""
    if accept is None or not accept.strip():
        return JSON
    quality = {JSON: 0.0, GRAPHQL_RESPONSE: 0.0}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        kind = GRAPHQL_RESPONSE if media == GRAPHQL_RESPONSE else JSON
        if media in (GRAPHQL_RESPONSE, JSON, "*/*", "application/*"):
            quality[kind] = max(quality[kind], q)
    if quality[GRAPHQL_RESPONSE] > 0 and quality[GRAPHQL_RESPONSE] >= quality[JSON]:
        return GRAPHQL_RESPONSE
    return JSON if quality[JSON] > 0 else None


def check_content_type(content_type: str | None) -> None:
    """POST bodies are JSON in UTF-8: form posts (a cross-site request forgery's only way to
    send a body without a preflight) and multipart uploads are refused."""
    media, *params = (p.strip() for p in (content_type or "").split(";"))
    if media.lower() != JSON:
        raise EdgeError(
            "send the request as 'Content-Type: application/json'",
            "UNSUPPORTED_MEDIA_TYPE",
            415,
        )
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise EdgeError("only UTF-8 bodies are accepted", "UNSUPPORTED_MEDIA_TYPE", 415)


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """The body, read chunk by chunk and refused as soon as it passes `limit` bytes."""
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise EdgeError("Content-Length is not a number", status=400)
        if int(declared) > limit:
            raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise EdgeError("the client went away", status=400)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _too_large(limit: int) -> EdgeError:
    return EdgeError(f"the request body is over {limit} bytes", "PAYLOAD_TOO_LARGE", 413)


def _too_deep(value: Any, limit: int) -> bool:
    """Whether JSON nests deeper than `limit` (iterative: recursion is what deep JSON breaks)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


def _deep_error(limit: int) -> EdgeError:
    return EdgeError(f"the JSON nests deeper than {limit} levels", status=400)


def load_json(raw: bytes | str, max_depth: int, what: str = "the body") -> Any:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc).lower() or "recursion" in str(exc).lower():
            raise _deep_error(max_depth) from exc
        raise EdgeError(f"{what} is not valid JSON") from exc
    # Fewer brackets than levels allowed cannot nest too deep: most bodies skip the walk.
    text = raw if isinstance(raw, bytes) else raw.encode()
    opened = text.count(b"{") + text.count(b"[")
    if opened > max_depth and isinstance(value, dict | list) and _too_deep(value, max_depth):
        raise _deep_error(max_depth)
    return value


@dataclass(frozen=True, slots=True)
class GraphQLRequest:
    query: str
    operation_name: str | None
    variables: dict[str, Any] | None
    extensions: dict[str, Any] | None

    def as_body(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "operationName": self.operation_name,
            "variables": self.variables,
        }


def graphql_request(params: Any) -> GraphQLRequest:
    """The request's parameters, each of the type the spec gives it, or an EdgeError."""
    if not isinstance(params, dict):
        raise EdgeError("the body must be a JSON object")
    query = params.get("query")
    if query is None:
        raise EdgeError("the request has no 'query'")
    if not isinstance(query, str):
        raise EdgeError("'query' must be a string")
    operation_name = params.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise EdgeError("'operationName' must be a string or null")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise EdgeError("'variables' must be an object or null")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise EdgeError("'extensions' must be an object or null")
    return GraphQLRequest(query, operation_name, variables, extensions)


def query_string_request(params: Mapping[str, str], max_depth: int) -> GraphQLRequest:
    """A GET request's parameters: variables and extensions are JSON in the query string."""
    return graphql_request(query_string_params(params, max_depth))


def query_string_params(params: Mapping[str, str], max_depth: int) -> dict[str, Any]:
    """A GET request's parameters as a POST body would carry them."""
    decoded: dict[str, Any] = {
        "query": params.get("query"),
        "operationName": params.get("operationName"),
    }
    for name in ("variables", "extensions"):
        raw = params.get(name)
        if raw is not None and raw != "":
            decoded[name] = load_json(raw, max_depth, f"'{name}'")
    return decoded
