"""The questionnaire link's one reminder (issue 12: "one reminder on day 2"), through the
real outbox and dispatcher: queued durably when the link's first message goes, sent a
policy delay later with a token of its own (the first message's link keeps working), and
not sent at all once the questionnaire was answered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from pydantic import ValidationError

from rules.messaging import MessagingPolicy
from schemas.episode import ContactPreferences
from schemas.records import Recipient
from store.channels.contacts import PostgresContacts
from store.channels.links import PostgresLinks, reminder_message_id
from store.channels.routing import route_by_recipient
from store.postgres import PostgresRecordStore
from tests.channels.builders import PUBLIC_URL, Clock, sms_dispatcher
from tests.channels.sms_gateway import Gateway
from tests.store.store_builders import batch, note, snapshot

PHONE = "+15005550199"
PUBLIC = PUBLIC_URL
# 15:00 in Chicago: outside quiet hours, and so is the same hour two days later.
AFTERNOON = datetime(2025, 1, 15, 21, 0, tzinfo=UTC)
TOKEN_IN_TEXT = re.compile(re.escape(PUBLIC) + r"/p/([A-Za-z0-9_-]+)")


async def _patient_asked_for_phq9(pool: asyncpg.Pool, **policy: float) -> str:
    await PostgresContacts(pool).save_new(
        "ep1",
        ContactPreferences(sms=True, phone=PHONE, time_zone="America/Chicago"),
        MessagingPolicy(questionnaire_asks_birth_date=False, **policy),
    )
    message_id = "care-episode-ep1:m1"
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True))
    await store.apply(
        batch(
            1,
            snapshot("ep1"),
            notifications=[
                note(
                    message_id,
                    "ep1",
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
    return message_id


def _token(text: str) -> str:
    found = TOKEN_IN_TEXT.search(text)
    assert found, text
    return found.group(1)


async def test_the_reminder_goes_on_day_two_with_its_own_working_link(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    first = await _patient_asked_for_phq9(pool)
    clock = Clock(AFTERNOON)
    dispatcher = sms_dispatcher(pool, url, clock, questionnaire_links=True)
    assert (await dispatcher.dispatch_due()).sent == 1
    first_token = _token(fake.sent[0].body)
    queued = await pool.fetchrow(
        "SELECT status, next_attempt_at, params FROM notification_outbox WHERE message_id = $1",
        reminder_message_id(first),
    )
    assert queued is not None and queued["status"] == "pending"
    assert queued["next_attempt_at"] == AFTERNOON + timedelta(days=2)
    assert "phq9" in queued["params"] and first in queued["params"]

    clock.now = AFTERNOON + timedelta(days=1)
    assert (await dispatcher.dispatch_due()).sent == 0  # not yet
    clock.now = AFTERNOON + timedelta(days=2, minutes=1)
    assert (await dispatcher.dispatch_due()).sent == 1
    assert [s.to for s in fake.sent] == [PHONE, PHONE]
    reminder_token = _token(fake.sent[1].body)
    assert reminder_token != first_token
    links = PostgresLinks(pool)
    opened_first = await links.open_link(first_token, clock.now)
    opened_reminder = await links.open_link(reminder_token, clock.now)
    assert opened_first is not None and opened_reminder is not None
    assert opened_first.link_id == opened_reminder.link_id  # one link, two ways in
    clock.now = AFTERNOON + timedelta(days=5)
    assert (await dispatcher.dispatch_due()).sent == 0  # one reminder, never a second
    assert len(fake.sent) == 2


async def test_no_reminder_goes_once_the_questionnaire_was_answered(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient_asked_for_phq9(pool)
    clock = Clock(AFTERNOON)
    dispatcher = sms_dispatcher(pool, url, clock, questionnaire_links=True)
    await dispatcher.dispatch_due()
    links = PostgresLinks(pool)
    link = await links.open_link(_token(fake.sent[0].body), AFTERNOON)
    assert link is not None
    await links.mark_used(link, AFTERNOON + timedelta(hours=3))
    clock.now = AFTERNOON + timedelta(days=2, minutes=1)
    await dispatcher.dispatch_due()
    assert len(fake.sent) == 1, "a reminder for an answered questionnaire reached the patient"


async def test_a_program_may_turn_the_reminder_off(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    first = await _patient_asked_for_phq9(pool, questionnaire_reminder_days=0)
    await sms_dispatcher(pool, url, Clock(AFTERNOON), questionnaire_links=True).dispatch_due()
    assert len(fake.sent) == 1
    assert not await pool.fetchval(
        "SELECT count(*) FROM notification_outbox WHERE message_id = $1",
        reminder_message_id(first),
    )


def test_a_reminder_after_the_link_closes_is_refused_by_the_policy() -> None:
    with pytest.raises(ValidationError, match="questionnaire_reminder_days"):
        MessagingPolicy(questionnaire_link_days=2, questionnaire_reminder_days=2)
