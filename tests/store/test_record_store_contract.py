"""One contract, two record stores: the in-memory one (activities/memory.py) and PostgreSQL.

Every test runs against both, through a small harness that reads each store's own state
(its outbox, its episode row, its transitions) and runs its own dispatcher. The in-memory
store is what the workflow tests and the benchmark use; this suite is why they can trust
it to write, queue and deliver as production does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import asyncpg
import pytest

from activities.memory import InMemoryOutbox, InMemoryRecordStore
from activities.ports import RecordStore
from rules.transitions import CarePhase as P
from rules.transitions import Event
from schemas.records import EffectBatch, Urgency
from store.outbox import (
    UNDELIVERABLE_TEMPLATE,
    DeferDelivery,
    DeliveryError,
    Dispatcher,
    DispatchReport,
    OutboxMessage,
    PermanentDeliveryError,
    RetryPolicy,
)
from store.postgres import PostgresRecordStore
from tests.clock import Clock
from tests.store.store_builders import T0, batch, move, note, snapshot

RETRY = RetryPolicy(max_attempts=3, base_delay=timedelta(seconds=30))


class StoreUnderTest(Protocol):
    store: RecordStore
    clock: Clock

    async def outbox(self) -> dict[str, tuple[str, str, int]]:
        """message_id → (template, status, attempts), for every queued message."""
        ...

    async def episode(self, episode_id: str) -> tuple[str, int | None] | None:
        """(phase, latest PHQ-9) of the episode row."""
        ...

    async def transitions(self, workflow_id: str) -> list[tuple[str, str]]: ...

    async def dispatch(self, channel: RecordingChannel) -> DispatchReport: ...


@dataclass
class RecordingChannel:
    """Records each delivery; fails as told first (an exception per attempt, in order)."""

    failures: list[Exception] = field(default_factory=list)
    delivered: list[tuple[str, int]] = field(default_factory=list)

    async def deliver(self, message: OutboxMessage) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.delivered.append((message.message_id, message.attempt))


class MemoryStore:
    def __init__(self) -> None:
        self.clock = Clock(T0)
        self.memory = InMemoryRecordStore(outbox=InMemoryOutbox(clock=self.clock, retry=RETRY))
        self.store: RecordStore = self.memory

    async def outbox(self) -> dict[str, tuple[str, str, int]]:
        return {
            message_id: (q.notification.template, q.status, q.attempts)
            for message_id, q in self.memory.outbox.messages.items()
        }

    async def episode(self, episode_id: str) -> tuple[str, int | None] | None:
        found = self.memory.episodes.get(episode_id)
        return None if found is None else (found.phase.value, found.latest_phq9)

    async def transitions(self, workflow_id: str) -> list[tuple[str, str]]:
        return [(a, b) for a, b, _ in self.memory.transitions(workflow_id)]

    async def dispatch(self, channel: RecordingChannel) -> DispatchReport:
        return await self.memory.outbox.dispatch_due(channel)


class PostgresStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        # Rows are due from the database's now() when queued: the test's clock starts later.
        self.clock = Clock(datetime.now(UTC) + timedelta(hours=1))
        self.store: RecordStore = PostgresRecordStore(pool)
        self.dispatcher = Dispatcher(pool, RecordingChannel(), retry=RETRY, clock=self.clock)

    async def outbox(self) -> dict[str, tuple[str, str, int]]:
        rows = await self.pool.fetch(
            "SELECT message_id, template, status, attempts FROM notification_outbox"
        )
        return {r["message_id"]: (r["template"], r["status"], r["attempts"]) for r in rows}

    async def episode(self, episode_id: str) -> tuple[str, int | None] | None:
        row = await self.pool.fetchrow(
            "SELECT phase, latest_phq9 FROM episodes WHERE episode_id = $1", episode_id
        )
        return None if row is None else (row["phase"], row["latest_phq9"])

    async def transitions(self, workflow_id: str) -> list[tuple[str, str]]:
        rows = await self.pool.fetch(
            "SELECT from_phase, to_phase FROM transitions WHERE workflow_id = $1 "
            "ORDER BY seq, ordinal",
            workflow_id,
        )
        return [(r["from_phase"], r["to_phase"]) for r in rows]

    async def dispatch(self, channel: RecordingChannel) -> DispatchReport:
        self.dispatcher.channels = channel
        return await self.dispatcher.dispatch_due()


@pytest.fixture(params=["memory", "postgres"])
def subject(request: pytest.FixtureRequest) -> StoreUnderTest:
    if request.param == "memory":
        return MemoryStore()
    return PostgresStore(request.getfixturevalue("pool"))


def _step(
    seq: int, *messages: str, phase: P = P.ASSESSMENT, phq9: int | None = None
) -> EffectBatch:
    return batch(
        seq,
        snapshot(phase=phase, latest_phq9=phq9, updated_at=T0 + timedelta(minutes=seq)),
        transitions=[move(P.REFERRAL, P.ASSESSMENT, Event.REFERRAL_RECEIVED, T0)],
        notifications=[note(m) for m in messages],
    )


async def test_a_retried_batch_writes_and_queues_nothing_twice(subject: StoreUnderTest) -> None:
    step = _step(1, "m1", "m2")
    await subject.store.apply(step)
    await subject.store.apply(step)  # the activity retried
    assert await subject.outbox() == {
        "m1": ("review_due", "pending", 0),
        "m2": ("review_due", "pending", 0),
    }
    assert await subject.transitions("care-episode-ep1") == [("referral", "assessment")]


async def test_a_second_batch_with_the_same_seq_changes_nothing(subject: StoreUnderTest) -> None:
    await subject.store.apply(_step(1, "m1", phq9=9))
    await subject.store.apply(_step(1, "other", phase=P.CLOSED, phq9=20))
    assert set(await subject.outbox()) == {"m1"}
    assert await subject.episode("ep1") == ("assessment", 9)


async def test_an_older_batch_applied_late_is_recorded_but_does_not_roll_the_row_back(
    subject: StoreUnderTest,
) -> None:
    await subject.store.apply(_step(2, "m2", phase=P.IN_TREATMENT, phq9=12))
    await subject.store.apply(_step(1, "m1", phq9=18))
    assert await subject.episode("ep1") == ("in_treatment", 12)
    assert set(await subject.outbox()) == {"m1", "m2"}
    assert len(await subject.transitions("care-episode-ep1")) == 2


async def test_a_message_id_is_queued_once_whichever_batch_brings_it(
    subject: StoreUnderTest,
) -> None:
    await subject.store.apply(_step(1, "m1"))
    await subject.store.apply(_step(2, "m1", "m2"))
    assert set(await subject.outbox()) == {"m1", "m2"}


async def test_each_message_is_delivered_once(subject: StoreUnderTest) -> None:
    await subject.store.apply(_step(1, "m1", "m2"))
    channel = RecordingChannel()
    assert (await subject.dispatch(channel)).sent == 2
    assert (await subject.dispatch(channel)).claimed == 0
    assert sorted(channel.delivered) == [("m1", 1), ("m2", 1)]
    assert {status for _, status, _ in (await subject.outbox()).values()} == {"sent"}


async def test_a_failed_delivery_is_retried_after_its_backoff_under_the_same_id(
    subject: StoreUnderTest,
) -> None:
    await subject.store.apply(_step(1, "m1"))
    channel = RecordingChannel(failures=[DeliveryError("receiver down")])
    assert (await subject.dispatch(channel)).retried == 1
    assert (await subject.dispatch(channel)).claimed == 0  # not due before its backoff
    subject.clock.now += RETRY.delay(1) + timedelta(seconds=1)
    assert (await subject.dispatch(channel)).sent == 1
    assert channel.delivered == [("m1", 2)]
    assert await subject.outbox() == {"m1": ("review_due", "sent", 2)}


async def test_a_held_message_keeps_its_attempt(subject: StoreUnderTest) -> None:
    await subject.store.apply(_step(1, "m1"))
    later = subject.clock.now + timedelta(hours=8)
    channel = RecordingChannel(failures=[DeferDelivery(later, "quiet hours")])
    assert (await subject.dispatch(channel)).deferred == 1
    subject.clock.now = later + timedelta(seconds=1)
    assert (await subject.dispatch(channel)).sent == 1
    assert channel.delivered == [("m1", 1)]


async def test_an_urgent_message_that_cannot_be_delivered_alerts_operators_and_supervisors(
    subject: StoreUnderTest,
) -> None:
    urgent = _step(1)
    urgent.notifications.append(note("alarm", urgency=Urgency.URGENT))
    await subject.store.apply(urgent)
    channel = RecordingChannel(failures=[PermanentDeliveryError("refused")])
    assert (await subject.dispatch(channel)).failed == 1
    outbox = await subject.outbox()
    assert outbox["alarm"][1] == "failed"
    alerts = {m: t for m, (t, status, _) in outbox.items() if status == "pending"}
    assert alerts == {
        "alarm:undeliverable:operator": UNDELIVERABLE_TEMPLATE,
        "alarm:undeliverable:supervisor": UNDELIVERABLE_TEMPLATE,
    }


async def test_a_channel_that_keeps_failing_ends_failed_after_the_last_attempt(
    subject: StoreUnderTest,
) -> None:
    await subject.store.apply(_step(1, "m1"))
    channel = RecordingChannel(failures=[DeliveryError("down")] * RETRY.max_attempts)
    for attempt in range(1, RETRY.max_attempts + 1):
        report = await subject.dispatch(channel)
        assert report.claimed == 1
        subject.clock.now += RETRY.delay(attempt) + timedelta(seconds=1)
    assert await subject.outbox() == {"m1": ("review_due", "failed", RETRY.max_attempts)}
    assert channel.delivered == []
    assert channel.failures == []
