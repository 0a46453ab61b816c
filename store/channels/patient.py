"""The patient channel: reads the patient's contact details and consent at delivery time,
keeps to quiet hours and the rate limit, and hands the message to SMS or email.

A message held by quiet hours or the rate limit is deferred to the instant it may go (no
attempt used up); a patient who declined messages at the start (`consents.messaging`) or
has no consented, configured channel is `undeliverable`, the reason on the outbox row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from rules.messaging import Route, quiet_until, rate_limited_until, zone
from store.channels.contacts import (
    DECLINED,
    MessagingChannel,
    PatientContact,
    PostgresContacts,
)
from store.channels.links import REMINDER_FOR_PARAM, Instrument, PostgresLinks
from store.channels.messages import QUESTIONNAIRE_PARAM
from store.dbtypes import Db
from store.outbox import DeferDelivery, OutboxMessage, Undeliverable

PATIENT_CHANNEL = "patient"
log = logging.getLogger("carepath.patient_channel")


class Sender(Protocol):
    async def send(self, message: OutboxMessage, address: str, link: str | None = None) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def _reachable(
    contact: PatientContact, channel: MessagingChannel, senders: dict[MessagingChannel, Sender]
) -> tuple[MessagingChannel, str] | str:
    """The channel and the address, or why not (for the undeliverable row)."""
    if channel not in senders:
        setting = "CAREPATH_SMS_URL" if channel is MessagingChannel.SMS else "CAREPATH_SMTP_URL"
        return f"{channel.value} is not configured on this worker ({setting})"
    sms = channel is MessagingChannel.SMS
    address = contact.phone if sms else contact.email_address
    if not address:
        return f"no {'phone number' if sms else 'email address'} on file"
    if not (contact.sms_consent if sms else contact.email_consent):
        return f"the patient withdrew consent to {channel.value}"
    return channel, address


def refuse_without_consent(contact: PatientContact) -> None:
    """`Undeliverable` for a patient who declined messages at the start: whoever queued
    the message (the engine, a link's reminder, a follow-up), nothing goes."""
    if not contact.messaging_consent:
        raise Undeliverable(DECLINED)


def choose_route(
    contact: PatientContact,
    senders: dict[MessagingChannel, Sender],
    wanted: Route = Route.PREFERRED,
) -> tuple[MessagingChannel, str]:
    """The program's route for patients: SMS or email as it chose, or (`preferred`) SMS
    when the patient prefers it, consented and it is configured, else email likewise.
    `Undeliverable` naming what is missing when the choice cannot be served."""
    if wanted in (Route.SMS, Route.EMAIL):
        reached = _reachable(contact, MessagingChannel(wanted.value), senders)
        if isinstance(reached, str):
            raise Undeliverable(f"the program sends patients {wanted.value}: {reached}")
        return reached
    if wanted is not Route.PREFERRED:
        raise Undeliverable(f"the patient channel does not serve the {wanted.value} route")
    prefers = (
        (MessagingChannel.SMS, contact.prefers_sms),
        (MessagingChannel.EMAIL, contact.prefers_email),
    )
    for channel, preferred in prefers:
        if preferred and not isinstance(reached := _reachable(contact, channel, senders), str):
            return reached
    raise Undeliverable("no consented channel with an address")


@dataclass
class PatientChannel:
    db: Db
    senders: dict[MessagingChannel, Sender]
    clock: Callable[[], datetime] = utc_now
    public_url: str | None = None  # questionnaire links only when patients can reach us

    async def deliver(self, message: OutboxMessage) -> None:
        contact = await PostgresContacts(self.db).get(message.episode_id)
        if contact is None:
            raise Undeliverable("no contact details on file")
        refuse_without_consent(contact)
        route = choose_route(contact, self.senders, contact.messaging.routes.patient)
        now = self.clock()
        policy = contact.messaging
        held = quiet_until(now, zone(contact.time_zone), policy)
        if held is not None:
            raise DeferDelivery(held, "quiet hours")
        recent = await self._recent_sends(message, now, policy.rate_window)
        limited = rate_limited_until(recent, now, policy)
        if limited is not None:
            raise DeferDelivery(limited, "rate limit")
        channel, address = route
        first = message.params.get(REMINDER_FOR_PARAM)
        if first is not None:
            link = await self._reminder_link(message, str(first), channel, now)
            if link is None:
                # Answered, locked or closed since: a reminder without its link is noise.
                log.info("reminder %s not needed; nothing sent", message.message_id)
                return
        else:
            link = await self._questionnaire_link(message, contact, channel, now)
        await self.senders[channel].send(message, address, link)

    async def _questionnaire_link(
        self,
        message: OutboxMessage,
        contact: PatientContact,
        channel: MessagingChannel,
        now: datetime,
    ) -> str | None:
        """`{public_url}/p/{token}` when the message asks for a questionnaire. Made here,
        at sending, so the token is never in Temporal or the outbox row. None (the plain
        message goes) without a public URL, when the link was answered or locked already,
        when the date-of-birth check is on and no date of birth is on file (fail closed),
        or when the gateway already accepted this SMS (its text kept the earlier token)."""
        wanted = message.params.get(QUESTIONNAIRE_PARAM)
        if not wanted or self.public_url is None or wanted not in {i.value for i in Instrument}:
            return None
        policy = contact.messaging
        links = PostgresLinks(self.db)
        if policy.questionnaire_asks_birth_date and not await links.has_birth_date(
            message.episode_id
        ):
            return None
        if channel is MessagingChannel.SMS and await self.db.fetchval(
            "SELECT true FROM sms_deliveries WHERE message_id = $1", message.message_id
        ):
            return None
        token = await links.issue(
            message_id=message.message_id,
            episode_id=message.episode_id,
            instrument=Instrument(wanted),
            policy=policy,
            now=now,
        )
        if token is None:
            return None
        delay = policy.questionnaire_reminder_delay
        if delay is not None:
            await links.queue_reminder(message.message_id, now + delay)
        return self._page(token)

    async def _reminder_link(
        self,
        message: OutboxMessage,
        first_message_id: str,
        channel: MessagingChannel,
        now: datetime,
    ) -> str | None:
        """The reminder's own link to the still-open questionnaire, or None when none should
        go: the link was answered, locked or expired, there is no public URL, or the gateway
        already accepted this reminder."""
        if self.public_url is None:
            return None
        if channel is MessagingChannel.SMS and await self.db.fetchval(
            "SELECT true FROM sms_deliveries WHERE message_id = $1", message.message_id
        ):
            return None
        token = await PostgresLinks(self.db).issue_reminder(first_message_id, now)
        return self._page(token) if token else None

    def _page(self, token: str) -> str:
        assert self.public_url is not None
        return f"{self.public_url.rstrip('/')}/p/{token}"

    async def _recent_sends(
        self, message: OutboxMessage, now: datetime, window: timedelta
    ) -> list[datetime]:
        """When this patient's other messages went out within the window."""
        rows = await self.db.fetch(
            """
            SELECT sent_at FROM notification_outbox
            WHERE episode_id = $1 AND recipient_role = $2 AND sent_at > $3
                AND message_id <> $4
            """,
            message.episode_id,
            message.recipient_role,
            now - window,
            message.message_id,
        )
        return [r["sent_at"] for r in rows]
