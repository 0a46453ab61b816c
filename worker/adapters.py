"""Chooses the real adapter or the sandbox for each port, from settings."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx

from activities.notify_log import LogNotifier
from activities.payer_clearinghouse import ClearinghousePayer
from activities.payer_sandbox import SandboxPayer
from activities.ports import PayerPort
from store.outbox import Channel, LogChannel
from store.webhook import WebhookChannel
from worker.settings import Settings


async def build_payer(settings: Settings, stack: AsyncExitStack) -> PayerPort:
    """The clearinghouse when CAREPATH_PAYER_URL is set; otherwise the sandbox payer."""
    if not settings.payer_url:
        return SandboxPayer()
    if settings.payer_api_key is None:
        raise ValueError("CAREPATH_PAYER_URL is set but CAREPATH_PAYER_API_KEY is not")
    http = await stack.enter_async_context(httpx.AsyncClient(timeout=30.0))
    return ClearinghousePayer(settings.payer_url, settings.payer_api_key.get_secret_value(), http)


def build_channel(settings: Settings) -> Channel:
    """The signed webhook when CAREPATH_WEBHOOK_URL is set; otherwise the log channel."""
    if not settings.webhook_url:
        return LogChannel()
    if settings.webhook_secret is None:
        raise ValueError("CAREPATH_WEBHOOK_URL is set but CAREPATH_WEBHOOK_SECRET is not")
    return WebhookChannel(settings.webhook_url, settings.webhook_secret.get_secret_value())


# Used only when no store queues messages itself (the PostgreSQL store always does).
fallback_notifier = LogNotifier
