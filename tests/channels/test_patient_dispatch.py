"""The patient channel through the real dispatcher and outbox: routing by recipient,
quiet hours in the patient's zone, the rate limit, STOP / START, delivery statuses,
LISTEN/NOTIFY wake-ups and an operator's resend."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from rules.messaging import MessagingPolicy
from schemas.episode import ContactPreferences
from schemas.records import Recipient
from store.channels.contacts import PostgresContacts
from store.channels.patient import PATIENT_CHANNEL
from store.channels.routing import route_by_recipient
from store.channels.sms_events import record_delivery_status, record_reply
from store.outbox_admin import AttentionStatus, needing_attention, resend
from store.outbox_runner import run_dispatcher
from store.postgres import DEFAULT_CHANNEL, PostgresRecordStore
from store.queries import timeline
from tests.channels.builders import Clock, sms_dispatcher
from tests.channels.sms_gateway import Gateway
from tests.store.store_builders import batch, note, snapshot

PHONE = "+15005550123"
ZONE = "America/Chicago"
# 15:00 in Chicago (UTC-6 in winter): outside quiet hours.
AFTERNOON = datetime(2025, 1, 15, 21, 0, tzinfo=UTC)


async def _patient(pool: asyncpg.Pool, episode_id: str = "ep1", **policy: float) -> None:
    await PostgresContacts(pool).save_new(
        episode_id,
        ContactPreferences(sms=True, phone=PHONE, time_zone=ZONE),
        MessagingPolicy(**policy),
    )


_seq = iter(range(1, 10_000))


async def _queue_patient_message(
    pool: asyncpg.Pool, episode_id: str = "ep1", *, due_on_the_test_clock: bool = True
) -> str:
    """Queue a patient message as the store does (its commit NOTIFYs listening dispatchers).

    With `due_on_the_test_clock` the row is then moved into the past of AFTERNOON; a test
    that listens must not do that (the NOTIFY may be handled before the move).
    """
    seq = next(_seq)
    message_id = f"care-episode-{episode_id}:m{seq}"
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True))
    await store.apply(
        batch(
            seq,
            snapshot(episode_id),
            notifications=[
                note(message_id, episode_id, recipient=Recipient.PATIENT, template="new_message")
            ],
        )
    )
    if not due_on_the_test_clock:
        return message_id
    # Due on the tests' own clock (which is in the past of the database's now()).
    await pool.execute(
        "UPDATE notification_outbox SET next_attempt_at = $2 WHERE message_id = $1",
        message_id,
        AFTERNOON - timedelta(days=1),
    )
    return message_id


async def _row(pool: asyncpg.Pool, message_id: str) -> asyncpg.Record:
    row = await pool.fetchrow(
        "SELECT channel, status, attempts, next_attempt_at, last_error FROM notification_outbox "
        "WHERE message_id = $1",
        message_id,
    )
    assert row is not None
    return row


async def test_patient_message_goes_by_sms_and_care_team_messages_do_not(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool)
    patient_message = await _queue_patient_message(pool)
    store = PostgresRecordStore(pool, channel_for=route_by_recipient(True))
    await store.apply(batch(9_999, snapshot(), notifications=[note("care-episode-ep1:team")]))
    await pool.execute("UPDATE notification_outbox SET next_attempt_at = $1", AFTERNOON)
    report = await sms_dispatcher(pool, url, Clock(AFTERNOON)).dispatch_due()
    assert report.sent == 2
    assert [s.to for s in fake.sent] == [PHONE]
    assert (await _row(pool, patient_message))["channel"] == PATIENT_CHANNEL
    assert (await _row(pool, "care-episode-ep1:team"))["channel"] == DEFAULT_CHANNEL


async def test_quiet_hours_hold_the_message_until_eight_local(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool)
    message_id = await _queue_patient_message(pool)
    late_evening = datetime(2025, 1, 16, 4, 30, tzinfo=UTC)  # 22:30 in Chicago
    clock = Clock(late_evening)
    dispatcher = sms_dispatcher(pool, url, clock)
    report = await dispatcher.dispatch_due()
    assert (report.deferred, fake.sent) == (1, [])
    row = await _row(pool, message_id)
    eight_local = datetime(2025, 1, 16, 14, 0, tzinfo=UTC)  # 08:00 in Chicago
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("pending", 0, eight_local)
    clock.now = eight_local - timedelta(minutes=1)
    assert (await dispatcher.dispatch_due()).claimed == 0
    clock.now = eight_local
    assert (await dispatcher.dispatch_due()).sent == 1
    assert len(fake.sent) == 1


async def test_rate_limit_holds_the_fourth_message_until_the_window_frees(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool, max_messages=3, rate_window_hours=24)
    clock = Clock(AFTERNOON)
    dispatcher = sms_dispatcher(pool, url, clock)
    first = await _queue_patient_message(pool)
    await dispatcher.dispatch_due()
    for _ in range(3):
        clock.now += timedelta(minutes=10)
        await _queue_patient_message(pool)
        await dispatcher.dispatch_due()
    assert len(fake.sent) == 3
    held = await pool.fetchrow(
        "SELECT message_id, next_attempt_at FROM notification_outbox WHERE status = 'pending'"
    )
    assert held is not None and first != held["message_id"]
    assert held["next_attempt_at"] == AFTERNOON + timedelta(hours=24)
    clock.now = AFTERNOON + timedelta(hours=24)
    assert (await dispatcher.dispatch_due()).sent == 1
    assert len(fake.sent) == 4


async def test_stop_withdraws_sms_consent_and_start_restores_it(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool)
    dispatcher = sms_dispatcher(pool, url, Clock(AFTERNOON))
    assert await record_reply(pool, from_number=PHONE, body="hello") == []
    [stop] = await record_reply(pool, from_number=PHONE, body=" stop ")
    assert (stop.episode_id, stop.consented, stop.keyword) == ("ep1", False, "STOP")
    assert await record_reply(pool, from_number=PHONE, body="UNSUBSCRIBE") == []  # no change
    blocked = await _queue_patient_message(pool)
    await dispatcher.dispatch_due()
    assert fake.sent == []
    assert (await _row(pool, blocked))["status"] == "undeliverable"
    [start] = await record_reply(pool, from_number=PHONE, body="START")
    assert start.consented is True
    allowed = await _queue_patient_message(pool)
    await dispatcher.dispatch_due()
    assert (await _row(pool, allowed))["status"] == "sent" and len(fake.sent) == 1
    entries = [e for e in await timeline(pool, "ep1") if e.kind == "messaging"]
    assert [(e.event, e.actor) for e in entries] == [
        ("messaging_consent_withdrawn", "patient"),
        ("messaging_consent_restored", "patient"),
    ]
    assert all(PHONE not in (e.reason or "") for e in entries)


async def test_no_contact_on_file_is_undeliverable_and_listed_for_operators(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    _, url = gateway
    message_id = await _queue_patient_message(pool, "ep-unknown")
    await sms_dispatcher(pool, url, Clock(AFTERNOON)).dispatch_due()
    [row] = await needing_attention(pool, statuses=list(AttentionStatus), programs=None)
    assert (row.message_id, row.status) == (message_id, "undeliverable")
    assert await needing_attention(pool, statuses=list(AttentionStatus), programs=["other"]) == []


async def test_delivery_status_moves_forward_only(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool)
    message_id = await _queue_patient_message(pool)
    await sms_dispatcher(pool, url, Clock(AFTERNOON)).dispatch_due()
    [sms] = fake.sent

    async def status(gateway_status: str) -> tuple[bool, str]:
        outcome = await record_delivery_status(
            pool, provider_id=sms.sid, gateway_status=gateway_status, error_code=None
        )
        return outcome.changed, (await _row(pool, message_id))["status"]

    assert await status("sending") == (False, "sent")
    assert await status("delivered") == (True, "delivered")
    assert await status("sent") == (False, "delivered")  # late callback: no step back
    assert await status("undelivered") == (False, "delivered")
    unknown = await record_delivery_status(
        pool, provider_id="SMnope", gateway_status="delivered", error_code=None
    )
    assert not unknown.known


async def test_undelivered_callback_then_resend_keeps_the_message_id(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    fake, url = gateway
    await _patient(pool)
    message_id = await _queue_patient_message(pool)
    dispatcher = sms_dispatcher(pool, url, Clock(AFTERNOON))
    await dispatcher.dispatch_due()
    await record_delivery_status(
        pool, provider_id=fake.sent[0].sid, gateway_status="undelivered", error_code="30003"
    )
    row = await _row(pool, message_id)
    assert row["status"] == "undeliverable" and "30003" in row["last_error"]
    assert await resend(pool, "care-episode-ep1:none") is None
    again = await resend(pool, message_id, due=AFTERNOON)
    assert again is not None and (again.message_id, again.status) == (message_id, "pending")
    assert await resend(pool, message_id) is None  # pending now: nothing to resend
    await dispatcher.dispatch_due()
    assert len(fake.sent) == 2 and (await _row(pool, message_id))["status"] == "sent"


async def _wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(5000):  # bounded (100 s): the machine is shared and noisy
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


async def test_dispatcher_wakes_on_notify_without_waiting_for_its_poll(
    pool: asyncpg.Pool, gateway: tuple[Gateway, str]
) -> None:
    """The safety poll is an hour: only the NOTIFY can explain a delivery within the test."""
    fake, url = gateway
    await _patient(pool)
    # A clock ahead of the database's now(), so a row is due the moment its NOTIFY arrives
    # (no second write, which would race the wake-up): an afternoon in Chicago, tomorrow.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    dispatcher = sms_dispatcher(pool, url, Clock(tomorrow.replace(hour=21, minute=0)))
    channels = dispatcher.channels
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_dispatcher(pool, channels, stop=stop, poll_interval=3600, listen=True)
    )
    try:
        await _wait_until(lambda: _heartbeat(pool))  # listening, first pass done
        first = await _queue_patient_message(pool, due_on_the_test_clock=False)
        await _wait_until(lambda: _status_is(pool, first, "sent"))
        second = await _queue_patient_message(pool, due_on_the_test_clock=False)
        await _wait_until(lambda: _status_is(pool, second, "sent"))
    finally:
        stop.set()
        await task
    assert len(fake.sent) == 2


async def _heartbeat(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT count(*) FROM service_heartbeats"))


async def _status_is(pool: asyncpg.Pool, message_id: str, status: str) -> bool:
    found = await pool.fetchval(
        "SELECT status FROM notification_outbox WHERE message_id = $1", message_id
    )
    return bool(found == status)
