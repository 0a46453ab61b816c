"""Background tasks never die silently: the dispatcher survives errors, reports its passes,
and a task that keeps failing ends the process's work with an error instead."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg
import pytest

from store.health import DISPATCHER, store_health
from store.outbox import LogChannel, OutboxMessage
from store.outbox_runner import run_dispatcher
from store.supervise import Backoff, SupervisedTaskFailed, supervise
from tests.store.test_store_outbox import _enqueue, _status

QUICK = Backoff(initial_s=0.01, maximum_s=0.05, healthy_after_s=60.0, give_up_after=4)


class FlakyPool:
    """The dispatcher's pool, whose next `fetch` fails the way a pool does when PostgreSQL
    goes away mid-pass (asyncpg's InternalClientError, which escaped the old loop)."""

    def __init__(self, pool: asyncpg.Pool, failures: int) -> None:
        self._pool = pool
        self.failures = failures

    async def fetch(self, *args: Any) -> list[asyncpg.Record]:
        if self.failures > 0:
            self.failures -= 1
            raise asyncpg.exceptions.InternalClientError(
                "cannot switch to state 12; another operation is in progress"
            )
        return await self._pool.fetch(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


class BuggyChannel:
    """Raises a plain bug (not a DeliveryError) for its first call, then delivers."""

    def __init__(self) -> None:
        self.raised = False
        self.delivered: list[str] = []

    async def deliver(self, message: OutboxMessage) -> None:
        if not self.raised:
            self.raised = True
            raise KeyError("bug in a channel")
        self.delivered.append(message.message_id)


async def _wait_until(predicate: Any, attempts: int = 600) -> None:
    """Poll, generously: at load average 20 a pass can take seconds (a bounded wait, not a
    timed assertion)."""
    for _ in range(attempts):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition never held")


async def test_dispatcher_outlives_an_internal_client_error_and_reports_its_passes(
    pool: asyncpg.Pool,
) -> None:
    assert (await store_health(pool)).dispatcher_seconds_since_pass is None
    ids = await _enqueue(pool, 3)
    flaky = FlakyPool(pool, failures=2)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_dispatcher(flaky, LogChannel(), stop=stop, poll_interval=0.02, backoff=QUICK)  # type: ignore[arg-type]
    )

    async def all_sent() -> bool:
        return await _status(pool) == {m: ("sent", 1) for m in ids}

    async def heartbeat_written() -> bool:
        # The heartbeat follows the pass that sent the last message: wait for it too.
        return (await store_health(pool)).dispatcher_seconds_since_pass is not None

    await _wait_until(all_sent)
    await _wait_until(heartbeat_written)
    assert flaky.failures == 0 and not task.done()
    health = await store_health(pool)
    assert health.dispatcher_seconds_since_pass is not None
    assert health.dispatcher_seconds_since_pass < 60
    rows = await pool.fetch("SELECT service FROM service_heartbeats")
    assert [r["service"] for r in rows] == [DISPATCHER]
    stop.set()
    await asyncio.wait_for(task, timeout=5)


async def test_a_channel_bug_fails_one_attempt_and_the_pass_delivers_the_rest(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await _enqueue(pool, 3)
    channel = BuggyChannel()
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="store.outbox"):
        task = asyncio.create_task(
            run_dispatcher(pool, channel, stop=stop, poll_interval=0.02, backoff=QUICK)
        )
        await _wait_until(lambda: _count_sent(pool, 2))
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    status = await _status(pool)
    assert sorted(s for s, _ in status.values()) == ["pending", "sent", "sent"]
    assert set(channel.delivered) < set(ids)
    assert "KeyError" in caplog.text and "Traceback" in caplog.text


async def _count_sent(pool: asyncpg.Pool, count: int) -> bool:
    sent: int = await pool.fetchval(
        "SELECT count(*) FROM notification_outbox WHERE status = 'sent'"
    )
    return sent >= count


async def test_supervise_logs_the_traceback_and_restarts_a_crashed_loop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()
    runs: list[int] = []

    async def loop() -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError(f"crash {len(runs)}")
        await stop.wait()

    with caplog.at_level(logging.WARNING, logger="store.supervise"):
        task = asyncio.create_task(supervise("probe", loop, stop=stop, backoff=QUICK))
        for _ in range(400):
            if len(runs) == 3:
                break
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert len(runs) == 3
    assert caplog.text.count("Traceback") == 2
    assert "RuntimeError: crash 2" in caplog.text


async def test_supervise_gives_up_after_repeated_failures_so_the_process_can_exit() -> None:
    stop = asyncio.Event()
    calls = 0

    async def loop() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("still broken")

    with pytest.raises(SupervisedTaskFailed, match="probe failed 4 times"):
        await asyncio.wait_for(supervise("probe", loop, stop=stop, backoff=QUICK), timeout=10)
    assert calls == 4


async def test_supervise_restarts_a_loop_that_returned_while_running() -> None:
    stop = asyncio.Event()
    calls = 0

    async def loop() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            stop.set()

    await asyncio.wait_for(supervise("probe", loop, stop=stop, backoff=QUICK), timeout=5)
    assert calls == 2
