"""The alert route: email to the operators' on-call address when an urgent message could
not be delivered on its own route (the clinic's webhook, a patient's SMS).

Kept apart from the route that failed, so that a broken webhook does not also swallow the
alert about it. Content-free like every message: which message and template, which route
failed, for whom; never a patient's detail.
"""

from __future__ import annotations

from email.message import EmailMessage

from store.channels.email import EmailSender
from store.outbox import OutboxMessage

ALERT_SUBJECT = "carepath: an urgent message could not be delivered"


class AlertEmailSender(EmailSender):
    """Composes the operator alert instead of the patient's content-free note."""

    def compose(
        self, message: OutboxMessage, address: str, link: str | None = None
    ) -> EmailMessage:
        mail = super().compose(message, address, link)
        del mail["Subject"]
        mail["Subject"] = ALERT_SUBJECT
        p = message.params
        mail.set_content(
            "An urgent message could not be delivered and needs a person.\n\n"
            f"For: {message.recipient_role}\n"
            f"Undelivered message: {p.get('message_id', '?')} ({p.get('template', '?')})\n"
            f"Route that failed: {p.get('failed_route', '?')}\n\n"
            "Operators: GET /v1/outbox/messages lists it; resend it once the route works.\n"
        )
        return mail


class AlertEmailChannel:
    """Delivers each alert row to every configured on-call address."""

    def __init__(self, sender: EmailSender, addresses: list[str]) -> None:
        if not addresses or any("@" not in a for a in addresses):
            raise ValueError("CAREPATH_ALERT_EMAIL_TO needs one or more email addresses")
        self._sender = sender
        self._addresses = addresses

    async def deliver(self, message: OutboxMessage) -> None:
        for address in self._addresses:
            await self._sender.send(message, address)
