"""Workbench settings (`CAREPATH_WORKBENCH_*`): session limits, lockout, page refresh.

HIPAA's automatic log-off is the idle timeout; the absolute lifetime ends even a busy
session so a stolen cookie does not live for ever.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkbenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREPATH_WORKBENCH_", extra="ignore")

    idle_timeout_seconds: float = Field(default=15 * 60, gt=0)
    session_lifetime_seconds: float = Field(default=12 * 3600, gt=0)
    lockout_after_failures: int = Field(default=5, ge=1)
    lockout_seconds: float = Field(default=15 * 60, gt=0)
    # None: Secure exactly when the request arrived over https (uvicorn --proxy-headers
    # behind a TLS proxy). True in production forces it.
    cookie_secure: bool | None = None
    # How often the Today page refreshes its worklists (a background request: it does
    # not count as activity, so an unattended screen still logs off).
    refresh_seconds: float = Field(default=30, gt=0)
    # Worklist horizons.
    review_horizon_days: int = Field(default=7, ge=1)
    authorization_horizon_days: int = Field(default=14, ge=1)
    page_size: int = Field(default=25, ge=1, le=500)


def load_workbench_settings() -> WorkbenchSettings:
    return WorkbenchSettings()
