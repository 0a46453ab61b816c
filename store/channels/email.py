"""Email to patients over SMTP (aiosmtplib): STARTTLS or implicit TLS, with authentication.

`CAREPATH_SMTP_URL` says how: `smtp://user:pass@host:587` (STARTTLS required),
`smtps://user:pass@host:465` (TLS from the first byte). Plain SMTP without TLS only to a
loopback host, and only when asked for with `?starttls=false`. Answers map to the outbox's
vocabulary: 5xx for a recipient is permanent, 4xx and connection trouble are retried.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from store.channels.messages import SUBJECT, email_text, opaque_reference
from store.outbox import DeliveryError, OutboxMessage, PermanentDeliveryError

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to submit mail, parsed from the URL setting."""

    host: str
    port: int
    implicit_tls: bool
    start_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP URL must look like smtp://user:pass@host:587 or smtps://...")
        implicit = parts.scheme == "smtps"
        query = parse_qs(parts.query)
        start_tls = not implicit and query.get("starttls", ["true"])[0].lower() != "false"
        if not implicit and not start_tls and parts.hostname not in _LOOPBACK:
            raise ValueError("SMTP without TLS is allowed only to a loopback host")
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            implicit_tls=implicit,
            start_tls=start_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class EmailSender:
    """Sends the content-free message to one address; one SMTP session per message."""

    def __init__(
        self,
        target: SmtpTarget,
        sender: str,
        *,
        tls_context: ssl.SSLContext | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if "@" not in sender:
            raise ValueError("CAREPATH_EMAIL_FROM must be an email address")
        self._target = target
        self._sender = sender
        self._tls = tls_context
        self._timeout = timeout_s

    def compose(
        self, message: OutboxMessage, address: str, link: str | None = None
    ) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._sender
        mail["To"] = address
        mail["Subject"] = SUBJECT
        mail["Date"] = formatdate(usegmt=True)
        domain = self._sender.rsplit("@", 1)[1]
        # Stable across retries, so a receiving system can drop a repeat.
        mail["Message-ID"] = f"<{opaque_reference(message.message_id)}@{domain}>"
        mail.set_content(email_text(link))
        return mail

    async def send(self, message: OutboxMessage, address: str, link: str | None = None) -> None:
        target = self._target
        try:
            await aiosmtplib.send(
                self.compose(message, address, link),
                hostname=target.host,
                port=target.port,
                username=target.username,
                password=target.password,
                use_tls=target.implicit_tls,
                start_tls=target.start_tls if not target.implicit_tls else False,
                tls_context=self._tls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            codes = [r.code for r in refused.recipients]
            if codes and all(500 <= c < 600 for c in codes):
                raise PermanentDeliveryError(f"SMTP recipient refused {codes[0]}") from None
            raise DeliveryError(f"SMTP recipient deferred {codes[:1]}") from None
        except aiosmtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP authentication failed {error.code}") from None
        except aiosmtplib.SMTPResponseException as error:
            if 500 <= error.code < 600:
                raise PermanentDeliveryError(f"SMTP {error.code}") from None
            raise DeliveryError(f"SMTP {error.code}") from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise DeliveryError(type(error).__name__) from None
