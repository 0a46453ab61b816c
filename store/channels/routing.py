"""Which route a message takes, by recipient kind.

At enqueue (`route_by_recipient`, the store's `channel_for`): patients' messages go to the
patient route when the worker has a patient channel, everything else to the default one.
At delivery (`RecipientRouter`, serving both): the program's choice per recipient kind
(`MessagingPolicy.routes`, kept with the episode's contact details) says webhook, email or
SMS. A choice this worker cannot serve, or one with no address for it, is `Undeliverable`
naming what is missing: listed for operators and alerted when urgent, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rules.messaging import MessagingPolicy, RecipientKind, Route
from schemas.records import NotificationRequest, Recipient
from store.channels.contacts import PostgresContacts
from store.channels.patient import PATIENT_CHANNEL, PatientChannel, refuse_without_consent
from store.channels.staff_email import StaffEmailChannel
from store.dbtypes import Db
from store.outbox import Channel, OutboxMessage, Undeliverable
from store.postgres import DEFAULT_CHANNEL


def route_by_recipient(patient_channel: bool) -> Callable[[NotificationRequest], str]:
    """The store's `channel_for`: the patient channel only when the worker has one."""

    def channel_for(notification: NotificationRequest) -> str:
        if patient_channel and notification.recipient is Recipient.PATIENT:
            return PATIENT_CHANNEL
        return DEFAULT_CHANNEL

    return channel_for


def recipient_kind(role: str) -> RecipientKind | None:
    """The kind a program routes, or None (utilization review, operators: the webhook)."""
    try:
        return RecipientKind(role)
    except ValueError:
        return None


def chosen_route(policy: MessagingPolicy, role: str) -> Route:
    kind = recipient_kind(role)
    return policy.routes.route_for(kind) if kind is not None else Route.WEBHOOK


@dataclass
class RecipientRouter:
    """Delivers each message on the route its program chose for the recipient's kind.

    `webhook` is the clinic's webhook (or the log when none is configured); `patients` the
    SMS / email patient channel; `staff_email` email to the addresses the program gave.
    """

    db: Db
    webhook: Channel
    patients: PatientChannel | None = None
    staff_email: StaffEmailChannel | None = None

    async def deliver(self, message: OutboxMessage) -> None:
        contact = await PostgresContacts(self.db).get(message.episode_id)
        policy = contact.messaging if contact is not None else MessagingPolicy()
        route = chosen_route(policy, message.recipient_role)
        if contact is not None and message.recipient_role == RecipientKind.PATIENT:
            refuse_without_consent(contact)  # on every route, the clinic's webhook too
        if route is Route.WEBHOOK:
            await self.webhook.deliver(message)
            return
        if message.recipient_role == RecipientKind.PATIENT:
            if self.patients is not None:
                await self.patients.deliver(message)
            elif route is Route.PREFERRED:
                await self.webhook.deliver(message)  # no patient channel: the clinic relays
            else:
                raise Undeliverable(
                    f"the program sends patients {route.value}, which is not configured on "
                    "this worker (CAREPATH_SMS_URL / CAREPATH_SMTP_URL)"
                )
            return
        if self.staff_email is None:
            raise Undeliverable(
                f"the program sends the {message.recipient_role} email, which is not "
                "configured on this worker (CAREPATH_SMTP_URL, CAREPATH_EMAIL_FROM)"
            )
        kind = recipient_kind(message.recipient_role)
        assert kind is not None
        await self.staff_email.deliver_to(message, policy.routes.addresses_for(kind))
