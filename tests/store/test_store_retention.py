"""Retention on the real PostgreSQL: rows older than their window go, newer ones stay, and
nothing an in-flight call needs goes (an unanswered idempotency claim, a queued or failed
outbox message), whatever its age."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from rules.transitions import CarePhase, Event
from schemas.records import EffectBatch
from store.postgres import PostgresRecordStore
from store.retention import RetentionPolicy, purge, run_retention
from tests.store.store_builders import batch, move, snapshot

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=3)
POLICY = RetentionPolicy(
    idempotency_days=30, applied_batches_days=30, outbox_sent_days=30, batch_rows=2
)


async def _idempotency(pool: asyncpg.Pool, key: str, created: datetime, answered: bool) -> None:
    await pool.execute(
        """
        INSERT INTO api_idempotency (key_owner, idempotency_key, method, path, request_hash,
            status_code, response_body, created_at, completed_at, claim_token, lease_expires_at)
        VALUES ('owner', $1, 'POST', '/v1/x', 'h', $2, $3, $4, $5, 'c', $6)
        """,
        key,
        200 if answered else None,
        '{"ok": true}' if answered else None,
        created,
        created if answered else None,
        None if answered else created + timedelta(seconds=60),
    )


async def _message(pool: asyncpg.Pool, message_id: str, status: str, at: datetime) -> None:
    sent = at if status in ("sent", "delivered") else None
    await pool.execute(
        """
        INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id, seq,
            channel, template, recipient_role, urgency, status, created_at, next_attempt_at,
            sent_at)
        VALUES ($1, 'ep1', 'prog-a', 'care-episode-ep1', 1, 'webhook', 'review_due',
            'care_team', 'routine', $2, $3, $3, $4)
        """,
        message_id,
        status,
        at,
        sent,
    )


async def _keys(pool: asyncpg.Pool, sql: str) -> set[str]:
    return {r[0] for r in await pool.fetch(sql)}


async def test_purge_keeps_what_is_young_or_still_needed(pool: asyncpg.Pool) -> None:
    for n in range(5):  # more than one batch of 2
        await _idempotency(pool, f"old-answered-{n}", OLD, answered=True)
    await _idempotency(pool, "old-in-flight", OLD, answered=False)  # lease long run out
    await _idempotency(pool, "recent-answered", RECENT, answered=True)
    await _idempotency(pool, "recent-in-flight", RECENT, answered=False)

    store = PostgresRecordStore(pool)

    def step(seq: int) -> EffectBatch:
        at = OLD + timedelta(hours=seq)
        return batch(
            seq,
            snapshot("ep1"),
            transitions=[
                move(CarePhase.REFERRAL, CarePhase.ASSESSMENT, Event.REFERRAL_RECEIVED, at)
            ],
        )

    for seq in range(1, 6):
        await store.apply(step(seq))
    await pool.execute("UPDATE applied_batches SET applied_at = $1 WHERE seq <= 3", OLD)

    for n in range(3):
        await _message(pool, f"old-sent-{n}", "sent", OLD)
    await _message(pool, "old-delivered", "delivered", OLD)
    await pool.execute(
        "INSERT INTO sms_deliveries (provider_id, message_id) VALUES ('SM1', 'old-delivered')"
    )
    for status in ("pending", "failed", "undeliverable"):
        await _message(pool, f"old-{status}", status, OLD)
    await _message(pool, "recent-sent", "sent", RECENT)

    deleted = await purge(pool, POLICY, now=NOW)

    assert deleted == {"api_idempotency": 5, "applied_batches": 3, "notification_outbox": 4}
    assert await _keys(pool, "SELECT idempotency_key FROM api_idempotency") == {
        "old-in-flight",
        "recent-answered",
        "recent-in-flight",
    }
    assert await _keys(pool, "SELECT seq::text FROM applied_batches") == {"4", "5"}
    assert await _keys(pool, "SELECT message_id FROM notification_outbox") == {
        "old-pending",
        "old-failed",
        "old-undeliverable",
        "recent-sent",
    }
    assert await pool.fetchval("SELECT count(*) FROM sms_deliveries") == 0
    # A retry of a batch whose marker is kept still writes nothing.
    transitions = await pool.fetchval("SELECT count(*) FROM transitions")
    await store.apply(step(5))
    assert await pool.fetchval("SELECT count(*) FROM transitions") == transitions
    # A second pass finds nothing more.
    assert set((await purge(pool, POLICY, now=NOW)).values()) == {0}


async def test_the_retention_loop_purges_until_stopped(pool: asyncpg.Pool) -> None:
    await _idempotency(pool, "old-answered", OLD, answered=True)
    stop = asyncio.Event()
    loop = asyncio.create_task(
        run_retention(pool, POLICY, stop=stop, interval_s=0.05, clock=lambda: NOW)
    )
    try:
        for _ in range(400):
            if not await pool.fetchval("SELECT count(*) FROM api_idempotency"):
                break
            await asyncio.sleep(0.05)
        assert await pool.fetchval("SELECT count(*) FROM api_idempotency") == 0
        await _idempotency(pool, "old-again", OLD, answered=True)  # the next pass takes it
        for _ in range(400):
            if not await pool.fetchval("SELECT count(*) FROM api_idempotency"):
                break
            await asyncio.sleep(0.05)
        assert await pool.fetchval("SELECT count(*) FROM api_idempotency") == 0
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=30)


def test_the_outbox_window_outlives_the_rate_limit_window() -> None:
    with pytest.raises(ValueError, match="8"):
        RetentionPolicy(outbox_sent_days=7)
    with pytest.raises(ValueError):
        RetentionPolicy(idempotency_days=0)
