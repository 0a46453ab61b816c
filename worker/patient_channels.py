"""Build the patient channel (SMS and/or email) and the routes that serve the programs'
choice per recipient kind from settings, failing closed on a half configuration: a gateway
URL without its account, token or From number names what is missing, as
worker/adapters.py does for the other integrations."""

from __future__ import annotations

from contextlib import AsyncExitStack

import asyncpg
import httpx

from config.settings import Settings
from store.channels.contacts import MessagingChannel
from store.channels.email import EmailSender, SmtpTarget
from store.channels.patient import PATIENT_CHANNEL, PatientChannel, Sender
from store.channels.routing import RecipientRouter
from store.channels.sms import SmsSender
from store.channels.staff_email import StaffEmailChannel, StaffEmailSender
from store.outbox import Channel
from store.postgres import DEFAULT_CHANNEL
from worker.adapters import MissingIntegration

SMS_NEEDS = ("sms_url", "sms_account", "sms_token", "sms_from", "public_url")
EMAIL_NEEDS = ("smtp_url", "email_from")


def _unset(settings: Settings, names: tuple[str, ...]) -> list[str]:
    return [f"CAREPATH_{n.upper()}" for n in names if getattr(settings, n) in (None, "")]


def configured(settings: Settings) -> bool:
    """Whether any patient channel is configured (then patient messages are routed to it)."""
    return settings.sms_url is not None or settings.smtp_url is not None


def check_patient_channels(settings: Settings) -> None:
    problems: list[str] = []
    if settings.sms_url is not None and (missing := _unset(settings, SMS_NEEDS)):
        problems.append(f"sms: {', '.join(missing)} not set")
    if settings.smtp_url is not None and (missing := _unset(settings, EMAIL_NEEDS)):
        problems.append(f"email: {', '.join(missing)} not set")
    if problems:
        raise MissingIntegration("refusing to start:\n  " + "\n  ".join(problems))


async def build_patient_channel(
    settings: Settings, pool: asyncpg.Pool, stack: AsyncExitStack
) -> PatientChannel | None:
    """The patient channel, or None when neither SMS nor email is configured."""
    check_patient_channels(settings)
    senders: dict[MessagingChannel, Sender] = {}
    if settings.smtp_url is not None and settings.email_from:
        target = SmtpTarget.from_url(settings.smtp_url.get_secret_value())
        senders[MessagingChannel.EMAIL] = EmailSender(target, settings.email_from)
    if settings.sms_url is not None:
        assert settings.sms_account and settings.sms_token and settings.sms_from
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=15.0))
        senders[MessagingChannel.SMS] = SmsSender(
            pool,
            base_url=settings.sms_url,
            account=settings.sms_account,
            token=settings.sms_token.get_secret_value(),
            from_number=settings.sms_from,
            public_url=settings.public_url,
            client=http,
        )
    return PatientChannel(pool, senders, public_url=settings.public_url) if senders else None


async def build_routes(
    settings: Settings, pool: asyncpg.Pool, stack: AsyncExitStack, webhook: Channel
) -> dict[str, Channel]:
    """The default and patient routes: one `RecipientRouter` serving both, which sends each
    message where its program chose for the recipient's kind (webhook, email, SMS)."""
    staff = None
    if settings.smtp_url is not None and settings.email_from:
        target = SmtpTarget.from_url(settings.smtp_url.get_secret_value())
        staff = StaffEmailChannel(StaffEmailSender(target, settings.email_from))
    patients = await build_patient_channel(settings, pool, stack)
    router = RecipientRouter(pool, webhook, patients=patients, staff_email=staff)
    return {DEFAULT_CHANNEL: router, PATIENT_CHANNEL: router}
