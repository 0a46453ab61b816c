"""The followup_measures table (migration 0310): one row per episode and follow-up, and the
database refuses a row that says it was answered without its score."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)

_INSERT = """
INSERT INTO followup_measures (episode_id, due_kind, program_id, instrument, index_date,
    index_total, window_opens, window_closes, due_on, status, total, answers, answered_at,
    scheduled_at, updated_at)
VALUES ('ep1', $1, 'iop', 'phq9', '2026-01-05', 14, $2, $3, $4, $5, $6, $7, $8, $9, $9)
"""


async def _episode(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "INSERT INTO episodes (episode_id, workflow_id, program_id, phase, started_at,"
        " updated_at, last_seq) VALUES ('ep1', 'care-episode-ep1', 'iop', 'closed', $1, $1, 1)",
        NOW,
    )


async def test_one_row_per_episode_and_follow_up(pool: asyncpg.Pool) -> None:
    await _episode(pool)
    args = (date(2026, 5, 7), date(2026, 9, 3), date(2026, 7, 6), "scheduled", None, None, None)
    await pool.execute(_INSERT, "6_month", *args, NOW)
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(_INSERT, "6_month", *args, NOW)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(_INSERT, "9_month", *args, NOW)
    assert await pool.fetchval("SELECT count(*) FROM followup_measures") == 1


async def test_an_answer_needs_its_score(pool: asyncpg.Pool) -> None:
    await _episode(pool)
    window = (date(2026, 11, 5), date(2027, 3, 5), date(2027, 1, 5))
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(_INSERT, "12_month", *window, "answered", None, None, None, NOW)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(_INSERT, "12_month", *window, "answered", 30, "[3]", NOW, NOW)
    await pool.execute(_INSERT, "12_month", *window, "answered", 4, "[0,1,0,1,0,1,0,1,0]", NOW, NOW)
    # The episode row removed (retention) takes its follow-ups with it.
    await pool.execute("DELETE FROM episodes WHERE episode_id = 'ep1'")
    assert await pool.fetchval("SELECT count(*) FROM followup_measures") == 0
