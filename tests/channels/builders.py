"""Outbox messages and stored contacts for channel tests."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import httpx

from store.channels.contacts import MessagingChannel
from store.channels.patient import PATIENT_CHANNEL, PatientChannel, Sender
from store.channels.sms import SmsSender
from store.outbox import Dispatcher, LogChannel, OutboxMessage
from store.postgres import DEFAULT_CHANNEL
from tests.channels.sms_gateway import ACCOUNT, FROM, TOKEN

PUBLIC_URL = "https://carepath.example"


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def sms_dispatcher(
    pool: asyncpg.Pool, url: str, clock: Clock, *, questionnaire_links: bool = False
) -> Dispatcher:
    """The real dispatcher: staff messages to the log, patients' by SMS through the gateway
    at `url`; with `questionnaire_links` the patient channel makes questionnaire links."""
    sms = SmsSender(
        pool,
        base_url=url,
        account=ACCOUNT,
        token=TOKEN,
        from_number=FROM,
        public_url=PUBLIC_URL,
        client=httpx.AsyncClient(timeout=10),
    )
    senders: dict[MessagingChannel, Sender] = {MessagingChannel.SMS: sms}
    channel = PatientChannel(
        pool, senders, clock=clock, public_url=PUBLIC_URL if questionnaire_links else None
    )
    return Dispatcher(pool, {DEFAULT_CHANNEL: LogChannel(), PATIENT_CHANNEL: channel}, clock=clock)


def patient_message(
    message_id: str = "care-episode-ep1:m1", episode_id: str = "ep1"
) -> OutboxMessage:
    return OutboxMessage(
        message_id=message_id,
        episode_id=episode_id,
        program_id="sud-iop",
        channel="patient",
        template="new_message",
        recipient_role="patient",
        urgency="routine",
        params={},
        attempt=1,
    )
