"""Email to the program's staff (care team, supervisors) when the program chose email for
them (`RecipientRoutes`): the same facts the webhook carries and nothing more (which
message, for which episode, its non-identifying params); the workbench shows the rest."""

from __future__ import annotations

from email.message import EmailMessage

from store.channels.email import EmailSender
from store.outbox import OutboxMessage, Undeliverable

STAFF_SUBJECT = "carepath: a message for the {role}"
URGENT_STAFF_SUBJECT = "carepath: URGENT message for the {role}"


def staff_subject(message: OutboxMessage) -> str:
    role = message.recipient_role.replace("_", " ")
    template = URGENT_STAFF_SUBJECT if message.urgency == "urgent" else STAFF_SUBJECT
    return template.format(role=role)


class StaffEmailSender(EmailSender):
    """Composes the staff note instead of the patient's content-free one."""

    def compose(
        self, message: OutboxMessage, address: str, link: str | None = None
    ) -> EmailMessage:
        mail = super().compose(message, address, link)
        del mail["Subject"]
        mail["Subject"] = staff_subject(message)
        lines = [
            f"Message: {message.template} ({message.urgency})",
            f"Episode: {message.episode_id}",
            f"Program: {message.program_id}",
            *(f"{k}: {v}" for k, v in sorted(message.params.items())),
        ]
        mail.set_content("\n".join(lines) + "\n")
        return mail


class StaffEmailChannel:
    """Sends one staff message to each of the addresses the program gave for the role."""

    def __init__(self, sender: EmailSender) -> None:
        self._sender = sender

    async def deliver_to(self, message: OutboxMessage, addresses: tuple[str, ...]) -> None:
        if not addresses:
            raise Undeliverable(f"no email address for the {message.recipient_role}")
        for address in addresses:
            await self._sender.send(message, address)
