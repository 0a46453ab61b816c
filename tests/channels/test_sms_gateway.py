"""SMS through a local server that speaks Twilio's Messages API: what is sent, and each
error answer mapped to the outbox's outcome."""

from __future__ import annotations

import asyncpg
import httpx
import pytest

from rules.messaging import MessagingPolicy
from schemas.episode import ContactPreferences
from store.channels.contacts import PostgresContacts
from store.channels.messages import SMS_TEXT
from store.channels.sms import STATUS_CALLBACK_PATH, SmsSender
from store.outbox import DeliveryError, PermanentDeliveryError, Undeliverable
from store.postgres import PostgresRecordStore
from tests.channels.builders import patient_message
from tests.channels.sms_gateway import (
    ACCOUNT,
    FROM,
    INVALID_NUMBER,
    TOKEN,
    UNSUBSCRIBED_NUMBER,
    Gateway,
)
from tests.store.store_builders import batch, note, snapshot

PUBLIC = "https://carepath.example"
PHONE = "+15005550123"


async def _sender(pool: asyncpg.Pool, url: str, token: str = TOKEN) -> SmsSender:
    return SmsSender(
        pool,
        base_url=url,
        account=ACCOUNT,
        token=token,
        from_number=FROM,
        public_url=PUBLIC,
        client=httpx.AsyncClient(timeout=10),
    )


async def _queued(pool: asyncpg.Pool, message_id: str) -> None:
    """The outbox row the SMS belongs to (sms_deliveries references it)."""
    await PostgresRecordStore(pool).apply(batch(1, snapshot(), notifications=[note(message_id)]))


async def test_accepted_sms_is_content_free_signed_up_for_status_and_kept(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    message = patient_message()
    await _queued(pool, message.message_id)
    sms = await _sender(pool, url)
    await sms.send(message, PHONE)
    [sent] = fake.sent
    assert (sent.to, sent.from_, sent.body) == (PHONE, FROM, SMS_TEXT)
    assert sent.status_callback == PUBLIC + STATUS_CALLBACK_PATH
    stored = await pool.fetchval(
        "SELECT message_id FROM sms_deliveries WHERE provider_id = $1", sent.sid
    )
    assert stored == message.message_id
    # Sent again (a crash before the row was marked): the gateway is not asked twice.
    await sms.send(message, PHONE)
    assert fake.requests == 1


async def test_unsubscribed_recipient_is_undeliverable_and_withdraws_sms_consent(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    _, url = gateway
    contacts = PostgresContacts(pool)
    await contacts.save_new(
        "ep1", ContactPreferences(sms=True, phone=UNSUBSCRIBED_NUMBER), MessagingPolicy()
    )
    with pytest.raises(Undeliverable, match="21610"):
        await (await _sender(pool, url)).send(patient_message(), UNSUBSCRIBED_NUMBER)
    stored = await contacts.get("ep1")
    assert stored is not None and stored.sms_consent is False
    [change] = await contacts.consent_changes("ep1")
    assert change.consented is False


async def test_invalid_number_is_undeliverable(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    _, url = gateway
    with pytest.raises(Undeliverable, match="21211") as raised:
        await (await _sender(pool, url)).send(patient_message(), INVALID_NUMBER)
    assert INVALID_NUMBER not in str(raised.value)  # the number stays out of the row


async def test_rate_limited_is_retried(pool: asyncpg.Pool, gateway: tuple[Gateway, str]) -> None:
    fake, url = gateway
    fake.rate_limit_next = 1
    with pytest.raises(DeliveryError) as raised:
        await (await _sender(pool, url)).send(patient_message(), PHONE)
    assert not isinstance(raised.value, PermanentDeliveryError)
    assert fake.sent == []


async def test_wrong_credentials_are_permanent(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    with pytest.raises(PermanentDeliveryError, match="401"):
        await (await _sender(pool, url, token="not-the-token")).send(patient_message(), PHONE)
    assert fake.sent == []


def test_gateway_url_must_be_https_outside_loopback(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="https"):
        SmsSender(
            pool,
            base_url="http://sms.example",
            account=ACCOUNT,
            token=TOKEN,
            from_number=FROM,
            public_url=PUBLIC,
        )
