"""Tokens and settings: HS256 in dev/test, RS256 through a JWKS endpoint, production refusals."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import ValidationError

from app.config import DEV_JWT_SECRET, AppEnv, Settings
from app.services.auth import AuthenticationError, TokenVerifier, issue_token


def test_issued_token_round_trips() -> None:
    settings = Settings(app_env=AppEnv.TEST)
    user_id = uuid.uuid4()
    assert TokenVerifier(settings).verify(issue_token(settings, user_id)) == user_id


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": -10}, "expired"),
        ({"aud": "someone-else"}, "(?i)audience"),
        ({"aud": None}, "aud"),
        ({"exp": None}, "exp"),
        ({"sub": None}, "sub"),
        ({"sub": "not-a-uuid"}, "UUID"),
        ({"iss": None}, "'iss'"),
        ({"iss": "someone-else"}, "another issuer"),
    ],
)
def test_bad_tokens_are_refused(claims: dict[str, Any], reason: str) -> None:
    settings = Settings(app_env=AppEnv.TEST)
    now = int(datetime.now(UTC).timestamp())
    payload: dict[str, Any] = {
        "sub": str(uuid.uuid4()),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "exp": now + 60,
    }
    for key, value in claims.items():
        if value is None:
            payload.pop(key)
        elif key == "exp":
            payload[key] = now + value
        else:
            payload[key] = value
    token = jwt.encode(payload, settings.jwt_secret, algorithm="HS256")
    with pytest.raises(AuthenticationError, match=reason):
        TokenVerifier(settings).verify(token)


def test_token_signed_with_another_secret_is_refused() -> None:
    settings = Settings(app_env=AppEnv.TEST)
    forged = issue_token(settings.model_copy(update={"jwt_secret": "x" * 40}), uuid.uuid4())
    with pytest.raises(AuthenticationError, match="signature"):
        TokenVerifier(settings).verify(forged)


def test_alg_none_is_refused() -> None:
    settings = Settings(app_env=AppEnv.TEST)
    token = jwt.encode(
        {
            "sub": str(uuid.uuid4()),
            "aud": settings.jwt_audience,
            "exp": datetime.now(UTC) + timedelta(minutes=5),
        },
        None,
        algorithm="none",
    )
    with pytest.raises(AuthenticationError):
        TokenVerifier(settings).verify(token)


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, Any]]:
    """A real HTTP server on loopback publishing one RSA public key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid="test-key", use="sig", alg="RS256")
    body = json.dumps({"keys": [public]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", key
    finally:
        server.shutdown()


def test_rs256_tokens_verify_against_the_jwks_url(jwks_server: tuple[str, Any]) -> None:
    url, key = jwks_server
    settings = Settings(app_env=AppEnv.TEST, jwt_jwks_url=url)
    user_id = uuid.uuid4()
    claims = {
        "sub": str(user_id),
        "aud": settings.jwt_audience,
        "iss": settings.jwt_issuer,
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-key"})
    assert TokenVerifier(settings).verify(token) == user_id
    # An HS256 token signed with the (public, guessable) dev secret is useless there.
    with pytest.raises(AuthenticationError):
        TokenVerifier(settings).verify(issue_token(Settings(app_env=AppEnv.TEST), user_id))


def test_production_refuses_the_dev_secret() -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        Settings(
            app_env=AppEnv.PRODUCTION,
            jwt_secret=DEV_JWT_SECRET,
            database_url="postgresql://db/x",
            redis_url="redis://r",
        )


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="32 characters"):
        Settings(
            app_env=AppEnv.PRODUCTION,
            jwt_secret="short-but-not-placeholder",
            database_url="postgresql://db/x",
            redis_url="redis://r",
        )


def test_production_requires_real_servers() -> None:
    with pytest.raises(
        ValidationError, match=r"DATABASE_URL \(or APP_DATABASE_URL\) and REDIS_URL"
    ):
        Settings(app_env=AppEnv.PRODUCTION, jwt_secret="s" * 40)


def test_production_accepts_a_jwks_url_without_secret() -> None:
    # API keys then need a pepper of their own (the JWT secret is the public placeholder).
    settings = Settings(
        app_env=AppEnv.PRODUCTION,
        jwt_jwks_url="https://idp.example/jwks",
        api_key_pepper="k" * 40,
        database_url="postgresql://db/x",
        redis_url="redis://r",
    )
    assert settings.jwt_jwks_url


def test_production_refuses_api_keys_hashed_under_a_placeholder() -> None:
    with pytest.raises(ValidationError, match="set API_KEY_PEPPER in production"):
        Settings(
            app_env=AppEnv.PRODUCTION,
            jwt_jwks_url="https://idp.example/jwks",
            database_url="postgresql://db/x",
            redis_url="redis://r",
        )
    with pytest.raises(ValidationError, match="API_KEY_PEPPER must be a real secret"):
        Settings(
            app_env=AppEnv.PRODUCTION,
            jwt_secret="s" * 40,
            api_key_pepper="changeme",
            database_url="postgresql://db/x",
            redis_url="redis://r",
        )


def test_the_api_key_pepper_defaults_to_one_derived_from_the_jwt_secret() -> None:
    derived = Settings(app_env=AppEnv.TEST, jwt_secret="s" * 40)
    assert derived.api_key_hash_key not in (b"s" * 40, b"")
    assert derived.api_key_hash_key != Settings(app_env=AppEnv.TEST).api_key_hash_key
    own = Settings(app_env=AppEnv.TEST, jwt_secret="s" * 40, api_key_pepper="k" * 40)
    assert own.api_key_hash_key == b"k" * 40


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAD_RESPONSE_DAYS", "10")
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("JWT_AUDIENCE", "leads-api")
    settings = Settings()
    assert (settings.lead_response_days, settings.app_env, settings.jwt_audience) == (
        10,
        AppEnv.TEST,
        "leads-api",
    )
