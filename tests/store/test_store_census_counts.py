"""`census_counts` (migration 0003) always equals a GROUP BY over the open episodes.

Every check compares `queries.census` with the aggregate it replaced, read in the same
snapshot, after batches through the store, direct SQL and COPY, and under concurrent
writers (with a reader checking while they write).
"""

from __future__ import annotations

import asyncio
import random
import shutil
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from store import queries
from store.dbtypes import Db
from store.migrate import MIGRATIONS_DIR, discover, migrate
from store.postgres import PostgresRecordStore
from tests.store.store_builders import T0, batch, snapshot

P = CarePhase
L = LevelOfCare
Group = tuple[str, LevelOfCare | None, CarePhase, int]


class _RolledBack(Exception):
    pass


_GROUP_BY = """
SELECT program_id, level_delivered AS level, phase, count(*)::int AS episodes
FROM episodes
WHERE phase <> 'closed' AND ($1::text[] IS NULL OR program_id = ANY($1))
GROUP BY program_id, level_delivered, phase
ORDER BY program_id, level_delivered, phase
"""


async def _grouped(db: Db, programs: list[str] | None = None) -> list[Group]:
    return [
        (
            r["program_id"],
            None if r["level"] is None else LevelOfCare(r["level"]),
            CarePhase(r["phase"]),
            r["episodes"],
        )
        for r in await db.fetch(_GROUP_BY, programs)
    ]


async def _census(db: Db, programs: list[str] | None = None) -> list[Group]:
    return [
        (r.program_id, r.level, r.phase, r.episodes)
        for r in await queries.census(db, programs=programs)
    ]


async def assert_census_matches(pool: asyncpg.Pool) -> list[Group]:
    """census() == GROUP BY, read in one snapshot, for all programs and for a filter."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        expected = await _grouped(conn)
        assert await _census(conn) == expected
        assert await _census(conn, ["prog-b", "nope"]) == await _grouped(conn, ["prog-b", "nope"])
        assert await conn.fetchval("SELECT count(*) FROM census_counts WHERE episodes < 0") == 0
    return expected


async def test_census_follows_every_kind_of_batch(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    seq = count(1)
    at = count(1)

    async def put(eid: str, **changes: Any) -> None:
        ep = snapshot(eid, updated_at=T0 + timedelta(hours=next(at)), **changes)
        await store.apply(batch(next(seq), ep))

    assert await assert_census_matches(pool) == []

    # New episodes: before enrolment (no level), in treatment, in two programs.
    await put("e1")
    await put("e2")
    await put("e3", phase=P.IN_TREATMENT, delivered_level=L.IOP)
    await put("e4", program_id="prog-b", phase=P.IN_TREATMENT, delivered_level=L.PHP)
    assert await assert_census_matches(pool) == [
        ("prog-a", L.IOP, P.IN_TREATMENT, 1),
        ("prog-a", None, P.ASSESSMENT, 2),
        ("prog-b", L.PHP, P.IN_TREATMENT, 1),
    ]

    # Phase change, then level change (step down), then a snapshot that changes neither.
    await put("e1", phase=P.IN_TREATMENT, delivered_level=L.IOP)
    await put("e3", phase=P.IN_TREATMENT, delivered_level=L.OP)
    await put("e3", phase=P.IN_TREATMENT, delivered_level=L.OP, risk_flag=True)
    await put("e4", program_id="prog-b", phase=P.AFTERCARE, delivered_level=L.OP)
    assert await assert_census_matches(pool) == [
        ("prog-a", L.IOP, P.IN_TREATMENT, 1),
        ("prog-a", L.OP, P.IN_TREATMENT, 1),
        ("prog-a", None, P.ASSESSMENT, 1),
        ("prog-b", L.OP, P.AFTERCARE, 1),
    ]

    # Closing leaves the census (its group row may stay at 0 but is not returned).
    await put("e1", phase=P.CLOSED, delivered_level=L.IOP, outcome="completed")
    await put("e2", phase=P.CLOSED, outcome="entered_in_error")
    assert await assert_census_matches(pool) == [
        ("prog-a", L.OP, P.IN_TREATMENT, 1),
        ("prog-b", L.OP, P.AFTERCARE, 1),
    ]

    # An older snapshot (a late batch) does not roll the row back, nor the counts.
    stale = snapshot("e3", phase=P.ASSESSMENT, updated_at=T0)
    await store.apply(batch(next(seq), stale))
    # The same batch twice: the second is a claimed no-op.
    again = batch(
        next(seq),
        snapshot(
            "e5",
            program_id="prog-b",
            phase=P.IN_TREATMENT,
            delivered_level=L.OP,
            updated_at=T0 + timedelta(hours=next(at)),
        ),
    )
    await store.apply(again)
    await store.apply(again)
    # A closed episode reopened by a newer snapshot counts again.
    await put("e2", phase=P.ASSESSMENT)
    assert await assert_census_matches(pool) == [
        ("prog-a", L.OP, P.IN_TREATMENT, 1),
        ("prog-a", None, P.ASSESSMENT, 1),
        ("prog-b", L.OP, P.AFTERCARE, 1),
        ("prog-b", L.OP, P.IN_TREATMENT, 1),
    ]


async def test_census_follows_direct_sql_copy_delete_and_truncate(pool: asyncpg.Pool) -> None:
    def row(eid: str, program: str, phase: str, level: str | None) -> tuple[Any, ...]:
        return (eid, f"wf-{eid}", program, phase, level, T0, T0, 1)

    columns = [
        "episode_id",
        "workflow_id",
        "program_id",
        "phase",
        "level_delivered",
        "started_at",
        "updated_at",
        "last_seq",
    ]
    async with pool.acquire() as conn:
        rows = [
            row(f"c{i}", f"prog-{'ab'[i % 2]}", ["in_treatment", "closed", "aftercare"][i % 3],
                [None, "iop", "php"][i % 3])
            for i in range(60)
        ]  # fmt: skip
        await conn.copy_records_to_table("episodes", records=rows, columns=columns)
        await assert_census_matches(pool)
        await conn.executemany(
            f"INSERT INTO episodes ({', '.join(columns)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            [row("d1", "prog-b", "assessment", None), row("d2", "prog-c", "in_treatment", "op")],
        )
        await conn.execute(
            "UPDATE episodes SET phase = 'closed' WHERE episode_id IN ('c0', 'c2', 'c4', 'c5')"
        )
        await conn.execute("UPDATE episodes SET level_delivered = 'op', program_id = 'prog-c'")
        await assert_census_matches(pool)
        await conn.execute("DELETE FROM episodes WHERE episode_id LIKE 'c1%' OR phase = 'closed'")
        await assert_census_matches(pool)
        with pytest.raises(_RolledBack):  # the counts roll back with the rows
            async with conn.transaction():
                await conn.execute("DELETE FROM episodes")
                assert await _census(conn) == []
                raise _RolledBack
        assert await assert_census_matches(pool) != []
        await conn.execute("TRUNCATE episodes CASCADE")
        assert await assert_census_matches(pool) == []


async def test_migration_backfills_existing_episodes(
    bare_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # The episodes table as the store of this release writes it (0303 adds a column the
    # batches carry), without the census counts of 0003.
    early = ("0001_care_records.sql", "0002_read_indexes.sql", "0303_risk_unacknowledged.sql")
    for name in early:
        shutil.copy(MIGRATIONS_DIR / name, tmp_path / name)
    await migrate(bare_pool, tmp_path)
    store = PostgresRecordStore(bare_pool)
    for i in range(30):
        phase = [P.ASSESSMENT, P.IN_TREATMENT, P.CLOSED][i % 3]
        level = None if phase is P.ASSESSMENT else [L.IOP, L.OP][i % 2]
        ep = snapshot(f"b{i}", program_id=f"prog-{'ab'[i % 2]}", phase=phase, delivered_level=level)
        await store.apply(batch(i + 1, ep))
    assert await migrate(bare_pool) == [
        m.name for m in discover() if m.version >= 3 and m.name not in early
    ]
    expected = await assert_census_matches(bare_pool)
    assert sum(n for *_, n in expected) == 20


async def test_census_stays_exact_under_concurrent_writers(pg_dsn: str, schema: str) -> None:
    pool = await asyncpg.create_pool(
        pg_dsn, min_size=1, max_size=10, server_settings={"search_path": schema}
    )
    try:
        await migrate(pool)
        store = PostgresRecordStore(pool)
        seq = count(1)
        at = count(1)
        programs = ["prog-a", "prog-b", "prog-c"]
        phases = [P.ASSESSMENT, P.IN_TREATMENT, P.AFTERCARE, P.CLOSED]
        levels = [None, L.IOP, L.PHP, L.OP]
        done = asyncio.Event()
        checks = 0

        async def writer(seed: int) -> None:
            rnd = random.Random(seed)
            for _ in range(60):
                ep = snapshot(
                    f"e{rnd.randrange(24)}",  # writers share episodes: real row contention
                    program_id=rnd.choice(programs),
                    phase=rnd.choice(phases),
                    delivered_level=rnd.choice(levels),
                    # Taken before the await: a slower writer lands an older snapshot late.
                    updated_at=T0 + timedelta(minutes=next(at)),
                )
                b = batch(next(seq), ep)
                await store.apply(b)
                if rnd.random() < 0.2:
                    await store.apply(b)

        async def reader() -> None:
            nonlocal checks
            while not done.is_set():
                await assert_census_matches(pool)
                checks += 1
                await asyncio.sleep(0)

        reading = asyncio.create_task(reader())
        try:
            await asyncio.gather(*(writer(seed) for seed in range(8)))
        finally:
            done.set()
            await reading
        assert checks > 0
        final = await assert_census_matches(pool)
        assert sum(n for *_, n in final) == await pool.fetchval(
            "SELECT count(*) FROM episodes WHERE phase <> 'closed'"
        )
    finally:
        await pool.close()
