"""Chooses the real adapter or the stand-in for each port, from settings — failing closed.

A production worker (the default, `CAREPATH_ENV=production`) with an integration left unset
refuses to start and names the setting: a sandbox payer that approves by member-ID prefix,
or notifications that only reach a log line, must be chosen on purpose (`CAREPATH_PAYER=
sandbox`, `CAREPATH_NOTIFY=log`, or `CAREPATH_ENV=development` as `make run` does).
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from activities.payer_clearinghouse import ClearinghousePayer
from activities.payer_sandbox import SandboxPayer
from activities.ports import PayerPort
from config.settings import Settings
from store.outbox import Channel, LogChannel
from store.webhook import WebhookChannel

log = logging.getLogger("carepath.worker")


@dataclass(frozen=True)
class Integration:
    """One port to the outside: its real adapter, its stand-in, and the settings it needs."""

    port: str  # what it is, for messages
    choice_field: str  # Settings field that chooses explicitly (real or stand_in)
    real: str
    stand_in: str
    needs: tuple[str, ...]  # Settings fields the real adapter needs, the first one its URL


INTEGRATIONS = (
    Integration("payer", "payer", "clearinghouse", "sandbox", ("payer_url", "payer_api_key")),
    Integration("notifications", "notify", "webhook", "log", ("webhook_url", "webhook_secret")),
)


class MissingIntegration(SystemExit):
    """Raised before anything connects; the message names every unset setting."""


def _is_set(settings: Settings, field_name: str) -> bool:
    value = getattr(settings, field_name)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value not in (None, "")


def _var(field_name: str) -> str:
    return f"CAREPATH_{field_name.upper()}"


def choose(settings: Settings, integration: Integration) -> tuple[str, str | None]:
    """(chosen adapter, problem or None) for one integration."""
    explicit = getattr(settings, integration.choice_field)
    configured = _is_set(settings, integration.needs[0])
    if explicit == integration.stand_in:
        return integration.stand_in, None
    if explicit is None and not configured:
        if settings.env == "development":
            return integration.stand_in, None
        return integration.real, (
            f"{_var(integration.needs[0])} is not set: configure the {integration.port} "
            f"integration, or choose the stand-in on purpose with "
            f"{_var(integration.choice_field)}={integration.stand_in}"
        )
    missing = [_var(name) for name in integration.needs if not _is_set(settings, name)]
    if missing:
        return integration.real, f"{integration.port}: {', '.join(missing)} not set"
    return integration.real, None


def choices(settings: Settings) -> dict[str, str]:
    """Port → chosen adapter; raises MissingIntegration naming every unset setting."""
    chosen: dict[str, str] = {}
    problems: list[str] = []
    for integration in INTEGRATIONS:
        adapter, problem = choose(settings, integration)
        chosen[integration.port] = adapter
        if problem:
            problems.append(problem)
    if problems:
        raise MissingIntegration(
            "refusing to start (CAREPATH_ENV=production):\n  " + "\n  ".join(problems)
        )
    return chosen


def check_integrations(settings: Settings) -> None:
    """Fail closed at start, and say which stand-ins were chosen."""
    for port, adapter in choices(settings).items():
        integration = next(i for i in INTEGRATIONS if i.port == port)
        if adapter == integration.stand_in:
            log.warning(
                "%s: %s stand-in (CAREPATH_ENV=%s, %s=%s)",
                port,
                adapter,
                settings.env,
                _var(integration.choice_field),
                getattr(settings, integration.choice_field) or "unset",
            )


async def build_payer(settings: Settings, stack: AsyncExitStack) -> PayerPort:
    """The clearinghouse, or the sandbox payer when chosen (see `choices`)."""
    if choices(settings)["payer"] == "sandbox":
        return SandboxPayer()
    assert settings.payer_url is not None and settings.payer_api_key is not None
    http = await stack.enter_async_context(httpx.AsyncClient(timeout=30.0))
    return ClearinghousePayer(settings.payer_url, settings.payer_api_key.get_secret_value(), http)


def build_channel(settings: Settings) -> Channel:
    """The signed webhook, or the log channel when chosen (see `choices`)."""
    if choices(settings)["notifications"] == "log":
        return LogChannel()
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    return WebhookChannel(settings.webhook_url, settings.webhook_secret.get_secret_value())
