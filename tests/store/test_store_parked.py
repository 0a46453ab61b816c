"""A record batch PostgreSQL refuses for its content is parked, not retried for ever: kept
whole, counted, its messages still queued, and the episode's later batches written."""

from __future__ import annotations

import json
import logging

import asyncpg
import pytest

from rules.transitions import CarePhase, Event
from schemas.records import Urgency
from store.health import store_health
from store.postgres import PostgresRecordStore, is_permanent
from tests.store.store_builders import T0, batch, move, note, review, snapshot

# What a decision's free-text reason carried in the reported run: a NUL PostgreSQL refuses
# (`invalid byte sequence for encoding "UTF8": 0x00`). Built without validation, as the
# wall before this one (the API's schemas) is not what is tested here.
POISON = "attendance plan: Mon/Wed\x00Fri"


def poisoned_batch(seq: int, **parts: object) -> object:
    transition = move(CarePhase.ASSESSMENT, CarePhase.IN_TREATMENT, Event.AUTH_APPROVED, T0)
    return batch(
        seq,
        snapshot(phase=CarePhase.IN_TREATMENT, updated_at=T0, risk_flag=True),
        transitions=[transition.model_copy(update={"reason": POISON})],
        reviews=[review("rev-1", T0, 12)],
        **parts,
    )


async def test_a_refused_batch_is_parked_whole_and_later_batches_are_written(
    pool: asyncpg.Pool, caplog: pytest.LogCaptureFixture
) -> None:
    store = PostgresRecordStore(pool)
    await store.apply(batch(1, snapshot()))
    alert = note("care-episode-ep1:2:0", template="risk_alert", urgency=Urgency.URGENT)
    refused = poisoned_batch(2, notifications=[alert])

    with caplog.at_level(logging.ERROR, logger="store.postgres"):
        await store.apply(refused)  # type: ignore[arg-type]
        await store.apply(refused)  # type: ignore[arg-type]  # a retry: no repeat
    parked = await pool.fetch("SELECT * FROM parked_batches")
    assert len(parked) == 1
    row = parked[0]
    assert (row["workflow_id"], row["seq"], row["sqlstate"]) == ("care-episode-ep1", 2, "22021")
    assert row["error_class"] == "CharacterNotInRepertoireError"
    assert json.loads(row["batch_json"]) == refused.model_dump(mode="json")  # type: ignore[attr-defined]
    assert json.loads(row["batch_json"])["transitions"][0]["reason"] == POISON
    assert "record batch parked" in caplog.text and "Mon/Wed" not in caplog.text
    # Nothing of the batch half-written, but its alert is on its way.
    assert await pool.fetchval("SELECT count(*) FROM transitions WHERE seq = 2") == 0
    assert await pool.fetchval("SELECT count(*) FROM reviews") == 0
    outbox = await pool.fetch("SELECT message_id, template FROM notification_outbox")
    assert [(r["message_id"], r["template"]) for r in outbox] == [(alert.message_id, "risk_alert")]
    assert (await store_health(pool)).parked_batches == 1

    later = batch(
        3,
        snapshot(phase=CarePhase.IN_TREATMENT, updated_at=T0.replace(hour=12)),
        reviews=[review("rev-2", T0.replace(hour=12), 9)],
    )
    await store.apply(later)
    episode = await pool.fetchrow("SELECT phase, last_seq FROM episodes WHERE episode_id = 'ep1'")
    assert episode is not None
    assert (episode["phase"], episode["last_seq"]) == ("in_treatment", 3)
    reviews = await pool.fetch("SELECT review_id FROM reviews")
    assert [r["review_id"] for r in reviews] == ["rev-2"]


async def test_a_batch_whose_messages_are_refused_is_parked_with_them(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    bad_note = note("care-episode-ep1:1:0").model_copy(update={"params": {"due": "x\x00"}})
    refused = batch(1, snapshot(), notifications=[bad_note])
    await store.apply(refused)
    row = await pool.fetchrow("SELECT sqlstate, batch_json FROM parked_batches")
    assert row is not None and row["sqlstate"] == "22P05"  # jsonb: unsupported \u0000
    assert json.loads(row["batch_json"])["notifications"][0]["params"] == {"due": "x\x00"}
    assert await pool.fetchval("SELECT count(*) FROM notification_outbox") == 0
    assert await pool.fetchval("SELECT count(*) FROM applied_batches") == 1


async def test_a_database_that_is_away_is_not_a_reason_to_park(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    await pool.close()
    with pytest.raises(asyncpg.InterfaceError):
        await store.apply(poisoned_batch(1))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (asyncpg.exceptions.CharacterNotInRepertoireError("0x00"), True),
        (asyncpg.exceptions.UntranslatableCharacterError("\\u0000"), True),
        (asyncpg.exceptions.StringDataRightTruncationError("too long"), True),
        (asyncpg.exceptions.CheckViolationError("phase"), True),
        (asyncpg.exceptions.DataError("invalid input for query argument $3"), True),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), False),
        (asyncpg.exceptions.AdminShutdownError("terminating"), False),
        (asyncpg.exceptions.CannotConnectNowError("starting up"), False),
        (asyncpg.exceptions.InternalClientError("cannot switch to state 12"), False),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), False),
        (asyncpg.exceptions.UndefinedTableError("no table yet"), False),
        (ConnectionRefusedError(), False),
        (TimeoutError(), False),
    ],
)
def test_only_errors_about_the_data_are_permanent(error: BaseException, permanent: bool) -> None:
    assert is_permanent(error) is permanent
