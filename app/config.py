"""One Settings object, read from the environment (and a `.env` file)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets that must never protect a production deployment.
DEV_JWT_SECRET = "dev-only-secret-do-not-use-in-production-0123456789"
PLACEHOLDER_SECRETS = frozenset({"", DEV_JWT_SECRET, "changeme", "secret"})
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class AppEnv(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: AppEnv = AppEnv.DEV
    # Unset: the dev stack starts embedded Postgres / Valkey under DATA_DIR.
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = PROJECT_ROOT / ".data"

    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    jwt_audience: str = "partner-leads"
    jwt_issuer: str = "partner-leads"

    lead_response_days: int = Field(default=14, ge=1, le=365)
    contact_alert_urgent_hours: int = Field(default=72, ge=1)

    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Postgres cancels statements slower than this: one bad query cannot pin a pool slot.
    db_statement_timeout_ms: int = 15_000

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.app_env is AppEnv.PRODUCTION:
            if self.jwt_jwks_url is None and self.jwt_secret in PLACEHOLDER_SECRETS:
                raise ValueError(
                    "JWT_SECRET is a development placeholder: set a real secret or JWT_JWKS_URL "
                    "in production"
                )
            if self.jwt_jwks_url is None and len(self.jwt_secret) < 32:
                raise ValueError("JWT_SECRET must be at least 32 characters in production")
            if not self.database_url or not self.redis_url:
                raise ValueError("DATABASE_URL and REDIS_URL are required in production")
        return self

    @property
    def is_dev(self) -> bool:
        return self.app_env is AppEnv.DEV


@lru_cache
def get_settings() -> Settings:
    return Settings()
