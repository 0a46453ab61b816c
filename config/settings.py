"""Settings from environment variables (prefix CAREPATH_, plus DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from config.secret_files import FileVariantSettings
from config.tuning import (
    HISTORY_EVENT_LIMIT,
    REST_AFTER_EVENTS,
    REST_SETTLE_SECONDS,
    WorkerTuning,
    cache_slots,
)
from rules import localtime

REPO_ROOT = Path(__file__).resolve().parent.parent
# The episode's workflow task timeout by default (Temporal's own default is 10 s too).
WORKFLOW_TASK_TIMEOUT_SECONDS = 10.0


class DatabaseNotConfigured(RuntimeError):
    """A process that needs PostgreSQL was started without DATABASE_URL."""


class Settings(FileVariantSettings):
    model_config = SettingsConfigDict(env_prefix="CAREPATH_", extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "care-episodes"
    temporal_ui_port: int = 8233

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CAREPATH_DATABASE_URL")
    )
    # The records role's password, kept out of DATABASE_URL (a secret file in production:
    # CAREPATH_DATABASE_PASSWORD_FILE); put into the URL when the URL has none.
    database_password: SecretStr | None = None
    db_pool_min: int = 1
    db_pool_max: int = 10

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    data_dir: Path = REPO_ROOT / "data"

    # production: every integration must be configured or the worker refuses to start
    # (worker/adapters.py). development (`make run`): unset ones fall back to the sandbox.
    env: Literal["production", "development"] = "production"
    # Outside our walls: the payer's clearinghouse and the clinic's webhook for
    # notifications. `payer=sandbox` / `notify=log` choose the stand-ins explicitly.
    payer: Literal["clearinghouse", "sandbox"] | None = None
    payer_url: str | None = None
    payer_api_key: SecretStr | None = None
    notify: Literal["webhook", "log"] | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Patients' own channels (store/channels/): email over SMTP and SMS through a gateway
    # speaking Twilio's Messages API. Unset: patient messages take the route above.
    public_url: str | None = None  # where patients and the SMS gateway reach the API
    smtp_url: SecretStr | None = None  # smtp://user:pass@host:587 or smtps://...:465
    email_from: str | None = None
    sms_url: str | None = None
    sms_account: str | None = None
    sms_token: SecretStr | None = None
    sms_from: str | None = None
    # The alert route (store/channels/alerts.py): when an urgent message cannot be
    # delivered, operators and supervisors are alerted by email to these addresses
    # (comma-separated; needs smtp_url and email_from) rather than on the failed route.
    alert_email_to: str | None = None
    # The dispatcher wakes on LISTEN/NOTIFY; this poll is only its safety net (and what
    # sends a message held by quiet hours once they end).
    outbox_poll_seconds: float = 10.0

    # Observability: where the worker's Temporal SDK metrics are served (host:port; unset:
    # off), and the window of the API's "authorizations expiring" gauge.
    metrics_address: str | None = None
    metrics_expiring_within_days: int = 7
    log_format: Literal["text", "json"] = "text"
    # OTLP/HTTP endpoint for traces (observability/tracing.py); unset: no tracing.
    otel_traces_endpoint: str | None = None

    # Temporal frontend over TLS; with a client certificate and key, mutual TLS.
    temporal_tls: bool = False
    temporal_tls_ca_file: Path | None = None
    temporal_tls_cert_file: Path | None = None
    temporal_tls_key_file: Path | None = None
    temporal_tls_server_name: str | None = None

    # Worker tuning (config/tuning.py, measured in BENCHMARKS.md "At scale"). The cache of
    # episodes held in memory: unset, as many as fit the memory budget; an episode not
    # cached replays its history before it answers. Task slots: workflow tasks (updates,
    # timers, queries being applied) and activities running at once.
    worker_memory_budget_mib: float = Field(default=400.0, gt=0)
    max_cached_workflows: int | None = Field(default=None, ge=0)
    max_concurrent_workflow_tasks: int = Field(default=100, ge=2)
    max_concurrent_activities: int = Field(default=50, ge=1)
    # A run continues as new past this many history events (or when Temporal suggests it):
    # the bound on what one cold episode replays before it answers. Set at each start (the
    # API's); a run keeps the limit it was started with.
    history_event_limit: int = Field(default=HISTORY_EVENT_LIMIT, ge=50)
    # Engine V5: a run continues as new once it has been quiet this long (and has grown
    # past a few events), so a cold episode replays a short run. Set at each start (the
    # API's); carried from run to run.
    rest_settle_seconds: float = Field(default=REST_SETTLE_SECONDS, ge=1, le=86_400)
    rest_after_events: int = Field(default=REST_AFTER_EVENTS, ge=10)
    # How long a worker may hold one workflow task before Temporal gives it to another (set
    # at each start by the API; continue-as-new runs inherit it). Too short and a slow task
    # under load (a cold episode's replay on a busy machine) times out and is retried as
    # "Workflow Task in failed state"; too long and a crashed worker's in-flight tasks wait
    # this long. Measured in README "Reliability" (temporal_client.WORKFLOW_TASK_TIMEOUT).
    workflow_task_timeout_seconds: float = Field(
        default=WORKFLOW_TASK_TIMEOUT_SECONDS, gt=0, le=120
    )
    # On SIGTERM: how long running activities may finish before they are cancelled. Below
    # the orchestrator's grace period (compose stop_grace_period 60 s, k8s 60 s).
    graceful_shutdown_seconds: float = 45.0
    # After a worker dies, its cached episodes wait this long on its sticky queue before
    # another worker takes them (worker/runtime.py; measured in tests/faults).
    sticky_queue_schedule_to_start_seconds: float = 2.0
    # A message claimed by a dispatcher that died is sent again after this long.
    outbox_lease_seconds: float = 120.0
    # /readyz reports the outbox dispatcher stale when no pass completed for this long.
    dispatcher_stale_after_seconds: float = 30.0

    # Retention (store/retention.py, run by the worker): days each kind of row is kept.
    # Answered idempotency keys (a retry within the window gets the first answer; claims
    # in flight are never purged), applied-batch markers (dedupe a retried record write),
    # sent / delivered outbox messages (at least 8 days: the patient channel's rate limit
    # counts recent sends). Failed and pending messages are never purged.
    retention_idempotency_days: float = Field(default=30.0, gt=0)
    retention_applied_batches_days: float = Field(default=90.0, gt=0)
    retention_outbox_sent_days: float = Field(default=30.0, ge=8)
    retention_interval_seconds: float = Field(default=3600.0, gt=0)
    # The 6- and 12-month follow-up questionnaires after closure (store/followups.py).
    followup_interval_seconds: float = Field(default=900.0, gt=0)
    followup_6_month_days: int = Field(default=182, ge=62, le=242)
    followup_12_month_days: int = Field(default=365, ge=305, le=425)
    # Each program's IANA time zone (JSON object, program ID -> zone): the outcomes report
    # counts days on the program's local calendar (the same zone as its episodes' policy
    # `time_zone`), and the follow-ups are dated and sent on it; a program not named here
    # counts UTC days. Read by the API and the worker alike.
    program_time_zones: dict[str, str] = Field(default_factory=dict)

    log_level: str = "INFO"

    @field_validator("program_time_zones")
    @classmethod
    def _known_zones(cls, zones: dict[str, str]) -> dict[str, str]:
        for name in zones.values():
            localtime.zone(name)  # ValueError names an unknown zone
        return zones

    def program_time_zone(self, program_id: str) -> str:
        return self.program_time_zones.get(program_id, "UTC")

    @model_validator(mode="after")
    def _password_into_url(self) -> Settings:
        if self.database_url and self.database_password is not None:
            parts = urlsplit(self.database_url)
            if parts.password is None and parts.hostname:
                user = parts.username or ""
                secret = quote(self.database_password.get_secret_value(), safe="")
                host = parts.netloc.rsplit("@", 1)[-1]
                netloc = f"{user}:{secret}@{host}"
                self.database_url = urlunsplit(parts._replace(netloc=netloc))
        return self

    @field_validator(
        "payer",
        "notify",
        "payer_url",
        "webhook_url",
        "public_url",
        "smtp_url",
        "email_from",
        "sms_url",
        "sms_account",
        "sms_token",
        "sms_from",
        "alert_email_to",
        "otel_traces_endpoint",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """Compose passes `${VAR:-}` as an empty string: that means not chosen."""
        return None if value == "" else value

    def require_database_url(self) -> str:
        """DATABASE_URL, or a clear error: no process starts a database of its own (`make
        run` starts the embedded one and passes its URL to the worker and the API)."""
        if not self.database_url:
            raise DatabaseNotConfigured(
                "DATABASE_URL is not set: point it at the records database (`make run` "
                "starts an embedded PostgreSQL under data/pg and sets it for you)"
            )
        return self.database_url

    def worker_tuning(self) -> WorkerTuning:
        """The cache size (set, or derived from the memory budget) and the task slots."""
        cached = self.max_cached_workflows
        if cached is None:
            cached = cache_slots(self.worker_memory_budget_mib)
        return WorkerTuning(
            max_cached_workflows=cached,
            max_concurrent_workflow_tasks=self.max_concurrent_workflow_tasks,
            max_concurrent_activities=self.max_concurrent_activities,
        )


def load_settings() -> Settings:
    return Settings()
