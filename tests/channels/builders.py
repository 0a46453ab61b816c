"""Outbox messages and stored contacts for channel tests."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import httpx

from schemas.records import Urgency
from store.channels.contacts import MessagingChannel
from store.channels.patient import PATIENT_CHANNEL, PatientChannel, Sender
from store.channels.sms import SmsSender
from store.outbox import Dispatcher, LogChannel, OutboxMessage
from store.postgres import DEFAULT_CHANNEL, PostgresRecordStore
from tests.api import bodies
from tests.api.conftest import PROGRAM, bearer
from tests.channels.sms_gateway import ACCOUNT, FROM, TOKEN
from tests.clock import Clock as Clock  # re-exported for the channel tests
from tests.store.store_builders import T0, batch, note, review, snapshot

PUBLIC_URL = "https://carepath.example"


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


async def episode_with_tasks(
    client: httpx.AsyncClient, pool: asyncpg.Pool, at: datetime = T0
) -> str:
    """A started episode, and (as the engine's store writes them) a patient's item 9 with
    its alert, and an urgent closure with the risk flag open."""
    body = bodies.episode()
    started = await client.post("/v1/episodes", json=body, headers=bearer("tok-clinic"))
    assert started.status_code == 201, started.text
    episode_id = str(body["episode_id"])
    wf = f"care-episode-{episode_id}"
    answers = review("link-9", at, 14, kind="patient_measure", phq9_item9=1)
    urgent = {"urgency": Urgency.URGENT, "params": {}}
    notes = [
        note(f"{wf}:m91", episode_id, template="safety_alert", **urgent),
        note(f"{wf}:m92", episode_id, template="episode_closed", **urgent),
    ]
    # Older than what the workflow wrote: the episode's own row stays as it is.
    episode = snapshot(
        episode_id, program_id=PROGRAM, risk_flag=True, risk_unacknowledged=True, updated_at=at
    )
    await PostgresRecordStore(pool).apply(
        batch(9_000, episode, reviews=[answers], notifications=notes)
    )
    return episode_id
