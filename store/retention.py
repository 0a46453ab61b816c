"""Retention: rows kept only for a while are deleted once they are older than their window.

Three kinds grow with every call and every step and were never purged:

- answered `api_idempotency` rows (a retry with the same key within the window still gets
  the first answer); a claim still in flight — no answer stored, whatever its lease — is
  never deleted: its request may be running, or be retried and run again;
- `applied_batches` markers (a retried `record_effects` of a batch already written writes
  nothing within the window; the activity's retries end within minutes);
- outbox messages `sent` or `delivered` (and their SMS delivery ids); `pending` messages
  are never deleted, nor `failed` / `undeliverable` ones, which operators list and resend.
  The window is longer than the patient channel's rate-limit window (at most 7 days),
  which counts recent sends.

Each pass deletes in batches of `batch_rows` (short transactions, `SKIP LOCKED`, so
workers running it at the same time share the work and writers are not held up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from store.supervise import Backoff, supervise

log = logging.getLogger(__name__)

# A patient channel's rate window is at most 7 days (rules.messaging); sent rows it counts
# must outlive it.
MIN_OUTBOX_SENT_DAYS = 8.0


@dataclass(frozen=True)
class RetentionPolicy:
    idempotency_days: float = 30.0
    applied_batches_days: float = 90.0
    outbox_sent_days: float = 30.0
    batch_rows: int = 5000

    def __post_init__(self) -> None:
        if min(self.idempotency_days, self.applied_batches_days) <= 0:
            raise ValueError("retention windows must be longer than 0 days")
        if self.outbox_sent_days < MIN_OUTBOX_SENT_DAYS:
            raise ValueError(f"sent outbox rows must be kept >= {MIN_OUTBOX_SENT_DAYS} days")
        if self.batch_rows < 1:
            raise ValueError("batch_rows must be at least 1")


_IDEMPOTENCY = """
DELETE FROM api_idempotency WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM api_idempotency
    WHERE created_at < $1 AND status_code IS NOT NULL
    LIMIT $2 FOR UPDATE SKIP LOCKED))
"""

_APPLIED = """
DELETE FROM applied_batches WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM applied_batches WHERE applied_at < $1
    LIMIT $2 FOR UPDATE SKIP LOCKED))
"""

# Sent rows first lose their SMS delivery ids (they reference the message), in the same
# statement, so a callback never finds half a message.
_OUTBOX = """
WITH old AS (
    SELECT message_id FROM notification_outbox
    WHERE status IN ('sent', 'delivered') AND sent_at < $1
    LIMIT $2 FOR UPDATE SKIP LOCKED
), ids AS (
    DELETE FROM sms_deliveries WHERE message_id IN (SELECT message_id FROM old)
)
DELETE FROM notification_outbox WHERE message_id IN (SELECT message_id FROM old)
"""


async def _drain(pool: asyncpg.Pool, sql: str, cutoff: datetime, batch_rows: int) -> int:
    deleted = 0
    while True:
        status = await pool.execute(sql, cutoff, batch_rows)
        count = int(status.rsplit(" ", 1)[-1])
        deleted += count
        if count < batch_rows:
            return deleted


async def purge(pool: asyncpg.Pool, policy: RetentionPolicy, *, now: datetime) -> dict[str, int]:
    """One pass: every row older than its window is deleted; the count per kind."""
    days = timedelta(days=1)
    return {
        "api_idempotency": await _drain(
            pool, _IDEMPOTENCY, now - policy.idempotency_days * days, policy.batch_rows
        ),
        "applied_batches": await _drain(
            pool, _APPLIED, now - policy.applied_batches_days * days, policy.batch_rows
        ),
        "notification_outbox": await _drain(
            pool, _OUTBOX, now - policy.outbox_sent_days * days, policy.batch_rows
        ),
    }


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def run_retention(
    pool: asyncpg.Pool,
    policy: RetentionPolicy,
    *,
    stop: asyncio.Event,
    interval_s: float = 3600.0,
    clock: Callable[[], datetime] = _utc_now,
    backoff: Backoff | None = None,
) -> None:
    """A purge pass every `interval_s` until `stop` is set (the first one at once),
    supervised like the dispatcher: an error is logged and the loop starts again."""

    async def passes() -> None:
        while not stop.is_set():
            deleted = await purge(pool, policy, now=clock())
            if any(deleted.values()):
                log.info("retention pass deleted %s", deleted)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    await supervise("retention", passes, stop=stop, backoff=backoff)
