"""Settings from environment variables (prefix CAREPATH_, plus DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREPATH_", extra="ignore")

    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "care-episodes"
    temporal_ui_port: int = 8233

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "CAREPATH_DATABASE_URL")
    )
    db_pool_min: int = 1
    db_pool_max: int = 10

    api_host: str = "127.0.0.1"
    api_port: int = 8000

    data_dir: Path = REPO_ROOT / "data"

    # Outside our walls: the payer's clearinghouse (sandbox payer when unset) and the
    # clinic's webhook for notifications (log only when unset).
    payer_url: str | None = None
    payer_api_key: SecretStr | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None

    max_concurrent_activities: int = 50

    log_level: str = "INFO"


def load_settings() -> Settings:
    return Settings()
