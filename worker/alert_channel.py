"""Build the alert route from settings (CAREPATH_ALERT_EMAIL_TO), failing closed on a half
configuration: alert addresses without the SMTP settings refuse to start."""

from __future__ import annotations

from config.settings import Settings
from store.channels.alerts import AlertEmailChannel, AlertEmailSender
from store.channels.email import SmtpTarget
from worker.adapters import MissingIntegration


def addresses(settings: Settings) -> list[str]:
    raw = settings.alert_email_to or ""
    return [a.strip() for a in raw.split(",") if a.strip()]


def check_alert_channel(settings: Settings) -> None:
    if not addresses(settings):
        return
    missing = [
        f"CAREPATH_{name.upper()}"
        for name in ("smtp_url", "email_from")
        if getattr(settings, name) in (None, "")
    ]
    if missing:
        raise MissingIntegration(
            f"refusing to start:\n  alert email: {', '.join(missing)} not set "
            "(CAREPATH_ALERT_EMAIL_TO needs the SMTP settings)"
        )


def build_alert_channel(settings: Settings) -> AlertEmailChannel | None:
    """The alert route, or None when no alert address is configured."""
    check_alert_channel(settings)
    to = addresses(settings)
    if not to:
        return None
    assert settings.smtp_url is not None and settings.email_from
    target = SmtpTarget.from_url(settings.smtp_url.get_secret_value())
    return AlertEmailChannel(AlertEmailSender(target, settings.email_from), to)
