"""All configuration, read from WATCHER_* environment variables (one place for effective config)."""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .db.timeouts import DbTimeouts
from .db.urls import async_url, canonical_url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WATCHER_", extra="ignore")

    database_url: str = Field(
        "sqlite:///watcher.db",
        description="Any SQLAlchemy URL: sqlite:///path.db, postgresql://user@host/db, postgresql+asyncpg://...",
    )
    db_pool_size: int | None = Field(
        None, ge=1, le=500,
        description="Most connections one server process keeps for reuse; empty = 15 on PostgreSQL, where one unused for "
        "30 s is closed, and 30 on SQLite. Keep workers x (pool + overflow) per instance within max_connections.",
    )  # fmt: skip
    db_max_overflow: int | None = Field(
        None, ge=0, le=500,
        description="Extra connections a process may open beyond the pool under bursts, each closed when returned; "
        "empty = 0 on PostgreSQL, 10 on SQLite.",
    )  # fmt: skip
    api_tokens: str = Field("", description="Comma-separated read-write bearer tokens; empty with no read tokens = open API.")
    api_read_tokens: str = Field("", description="Comma-separated read-only bearer tokens (GET and HEAD only).")
    session_secret: str = Field(
        "",
        description="Key that signs the web pages' login cookie; empty = derived from the configured tokens (changing a "
        "token then logs every browser out). Set the same value on every replica.",
    )
    session_hours: float = Field(12.0, gt=0, le=8760, description="How long a web login lasts before the pages ask for the token again.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Request bodies larger than this get 413.")
    db_lock_timeout_seconds: float = Field(
        5.0, gt=0, le=60,
        description="Longest a request waits for a database lock (PostgreSQL lock_timeout, SQLite busy timeout) "
        "before answering 503 with Retry-After; keep it below the SDK's 10 s read timeout.",
    )  # fmt: skip
    db_statement_timeout_seconds: float = Field(
        6.0, gt=0, le=3600,
        description="Longest one SQL statement of a request or job may run (PostgreSQL statement_timeout; the client gives up "
        "1 s later if the server does not answer at all) before the request answers 503 with Retry-After.",
    )  # fmt: skip
    db_connect_timeout_seconds: float = Field(
        3.0, gt=0, le=60, description="Longest opening a new PostgreSQL connection may take before the request answers 503."
    )
    db_pool_timeout_seconds: float = Field(
        3.0, gt=0, le=60, description="Longest a request waits for a free pooled connection before it answers 503."
    )
    http_header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A client must send a request's line and headers within this long, or gets 408 and is disconnected.",
    )
    http_body_timeout_seconds: float = Field(
        30.0, gt=0, le=3600, description="A client must send a request's whole body within this long after its headers, or gets 408."
    )
    http_keepalive_timeout_seconds: float = Field(
        5.0, gt=0, le=3600, description="A keep-alive connection that sends no byte of a next request this long after an answer is closed."
    )
    http_max_header_bytes: int = Field(
        65_536, ge=1024, le=16_777_216, description="Request line plus headers larger than this get 431 and the connection is closed."
    )
    http_max_connections: int = Field(
        1000, ge=1, le=100_000, description="Open connections per server process; a connection opened beyond it gets 503 and is closed."
    )
    lineage_max_addresses_per_side: int = Field(
        1000, ge=1, le=100_000, description="Most source (or target) addresses one POST /address_lineage may name (422 beyond)."
    )
    lineage_max_edges_per_pipeline: int = Field(
        10_000, ge=1, le=10_000_000, description="Most lineage edges (sources x targets) one pipeline may have (422 beyond)."
    )
    lineage_max_graph_nodes: int = Field(
        2000, ge=10, le=1_000_000, description="Most addresses one lineage graph or neighbourhood answer holds; more are marked truncated."
    )
    lineage_max_graph_edges: int = Field(
        10_000, ge=1, le=10_000_000, description="Most edges one lineage graph answer holds; more are marked truncated."
    )
    alert_retry_hours: float = Field(
        24.0,
        gt=0,
        le=8760,
        description="How long an undelivered alert keeps being retried (capped exponential back-off) before it is failed.",
    )
    alert_delivery_timeout_seconds: float = Field(10.0, gt=0, le=300, description="Longest one delivery attempt to one webhook may take.")
    alert_delivery_concurrency: int = Field(10, ge=1, le=1000, description="Alerts delivered at once by one process.")
    alert_rate_limit_per_minute: int = Field(
        30,
        ge=0,
        le=100_000,
        description="Messages each webhook gets per minute at most; above it, one digest message lists the rest. 0 = no limit.",
    )
    public_url: str = Field(
        "",
        description="Base URL clients and people reach this server at, used for links in alert messages; "
        "empty = the host and port `watcher serve` binds.",
    )
    log_format: Literal["text", "json"] = Field("text", description="Log lines as text, or one JSON object per line ('json').")
    shutdown_timeout_seconds: int = Field(
        30, ge=1, le=3600, description="On SIGTERM, how long in-flight requests and running jobs may take to finish."
    )
    slack_webhook_url: str = Field("", description="Slack-compatible incoming webhook that receives alerts; empty = not sent.")
    alert_webhook_url: str = Field("", description="Generic webhook that receives every alert as JSON; empty = not sent.")
    freshness_check_schedule: str = Field("0 * * * *", description="5-field cron (UTC) of the freshness check; empty disables.")
    timeliness_check_schedule: str = Field("*/15 * * * *", description="5-field cron (UTC) of the timeliness check; empty disables.")
    timeliness_check_lookback_minutes: int = Field(60, ge=5, le=525_600, description="Lookback window of scheduled timeliness runs.")
    alert_on_failed_executions: bool = Field(True, description="Alert once for each failed execution (timeliness run).")
    skip_inactive_pipelines: bool = Field(False, description="Leave active=false pipelines out of freshness and timeliness.")
    queue_health_check_schedule: str = Field("*/5 * * * *", description="5-field cron (UTC) of the queue-depth check; empty disables.")
    queue_warning_threshold: int = Field(50, ge=1, description="Pending jobs that make the queue 'warning' (and send one alert).")
    queue_critical_threshold: int = Field(100, ge=1, description="Pending jobs that make the queue 'critical'.")
    alert_retention_days: int = Field(90, ge=1, description="Alert history older than this is pruned.")
    auto_create_anomaly_detection_rules: bool = Field(False, description="Give each new pipeline one active rule per metric.")
    scheduler_enabled: bool = Field(True, description="Run scheduled checks and alert delivery inside `watcher serve`.")
    job_queue: Literal["embedded", "procrastinate"] = Field(
        "embedded",
        description="Where background jobs run: 'embedded' (inside `watcher serve`) or 'procrastinate' "
        "(scale-out, PostgreSQL only: `watcher worker` processes run them).",
    )

    @field_validator("freshness_check_schedule", "timeliness_check_schedule", "queue_health_check_schedule")
    @classmethod
    def _cron_is_valid(cls, value: str) -> str:
        from .core.cron import parse_cron  # lazy: settings must import without the scheduler

        if value.strip():
            parse_cron(value)
        return value.strip()

    @field_validator("slack_webhook_url", "alert_webhook_url", "public_url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        value = value.strip()
        if value and not value.lower().startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _database_url_is_supported(cls, value: str) -> str:
        value = canonical_url(value.strip())
        async_url(value)  # raises with a message naming the fix
        return value

    @model_validator(mode="after")
    def _scale_out_needs_postgresql(self) -> Settings:
        if self.job_queue == "procrastinate" and not self.database_url.lower().startswith("postgres"):
            raise ValueError(
                "WATCHER_JOB_QUEUE=procrastinate (scale-out mode) needs a PostgreSQL WATCHER_DATABASE_URL; "
                "with SQLite, unset it: `watcher serve` runs every background job itself"
            )
        return self

    @property
    def base_url(self) -> str:
        """Where links in alerts point: WATCHER_PUBLIC_URL (which `watcher serve` fills from its bind address)."""
        return self.public_url or "http://localhost:8000"

    @property
    def db_timeouts(self) -> DbTimeouts:
        return DbTimeouts(
            lock=self.db_lock_timeout_seconds,
            statement=self.db_statement_timeout_seconds,
            connect=self.db_connect_timeout_seconds,
            pool=self.db_pool_timeout_seconds,
        )

    @cached_property
    def write_tokens(self) -> tuple[str, ...]:
        return _split(self.api_tokens)

    @cached_property
    def read_tokens(self) -> tuple[str, ...]:
        return _split(self.api_read_tokens)


def _split(value: str) -> tuple[str, ...]:
    return tuple(token.strip() for token in value.split(",") if token.strip())


def documented_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for --help and the docs."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default if field.default not in ("", None) else "(empty)"
        rows.append((f"WATCHER_{name.upper()}", str(default), field.description or ""))
    return rows
