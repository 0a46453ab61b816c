"""Outbox dispatch: delivery, backoff, giving up, and crash recovery without loss or repeats."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from schemas.records import Urgency
from store.outbox import Dispatcher, LogChannel, OutboxMessage, RetryPolicy
from store.outbox_runner import run_dispatcher
from store.postgres import PostgresRecordStore
from store.webhook import WebhookChannel
from tests.clock import Clock
from tests.store.store_builders import batch, note, snapshot
from tests.store.store_receiver import Receiver, serving

SECRET = "test-shared-secret"


class SimulatedCrash(Exception):
    """Raised at the crash point: the process 'dies' after sending, before marking."""


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver(SECRET)
    async with serving(hook) as url:
        yield hook, url


async def _enqueue(pool: asyncpg.Pool, count: int, seq: int = 1) -> list[str]:
    ids = [f"care-episode-ep1:{seq}:{i}" for i in range(count)]
    store = PostgresRecordStore(pool)
    await store.apply(batch(seq, snapshot(), notifications=[note(m) for m in ids]))
    return ids


async def _db_now(pool: asyncpg.Pool) -> datetime:
    now: datetime = await pool.fetchval("SELECT now()")
    return now


async def _status(pool: asyncpg.Pool) -> dict[str, tuple[str, int]]:
    rows = await pool.fetch("SELECT message_id, status, attempts FROM notification_outbox")
    return {r["message_id"]: (r["status"], r["attempts"]) for r in rows}


async def test_log_channel_delivers_once_and_logs_no_params(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _enqueue(pool, 2)
    dispatcher = Dispatcher(pool, LogChannel(), clock=Clock(await _db_now(pool)))
    with caplog.at_level(logging.INFO, logger="store.outbox"):
        first = await dispatcher.dispatch_due()
    second = await dispatcher.dispatch_due()
    assert (first.sent, second.claimed) == (2, 0)
    assert await _status(pool) == {m: ("sent", 1) for m in ids}
    assert all(m in caplog.text for m in ids)
    assert "2025-03-10" not in caplog.text  # a param value never reaches the log


async def test_crash_between_send_and_mark_redelivers_same_id_once_processed(
    pool: asyncpg.Pool, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    [message_id] = await _enqueue(pool, 1)
    channel = WebhookChannel(url, SECRET)
    clock = Clock(await _db_now(pool))
    policy = RetryPolicy(lease=timedelta(minutes=2))

    async def crash(message: OutboxMessage) -> None:
        raise SimulatedCrash(message.message_id)

    with pytest.raises(SimulatedCrash):
        await Dispatcher(pool, channel, retry=policy, clock=clock, after_send=crash).dispatch_due()
    assert await _status(pool) == {message_id: ("pending", 1)}

    restarted = Dispatcher(pool, channel, retry=policy, clock=clock)
    assert (await restarted.dispatch_due()).claimed == 0  # still leased to the dead one
    clock.advance(policy.lease + timedelta(seconds=1))
    assert (await restarted.dispatch_due()).sent == 1

    assert hook.deliveries == [message_id, message_id]
    assert [p["message_id"] for p in hook.processed] == [message_id]
    assert await _status(pool) == {message_id: ("sent", 2)}
    await channel.aclose()


async def test_a_crash_mid_batch_loses_nothing(
    pool: asyncpg.Pool, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    ids = await _enqueue(pool, 12)
    channel = WebhookChannel(url, SECRET)
    clock = Clock(await _db_now(pool))
    policy = RetryPolicy(lease=timedelta(minutes=1))
    sent_before_crash = 0

    async def crash_on_fourth(message: OutboxMessage) -> None:
        nonlocal sent_before_crash
        sent_before_crash += 1
        if sent_before_crash == 4:
            raise SimulatedCrash(message.message_id)

    with pytest.raises(SimulatedCrash):
        await Dispatcher(
            pool, channel, retry=policy, clock=clock, after_send=crash_on_fourth, batch_size=5
        ).dispatch_due()
    clock.advance(timedelta(minutes=2))
    hook.fail_next = 3  # and the receiver has a bad moment too
    survivors = [Dispatcher(pool, channel, retry=policy, clock=clock, batch_size=3) for _ in "ab"]
    for _ in range(10):
        await asyncio.gather(*(d.dispatch_due() for d in survivors))
        clock.advance(timedelta(hours=1))

    assert sorted(p["message_id"] for p in hook.processed) == sorted(ids)
    assert {s for s, _ in (await _status(pool)).values()} == {"sent"}
    await channel.aclose()


async def test_failures_back_off_exponentially_then_give_up(
    pool: asyncpg.Pool, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    hook.fail_next = 100
    [message_id] = await _enqueue(pool, 1)
    channel = WebhookChannel(url, SECRET)
    start = await _db_now(pool)
    clock = Clock(start)
    policy = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=10))
    dispatcher = Dispatcher(pool, channel, retry=policy, clock=clock)

    assert (await dispatcher.dispatch_due()).retried == 1
    due = await pool.fetchval("SELECT next_attempt_at FROM notification_outbox")
    assert due == start + timedelta(seconds=10)
    clock.advance(timedelta(seconds=9))
    assert (await dispatcher.dispatch_due()).claimed == 0
    clock.advance(timedelta(seconds=1))
    assert (await dispatcher.dispatch_due()).retried == 1
    due = await pool.fetchval("SELECT next_attempt_at FROM notification_outbox")
    assert due == start + timedelta(seconds=10 + 20)
    clock.advance(timedelta(seconds=20))
    assert (await dispatcher.dispatch_due()).failed == 1

    row = await pool.fetchrow("SELECT status, attempts, last_error FROM notification_outbox")
    assert row is not None
    assert tuple(row) == ("failed", 3, "DeliveryError: HTTP 503")
    assert hook.deliveries == [message_id] * 3
    assert hook.processed == []
    await channel.aclose()


async def test_a_rejected_signature_fails_at_once(
    pool: asyncpg.Pool, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    await _enqueue(pool, 1)
    channel = WebhookChannel(url, "the-wrong-secret")
    report = await Dispatcher(pool, channel, clock=Clock(await _db_now(pool))).dispatch_due()
    assert report.failed == 1
    assert await pool.fetchval("SELECT last_error FROM notification_outbox") == (
        "PermanentDeliveryError: HTTP 401"
    )
    assert hook.deliveries == []
    await channel.aclose()


async def test_run_dispatcher_delivers_until_stopped(
    pool: asyncpg.Pool, receiver: tuple[Receiver, str]
) -> None:
    hook, url = receiver
    channel = WebhookChannel(url, SECRET)
    stop = asyncio.Event()
    task = asyncio.create_task(run_dispatcher(pool, channel, stop=stop, poll_interval=0.05))
    ids = await _enqueue(pool, 3)
    await asyncio.wait_for(hook.wait_processed(3), timeout=10)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert sorted(p["message_id"] for p in hook.processed) == sorted(ids)
    await channel.aclose()


async def test_urgent_messages_are_dispatched_before_routine_ones(pool: asyncpg.Pool) -> None:
    """Issue 14 item 5: a safety alert queued behind a backlog goes out in the first pass."""
    store = PostgresRecordStore(pool)
    routine = [note(f"care-episode-ep1:1:{i}") for i in range(5)]
    urgent = note("care-episode-ep1:2:0", urgency=Urgency.URGENT, template="safety_alert")
    await store.apply(batch(1, snapshot(), notifications=routine))
    await store.apply(batch(2, snapshot(), notifications=[urgent]))

    delivered: list[str] = []

    class Recording(LogChannel):
        async def deliver(self, message: OutboxMessage) -> None:
            delivered.append(message.message_id)

    dispatcher = Dispatcher(pool, Recording(), clock=Clock(await _db_now(pool)), batch_size=2)
    await dispatcher.dispatch_due()
    assert delivered[0] == urgent.message_id


async def test_an_undeliverable_urgent_message_alerts_operators_and_supervisors(
    pool: asyncpg.Pool, receiver: tuple[Receiver, str]
) -> None:
    """Issue 14 item 5: not a log line only; the alerts give up quietly, with no chain."""
    _, url = receiver
    store = PostgresRecordStore(pool)
    urgent = note("care-episode-ep1:1:0", urgency=Urgency.URGENT, template="safety_alert")
    routine = note("care-episode-ep1:1:1")
    await store.apply(batch(1, snapshot(), notifications=[urgent, routine]))
    channel = WebhookChannel(url, "the-wrong-secret")
    clock = Clock(await _db_now(pool))
    dispatcher = Dispatcher(pool, channel, clock=clock)

    assert (await dispatcher.dispatch_due()).failed == 2
    alerts = await pool.fetch(
        "SELECT recipient_role, urgency, status, params FROM notification_outbox"
        " WHERE template = 'urgent_message_undeliverable' ORDER BY recipient_role"
    )
    assert [(a["recipient_role"], a["urgency"], a["status"]) for a in alerts] == [
        ("operator", "urgent", "pending"),
        ("supervisor", "urgent", "pending"),
    ]
    assert json.loads(alerts[0]["params"]) == {
        "message_id": urgent.message_id,
        "template": "safety_alert",
        "failed_route": "default",
    }
    # The alerts fail too on this channel: they are marked failed and raise nothing more.
    clock.now = await _db_now(pool)
    assert (await dispatcher.dispatch_due()).failed == 2
    assert await pool.fetchval("SELECT count(*) FROM notification_outbox") == 4
    assert (
        await pool.fetchval("SELECT count(*) FROM notification_outbox WHERE status = 'pending'")
        == 0
    )
    await channel.aclose()
