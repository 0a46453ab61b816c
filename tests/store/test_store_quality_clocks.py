"""Live quality clocks in PostgreSQL: written through the records batch (latest state per
clock, a replayed older batch changes nothing), listed open for the Today page."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from rules.policy import ProgramPolicy
from schemas.quality import ClockStatus, QualityClock, QualityMeasure
from store import quality_clocks
from store.postgres import PostgresRecordStore
from tests.store.store_builders import T0, batch, snapshot
from workflows import clock_windows


def fuh() -> list[QualityClock]:
    return clock_windows.fuh_clocks(T0.date(), T0, ProgramPolicy())


async def test_clocks_are_written_with_the_batch_and_later_states_win(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    fuh7, fuh30 = fuh()
    await store.apply(batch(1, snapshot(), quality_clocks=[fuh7, fuh30]))
    met = fuh7.model_copy(
        update={
            "status": ClockStatus.MET,
            "met_on": T0.date() + timedelta(days=3),
            "service_days": [T0.date() + timedelta(days=3)],
            "closed_at": T0 + timedelta(days=3),
            "updated_at": T0 + timedelta(days=3),
        }
    )
    later = batch(2, snapshot(updated_at=T0 + timedelta(days=3)), quality_clocks=[met])
    await store.apply(later)
    await store.apply(batch(1, snapshot(), quality_clocks=[fuh7, fuh30]))  # replayed: no-op
    rows = {
        r["measure"]: r
        for r in await pool.fetch("SELECT * FROM quality_clocks WHERE episode_id = 'ep1'")
    }
    assert rows["fuh_7"]["status"] == "met"
    assert rows["fuh_7"]["met_on"] == T0.date() + timedelta(days=3)
    assert rows["fuh_7"]["service_days"] == [T0.date() + timedelta(days=3)]
    assert rows["fuh_30"]["status"] == "open"
    assert rows["fuh_30"]["last_day"] == T0.date() + timedelta(days=30)
    # A newer batch carrying an older state of the same clock does win (it is later).
    stale = fuh7.model_copy(update={"status": ClockStatus.MISSED, "closed_at": T0})
    await store.apply(batch(3, snapshot(updated_at=T0 + timedelta(days=9)), quality_clocks=[stale]))
    assert (
        await pool.fetchval("SELECT status FROM quality_clocks WHERE clock_id = $1", fuh7.clock_id)
        == "missed"
    )


async def test_open_clocks_are_listed_per_program_soonest_last_day_first(
    pool: asyncpg.Pool,
) -> None:
    store = PostgresRecordStore(pool)
    await store.apply(batch(1, snapshot("ep1"), quality_clocks=fuh()))
    await store.apply(batch(1, snapshot("ep2", program_id="prog-b"), quality_clocks=fuh()))
    lines, total = await quality_clocks.open_clocks(pool, programs=["prog-a"], limit=10)
    assert total == 2
    assert [(x.episode_id, x.measure) for x in lines] == [
        ("ep1", QualityMeasure.FUH_7),
        ("ep1", QualityMeasure.FUH_30),
    ]
    assert lines[0].last_day == T0.date() + timedelta(days=7)
    lines, total = await quality_clocks.open_clocks(pool, programs=None, limit=1)
    assert total == 4 and len(lines) == 1
    assert await quality_clocks.episodes_with_open_clocks(pool, ["ep1", "ep3"]) == {"ep1"}


async def test_a_measure_the_enum_does_not_know_is_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            """INSERT INTO quality_clocks (episode_id, clock_id, program_id, measure, status,
                   index_date, first_day, last_day, closes_at, opened_at, updated_at,
                   workflow_id, seq)
               VALUES ('e', 'c', 'p', 'fuh_9', 'open', $1, $1, $1, $2, $2, $2, 'w', 1)""",
            T0.date(),
            T0,
        )
