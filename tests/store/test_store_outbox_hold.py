"""Issue 14 item 16: a patient message held for the program's local window (`not_before`)
is queued at once (nothing lost) but not dispatched before the window opens."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from schemas.records import Recipient
from store.outbox import Dispatcher, LogChannel, OutboxMessage
from store.postgres import PostgresRecordStore
from tests.clock import Clock
from tests.store.store_builders import batch, note, snapshot


async def test_a_held_patient_message_goes_when_its_window_opens(pool: asyncpg.Pool) -> None:
    now: datetime = await pool.fetchval("SELECT now()")
    opens = now + timedelta(hours=9)
    held = note(
        "care-episode-ep1:1:0",
        recipient=Recipient.PATIENT,
        template="new_message",
        not_before=opens,
    )
    staff = note("care-episode-ep1:1:1")
    await PostgresRecordStore(pool).apply(batch(1, snapshot(), notifications=[held, staff]))
    row = await pool.fetchrow(
        "SELECT status, next_attempt_at FROM notification_outbox WHERE message_id = $1",
        held.message_id,
    )
    assert row is not None and (row["status"], row["next_attempt_at"]) == ("pending", opens)

    delivered: list[str] = []

    class Recording(LogChannel):
        async def deliver(self, message: OutboxMessage) -> None:
            delivered.append(message.message_id)

    clock = Clock(now + timedelta(seconds=1))
    dispatcher = Dispatcher(pool, Recording(), clock=clock)
    await dispatcher.dispatch_due()
    assert delivered == [staff.message_id]
    clock.now = opens
    await dispatcher.dispatch_due()
    assert delivered == [staff.message_id, held.message_id]
