"""One Settings object, read from the environment (and a `.env` file)."""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.db.urls import APP_ROLE, WORKER_ROLE, with_user

# Secrets that must never protect a production deployment.
DEV_JWT_SECRET = "dev-only-secret-do-not-use-in-production-0123456789"
PLACEHOLDER_SECRETS = frozenset({"", DEV_JWT_SECRET, "changeme", "secret"})
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The largest cost an operation may have (app/graphql/cost.py): every operation the test suite,
# the README and bench/ send stays under it (the largest costs about 2,000).
MAX_QUERY_COST = 10_000
REQUEST_TIMEOUT_SECONDS = 10.0


class AppEnv(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    app_env: AppEnv = AppEnv.DEV
    # Unset: the dev stack starts embedded Postgres / Valkey under DATA_DIR. DATABASE_URL is the
    # owner's: migrations and CLI commands use it. The API and the workers connect as roles of
    # their own, behind row-level security (app/db/tenancy.py): APP_DATABASE_URL and
    # WORKER_DATABASE_URL, or, unset, DATABASE_URL with its user (and password) replaced by
    # partner_leads_app / partner_leads_worker.
    database_url: str | None = None
    app_database_url: str | None = None
    worker_database_url: str | None = None
    redis_url: str | None = None
    # A streaming replica of DATABASE_URL's database (optional): the read path queries it, as
    # partner_leads_app (APP_DATABASE_REPLICA_URL, or this URL with its user replaced), while
    # writes, and an actor's reads until the replica has replayed their last write, stay on
    # the primary (app/db/replica.py).
    database_replica_url: str | None = None
    app_database_replica_url: str | None = None
    # How long after a write its author's reads wait for the replica before going there anyway
    # (a replica further behind than this is lagging badly; see the README).
    replica_read_after_write_seconds: float = Field(default=60.0, gt=0)
    # How often each API process asks the replica how far it has replayed.
    replica_poll_seconds: float = Field(default=0.05, gt=0)
    # API processes `partner-leads serve` runs on one port (0: one per CPU core).
    api_workers: int = Field(default=1, ge=0)
    data_dir: Path = PROJECT_ROOT / ".data"

    jwt_secret: str = DEV_JWT_SECRET
    jwt_jwks_url: str | None = None
    jwt_audience: str = "partner-leads"
    jwt_issuer: str = "partner-leads"
    # The server-side key API keys are hashed with (HMAC-SHA256): a copy of the database alone
    # cannot test guesses. Unset: derived from JWT_SECRET (refused in production if that is a
    # placeholder, e.g. with JWT_JWKS_URL). Changing it invalidates every API key.
    api_key_pepper: str | None = None

    lead_response_days: int = Field(default=14, ge=1, le=365)
    contact_alert_urgent_hours: int = Field(default=72, ge=1)

    # Where links in messages point (the partner SPA).
    app_base_url: str = "http://127.0.0.1:8000"
    # Outgoing mail. Unset in dev: `make run` starts a local sink that writes .eml files to
    # DATA_DIR/mail. smtp://user:pass@host:port, or smtps:// for implicit TLS.
    smtp_url: str | None = None
    mail_from: str = "Partner Leads <leads@partner-leads.example>"
    # Reminders to the partner's team before the response deadline, in hours left.
    reminder_hours: list[int] = Field(default_factory=lambda: [72, 24, 1])
    # Webhooks: an endpoint failing for this long is disabled and its owner told.
    webhook_disable_after_hours: int = 5 * 24
    webhook_timeout_seconds: float = 10.0
    # SSRF: outside dev/test, webhook targets that are or resolve to loopback, private or other
    # non-public addresses are refused, at registration and at delivery (unset: by APP_ENV).
    webhook_allow_private_urls: bool | None = None
    # Responsiveness (R11): the trailing window and how strongly few leads are pulled to the
    # prior (a profile with `score_prior_weight` leads counts half its own record).
    # Return to pool: how many partners an autoReroute lead is offered to after the first.
    reroute_max_hops: int = Field(default=3, ge=0, le=20)
    score_window_days: int = 180
    score_prior_weight: float = 10.0

    host: str = "127.0.0.1"
    port: int = 8000
    # The compiled read path: its own asyncpg pool, and how long a reader's roles may be cached
    # (a removed role or a deactivated user stops reading within this many seconds).
    compiled_reads: bool = True
    read_pool_size: int = Field(default=8, ge=1)
    actor_cache_seconds: float = Field(default=5.0, ge=0)
    # Garbage collection in a serving process (the test suite, which builds many apps, turns
    # it off).
    gc_freeze: bool = True
    gc_gen0_threshold: int = Field(default=50_000, ge=700)
    db_pool_size: int = 10
    db_max_overflow: int = 10
    # Postgres cancels statements slower than this: one bad query cannot pin a pool slot.
    db_statement_timeout_ms: int = 15_000

    # --- The HTTP edge and production posture (issue 9). Unset (None) means: on outside
    # production, off in production. ---
    # Browser origins allowed to call the API and open its websocket (comma-separated, e.g.
    # "https://app.example.com"). Unset: none in production, the dev server's own in dev/test.
    cors_origins: str | None = None
    # Peers whose X-Forwarded-For names the client (comma-separated IPs or CIDRs). Empty: the
    # socket's peer is the client, whatever headers say, so rate limits cannot be sidestepped.
    trusted_proxies: str = ""
    # Request bodies above this are refused with 413 before more of them is read.
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # POST /import/leads.csv bodies above this are refused with 413 (1,000 rows of long notes).
    csv_import_max_bytes: int = Field(default=5_000_000, ge=1024)
    # JSON nested deeper than this (variables, extensions) is refused with 400.
    max_json_depth: int = Field(default=32, ge=4, le=512)
    # Automatic persisted queries (extensions.persistedQuery): SPAs send a hash, not the text.
    persisted_queries: bool = True
    persisted_query_ttl_seconds: int = Field(default=7 * 86400, ge=60)
    graphql_introspection: bool | None = None
    # "Did you mean ...?" in validation errors: they map the schema for whoever asks.
    graphql_suggestions: bool | None = None
    # Queries over GET (mutations never): off in production, where POST is all the SPA needs.
    graphql_get: bool | None = None
    # The legacy `graphql-ws` websocket protocol, besides `graphql-transport-ws`.
    graphql_ws_legacy: bool = False

    # --- Bounded cost per request (issue 9, section 1) ---
    # Operations whose cost (fields x list sizes, computed before execution) is above this are
    # refused with QUERY_TOO_COSTLY.
    max_query_cost: int = Field(default=MAX_QUERY_COST, ge=1)
    # An operation still running after this long is cancelled (its transaction rolled back) and
    # answered with TIMEOUT: no request holds a connection or the server's shutdown for longer.
    request_timeout_seconds: float = Field(default=REQUEST_TIMEOUT_SECONDS, gt=0)

    # --- Privacy (issue 11, section 4) ---
    # A declined or expired lead's customer contact is hidden from readers this many days after
    # it was archived (worked out at read time).
    contact_hidden_after_days: int = Field(default=30, ge=0, le=3650)
    # Archived leads' customer personal data is redacted this many days after archiving.
    pii_retention_days: int = Field(default=365, ge=1, le=3650)
    # --- Operating it (issue 12, section 1: README "Operating it") ---
    log_level: str = "INFO"
    # JSON log lines (one object per line); unset: in production only.
    log_json: bool | None = None
    # /metrics answers loopback clients, and others that send `Authorization: Bearer <token>`.
    metrics_token: str | None = None
    # The worker's /healthz, /readyz and /metrics (jobs, outbox lag, deliveries, leads by
    # stage); 0 turns them off. Unset: 8081, off in tests (many workers run at once).
    worker_health_port: int | None = Field(default=None, ge=0, le=65535)
    # The worker's /metrics counts deliveries and leads (a scan each) at most this often.
    metrics_db_cache_seconds: float = Field(default=60.0, ge=0)
    # OpenTelemetry traces go to this OTLP/HTTP collector (e.g. http://otel:4318); unset: no
    # tracing code is even imported.
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str = "partner-leads"
    # The reference SPA (web/) at `/` and `/web/`; off for an API-only deployment.
    serve_web_ui: bool = True

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
            if self.api_key_pepper is None and (
                self.jwt_secret in PLACEHOLDER_SECRETS or len(self.jwt_secret) < 32
            ):
                raise ValueError(
                    "API_KEY_PEPPER is unset and JWT_SECRET is a development placeholder: set "
                    "API_KEY_PEPPER in production"
                )
            if self.api_key_pepper is not None and (
                self.api_key_pepper in PLACEHOLDER_SECRETS or len(self.api_key_pepper) < 32
            ):
                raise ValueError(
                    "API_KEY_PEPPER must be a real secret of at least 32 characters in production"
                )
            if not (self.database_url or self.app_database_url) or not self.redis_url:
                raise ValueError(
                    "DATABASE_URL (or APP_DATABASE_URL) and REDIS_URL are required in production"
                )
        return self

    @property
    def api_database_url(self) -> str | None:
        """Where the API connects: as partner_leads_app, never as the tables' owner."""
        return self.app_database_url or self._as_role(APP_ROLE)

    @property
    def api_replica_url(self) -> str | None:
        """Where the API reads when a replica is set: as partner_leads_app too."""
        if self.app_database_replica_url:
            return self.app_database_replica_url
        if self.database_replica_url is None:
            return None
        return with_user(self.database_replica_url, APP_ROLE)

    @property
    def jobs_database_url(self) -> str | None:
        """Where the workers connect: as partner_leads_worker."""
        return self.worker_database_url or self._as_role(WORKER_ROLE)

    def _as_role(self, role: str) -> str | None:
        return None if self.database_url is None else with_user(self.database_url, role)

    @property
    def api_key_hash_key(self) -> bytes:
        """The HMAC key API keys are stored under."""
        if self.api_key_pepper is not None:
            return self.api_key_pepper.encode()
        # Its own key, not JWT_SECRET itself: a key's hash is no use for forging a token.
        secret = self.jwt_secret.encode()
        return hmac.new(secret, b"partner-leads api keys", hashlib.sha256).digest()

    @property
    def logs_as_json(self) -> bool:
        return self.log_json if self.log_json is not None else self.app_env is AppEnv.PRODUCTION

    @property
    def worker_health_listen_port(self) -> int:
        if self.worker_health_port is not None:
            return self.worker_health_port
        return 0 if self.app_env is AppEnv.TEST else 8081

    @property
    def is_dev(self) -> bool:
        return self.app_env is AppEnv.DEV

    def _unless_production(self, value: bool | None) -> bool:
        return value if value is not None else self.app_env is not AppEnv.PRODUCTION

    @property
    def introspection_enabled(self) -> bool:
        return self._unless_production(self.graphql_introspection)

    @property
    def suggestions_enabled(self) -> bool:
        return self._unless_production(self.graphql_suggestions)

    @property
    def get_enabled(self) -> bool:
        return self._unless_production(self.graphql_get)

    @property
    def allowed_origins(self) -> tuple[str, ...]:
        if self.cors_origins is not None:
            return tuple(o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip())
        if self.app_env is AppEnv.PRODUCTION:
            return ()
        return (f"http://{self.host}:{self.port}", f"http://localhost:{self.port}")

    @property
    def trusted_proxy_hosts(self) -> list[str]:
        return [h.strip() for h in self.trusted_proxies.split(",") if h.strip()]

    @property
    def allows_private_webhook_urls(self) -> bool:
        if self.webhook_allow_private_urls is not None:
            return self.webhook_allow_private_urls
        return self.app_env is not AppEnv.PRODUCTION


@lru_cache
def get_settings() -> Settings:
    return Settings()
