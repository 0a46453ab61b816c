"""The start's messaging consent (`consents.messaging`, kept in patient_contacts) holds on
every store-side path that queues a patient message, and STOP on SMS likewise: an engine
message the store queued, a questionnaire link's reminder, a 6-/12-month follow-up, and the
clinic's webhook route. Nothing reaches the gateway, and each refusal is visible (the
outbox row `undeliverable` with its reason, listed for operators; a follow-up row saying
why it was not sent), never silently dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from rules.messaging import MessagingPolicy
from schemas.episode import ContactPreferences
from schemas.records import Recipient
from store.channels.contacts import DECLINED, PostgresContacts
from store.channels.links import PostgresLinks, reminder_message_id
from store.channels.patient import PATIENT_CHANNEL
from store.channels.routing import RecipientRouter, route_by_recipient
from store.channels.sms_events import record_reply
from store.followups import NO_CHANNEL, NO_CONTACT, FollowupJob, FollowupStatus, followups_of
from store.outbox import OutboxMessage, Undeliverable
from store.outbox_admin import AttentionStatus, needing_attention
from store.postgres import PostgresRecordStore
from tests.channels.builders import Clock, patient_message, sms_dispatcher
from tests.channels.sms_gateway import Gateway
from tests.channels.test_followup_job import SIX_MONTHS, _closed_episode
from tests.store.store_builders import batch, note, snapshot

PHONE = "+15005550123"
AFTERNOON = datetime(2025, 1, 15, 21, 0, tzinfo=UTC)  # 15:00 in Chicago


async def _patient(pool: asyncpg.Pool, *, consented: bool, episode_id: str = "ep1") -> None:
    await PostgresContacts(pool).save_new(
        episode_id,
        ContactPreferences(sms=True, phone=PHONE, time_zone="America/Chicago"),
        MessagingPolicy(questionnaire_asks_birth_date=False),
        messaging_consent=consented,
    )


async def _queue(pool: asyncpg.Pool, message_id: str, episode_id: str = "ep1") -> None:
    """A patient message asking for the PHQ-9, queued as the store queues the engine's."""
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True))
    await store.apply(
        batch(
            1,
            snapshot(episode_id),
            notifications=[
                note(
                    message_id,
                    episode_id,
                    recipient=Recipient.PATIENT,
                    template="new_message",
                    params={"questionnaire": "phq9"},
                )
            ],
        )
    )
    await pool.execute(
        "UPDATE notification_outbox SET next_attempt_at = $2 WHERE message_id = $1",
        message_id,
        AFTERNOON - timedelta(minutes=1),
    )


async def _outbox(pool: asyncpg.Pool, message_id: str) -> tuple[str, str | None]:
    row = await pool.fetchrow(
        "SELECT status, last_error FROM notification_outbox WHERE message_id = $1", message_id
    )
    assert row is not None, message_id
    return row["status"], row["last_error"]


async def test_an_engine_message_to_a_patient_who_declined_is_undeliverable_with_the_reason(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool, consented=False)
    await _queue(pool, "care-episode-ep1:m1")
    report = await sms_dispatcher(
        pool, url, Clock(AFTERNOON), questionnaire_links=True
    ).dispatch_due()
    assert report.sent == 0
    assert fake.sent == []
    assert await _outbox(pool, "care-episode-ep1:m1") == (
        "undeliverable",
        f"Undeliverable: {DECLINED}",
    )
    # No link was made for it, and operators see the row.
    assert await pool.fetchval("SELECT count(*) FROM questionnaire_links") == 0
    listed = await needing_attention(pool, statuses=[AttentionStatus.UNDELIVERABLE], programs=None)
    assert [r.message_id for r in listed] == ["care-episode-ep1:m1"]


async def test_a_consenting_patient_still_gets_the_same_message(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool, consented=True)
    await _queue(pool, "care-episode-ep1:m1")
    await sms_dispatcher(pool, url, Clock(AFTERNOON)).dispatch_due()
    assert [s.to for s in fake.sent] == [PHONE]
    assert (await _outbox(pool, "care-episode-ep1:m1"))[0] == "sent"


async def test_a_reminder_queued_for_a_patient_who_declined_goes_nowhere(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool, consented=False)
    first = "care-episode-ep1:m1"
    await _queue(pool, first)
    # A reminder row as the patient channel queues it (store-side, beside the first one).
    await PostgresLinks(pool).queue_reminder(first, AFTERNOON - timedelta(minutes=1))
    dispatcher = sms_dispatcher(pool, url, Clock(AFTERNOON), questionnaire_links=True)
    assert (await dispatcher.dispatch_due()).sent == 0
    assert fake.sent == []
    assert await _outbox(pool, reminder_message_id(first)) == (
        "undeliverable",
        f"Undeliverable: {DECLINED}",
    )


async def test_a_reminder_after_stop_is_not_sent_and_says_why(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool, consented=True)
    first = "care-episode-ep1:m1"
    await _queue(pool, first)
    clock = Clock(AFTERNOON)
    dispatcher = sms_dispatcher(pool, url, clock, questionnaire_links=True)
    assert (await dispatcher.dispatch_due()).sent == 1  # the link, and its reminder queued
    await record_reply(pool, from_number=PHONE, body="STOP")
    clock.now = AFTERNOON + timedelta(days=2, minutes=1)
    assert (await dispatcher.dispatch_due()).sent == 0
    assert len(fake.sent) == 1
    status, reason = await _outbox(pool, reminder_message_id(first))
    assert status == "undeliverable" and reason is not None and "no consented channel" in reason


async def test_a_follow_up_for_a_patient_who_declined_is_not_queued_and_says_why(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _closed_episode(pool, "ep-declined", messaging_consent=False)
    await _closed_episode(pool, "ep-no-channel", sms=False)
    await _closed_episode(pool, "ep-no-contact")
    await pool.execute("DELETE FROM patient_contacts WHERE episode_id = 'ep-no-contact'")
    await _closed_episode(pool, "ep-fine")
    clock = Clock(SIX_MONTHS)
    job = FollowupJob(pool, patient_route=PATIENT_CHANNEL, clock=clock, instance="test:1")
    report = await job.run_once()
    assert (report.sent, report.not_sent) == (1, 3)
    assert (await job.run_once()).not_sent == 0  # said once
    await sms_dispatcher(pool, url, clock, questionnaire_links=True).dispatch_due()
    assert [s.to for s in fake.sent] == [PHONE]  # ep-fine only
    queued = await pool.fetch("SELECT DISTINCT episode_id FROM notification_outbox")
    assert [r["episode_id"] for r in queued] == ["ep-fine"]
    reasons = {}
    for episode_id in ("ep-declined", "ep-no-channel", "ep-no-contact", "ep-fine"):
        six = (await followups_of(pool, episode_id))[0]
        reasons[episode_id] = (six.status, six.not_sent_reason)
    assert reasons == {
        "ep-declined": (FollowupStatus.SCHEDULED, DECLINED),
        "ep-no-channel": (FollowupStatus.SCHEDULED, NO_CHANNEL),
        "ep-no-contact": (FollowupStatus.SCHEDULED, NO_CONTACT),
        "ep-fine": (FollowupStatus.SENT, None),
    }
    # The window closes unanswered: recorded as no response, the reason kept beside it.
    clock.now = SIX_MONTHS + timedelta(days=61)
    await job.run_once()
    six = (await followups_of(pool, "ep-declined"))[0]
    assert (six.status, six.not_sent_reason) == (FollowupStatus.NO_RESPONSE, DECLINED)


class _Webhook:
    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def deliver(self, message: OutboxMessage) -> None:
        self.delivered.append(message.message_id)


async def test_the_clinics_webhook_does_not_relay_to_a_patient_who_declined(
    pool: asyncpg.Pool,
) -> None:
    await _patient(pool, consented=False, episode_id="ep1")
    await _patient(pool, consented=True, episode_id="ep2")
    webhook = _Webhook()
    router = RecipientRouter(pool, webhook=webhook)  # no patient channel: the clinic relays
    with pytest.raises(Undeliverable, match="declined"):
        await router.deliver(patient_message("care-episode-ep1:m1", "ep1"))
    await router.deliver(patient_message("care-episode-ep2:m1", "ep2"))
    assert webhook.delivered == ["care-episode-ep2:m1"]
