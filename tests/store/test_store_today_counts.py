"""`today_counts` (migration 0730) always equals a GROUP BY over the open episodes, and the
Today statement's counts read from it equal the counts over `episodes` itself
(`worklists.today_lists`, the oracle) at any instant, midnight or not.

Checked after batches through the store (phase, risk and review-due changes, late and
replayed batches), direct SQL, COPY, DELETE, TRUNCATE and a rollback, under concurrent
writers, and after the migration backfills episodes written before it.
"""

from __future__ import annotations

import asyncio
import random
import shutil
from datetime import UTC, date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rules.transitions import CarePhase
from store import worklists
from store.dbtypes import Db
from store.migrate import MIGRATIONS_DIR, discover, migrate
from store.postgres import PostgresRecordStore
from tests.store.store_builders import T0, batch, snapshot

P = CarePhase
Key = tuple[str, date, bool, bool, int]

_GROUP_BY = """
SELECT program_id, coalesce((next_review_due AT TIME ZONE 'UTC')::date, 'infinity') AS due_day,
    risk_flag AS risk, phase = 'aftercare' AS aftercare, count(*)::int AS episodes
FROM episodes WHERE phase <> 'closed'
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
_KEPT = """
SELECT program_id, due_day, risk, aftercare, episodes FROM today_counts ORDER BY 1, 2, 3, 4
"""


class _RolledBack(Exception):
    pass


def _keys(rows: list[asyncpg.Record]) -> list[Key]:
    return [(r["program_id"], r["due_day"], r["risk"], r["aftercare"], r["episodes"]) for r in rows]


def _instants(around: datetime) -> list[datetime]:
    """A mid-day instant, its midnight, a minute before it, and instants days apart."""
    midnight = datetime.combine(around.astimezone(UTC).date(), datetime.min.time(), tzinfo=UTC)
    return [
        around,
        midnight,
        midnight - timedelta(minutes=1),
        around + timedelta(days=2, hours=5),
        around - timedelta(days=3, hours=7),
    ]


async def _assert_page_counts(db: Db, around: datetime) -> None:
    """today_page's counts == today_lists' (count(*) over episodes), for every program,
    one program and none, at instants around `around` with day-aligned and unaligned
    ends (and a `now` past `tomorrow`, where a list is empty)."""
    for now in _instants(around):
        midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
        for tomorrow, horizon in (
            (midnight + timedelta(days=1), midnight + timedelta(days=8)),
            (now + timedelta(hours=13), now + timedelta(days=3, hours=2)),
            (now - timedelta(hours=2), now + timedelta(days=1)),
        ):
            for programs in (None, ["prog-b"], []):
                page = await worklists.today_page(
                    db,
                    now=now,
                    tomorrow=tomorrow,
                    horizon_end=horizon,
                    today=now.date(),
                    authorization_days=14,
                    low_units=3,
                    programs=programs,
                    limit=2,
                    program_choices=False,
                )
                oracle = await worklists.today_lists(
                    db, now=now, tomorrow=tomorrow, horizon_end=horizon, programs=programs, limit=2
                )
                assert page.lists.counts == oracle.counts, (now, tomorrow, horizon, programs)


async def assert_counts_match(pool: asyncpg.Pool, around: datetime = T0) -> list[Key]:
    """today_counts == GROUP BY (no zero or negative rows kept), read in one snapshot, and
    the page's counts right in that snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        expected = _keys(await conn.fetch(_GROUP_BY))
        assert _keys(await conn.fetch(_KEPT)) == expected
        await _assert_page_counts(conn, around)
    return expected


async def test_counts_follow_every_kind_of_batch(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    seq = count(1)
    at = count(1)
    due = T0 + timedelta(hours=3)  # later the same UTC day as T0 (09:00)

    async def put(eid: str, **changes: Any) -> None:
        ep = snapshot(eid, updated_at=T0 + timedelta(hours=next(at)), **changes)
        await store.apply(batch(next(seq), ep))

    assert await assert_counts_match(pool) == []

    await put("e1")  # no review due
    await put("e2", phase=P.IN_TREATMENT, next_review_due=due)
    await put("e3", phase=P.IN_TREATMENT, next_review_due=due - timedelta(days=2))
    await put("e4", program_id="prog-b", phase=P.AFTERCARE, next_review_due=due)
    await put("e5", program_id="prog-b", phase=P.IN_TREATMENT, next_review_due=due, risk_flag=True)
    infinity = date.max  # asyncpg decodes 'infinity' as date.max
    assert await assert_counts_match(pool) == [
        ("prog-a", T0.date() - timedelta(days=2), False, False, 1),
        ("prog-a", T0.date(), False, False, 1),
        ("prog-a", infinity, False, False, 1),
        ("prog-b", T0.date(), False, True, 1),
        ("prog-b", T0.date(), True, False, 1),
    ]

    # The review moves to next week (its old day's row goes), a risk flag is raised and
    # cleared, a phase changes to aftercare, one snapshot moves nothing.
    await put("e2", phase=P.IN_TREATMENT, next_review_due=due + timedelta(days=7))
    await put("e3", phase=P.IN_TREATMENT, next_review_due=due - timedelta(days=2), risk_flag=True)
    await put("e5", program_id="prog-b", phase=P.IN_TREATMENT, next_review_due=due)
    await put("e1", phase=P.AFTERCARE, next_review_due=due + timedelta(days=30))
    await put("e4", program_id="prog-b", phase=P.AFTERCARE, next_review_due=due)
    assert await assert_counts_match(pool) == [
        ("prog-a", T0.date() - timedelta(days=2), True, False, 1),
        ("prog-a", T0.date() + timedelta(days=7), False, False, 1),
        ("prog-a", T0.date() + timedelta(days=30), False, True, 1),
        ("prog-b", T0.date(), False, False, 1),
        ("prog-b", T0.date(), False, True, 1),
    ]

    # Closing leaves the counts; a late (older) snapshot changes nothing; the same batch
    # twice counts once; a closed episode reopened by a newer snapshot counts again.
    await put("e3", phase=P.CLOSED, outcome="completed")
    await store.apply(batch(next(seq), snapshot("e2", phase=P.ASSESSMENT, updated_at=T0)))
    again = batch(
        next(seq),
        snapshot(
            "e6",
            program_id="prog-b",
            phase=P.IN_TREATMENT,
            next_review_due=due - timedelta(hours=4),
            updated_at=T0 + timedelta(hours=next(at)),
        ),
    )
    await store.apply(again)
    await store.apply(again)
    await put("e3", phase=P.IN_TREATMENT, next_review_due=due + timedelta(days=1))
    assert await assert_counts_match(pool) == [
        ("prog-a", T0.date() + timedelta(days=1), False, False, 1),
        ("prog-a", T0.date() + timedelta(days=7), False, False, 1),
        ("prog-a", T0.date() + timedelta(days=30), False, True, 1),
        ("prog-b", T0.date(), False, False, 2),
        ("prog-b", T0.date(), False, True, 1),
    ]
    await assert_counts_match(pool, around=due + timedelta(days=1, minutes=1))


async def test_counts_follow_direct_sql_copy_delete_and_truncate(pool: asyncpg.Pool) -> None:
    def row(i: int) -> tuple[Any, ...]:
        phase = ["in_treatment", "closed", "aftercare", "assessment"][i % 4]
        due = None if i % 5 == 0 else T0 + timedelta(hours=7 * i - 150)
        return (f"c{i}", f"wf-c{i}", f"prog-{'ab'[i % 2]}", phase, due, i % 3 == 0, T0, T0, 1)

    columns = [
        "episode_id",
        "workflow_id",
        "program_id",
        "phase",
        "next_review_due",
        "risk_flag",
        "started_at",
        "updated_at",
        "last_seq",
    ]
    async with pool.acquire() as conn:
        await conn.copy_records_to_table(
            "episodes", records=[row(i) for i in range(80)], columns=columns
        )
        await assert_counts_match(pool)
        await conn.executemany(
            f"INSERT INTO episodes ({', '.join(columns)}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
            "$9)",
            [row(i) for i in range(80, 90)],
        )
        await conn.execute(
            "UPDATE episodes SET phase = 'closed' WHERE episode_id IN ('c0', 'c2', 'c6', 'c7')"
        )
        await conn.execute(
            "UPDATE episodes SET next_review_due = next_review_due + interval '30 hours', "
            "risk_flag = NOT risk_flag WHERE episode_id LIKE 'c1%'"
        )
        await conn.execute("UPDATE episodes SET phase = 'aftercare' WHERE episode_id LIKE 'c3%'")
        await conn.execute("UPDATE episodes SET program_id = 'prog-c', next_review_due = NULL")
        await assert_counts_match(pool)
        await conn.execute("UPDATE episodes SET next_review_due = started_at + interval '2 days'")
        await conn.execute("DELETE FROM episodes WHERE episode_id LIKE 'c2%' OR phase = 'closed'")
        await assert_counts_match(pool)
        with pytest.raises(_RolledBack):  # the counts roll back with the rows
            async with conn.transaction():
                await conn.execute("DELETE FROM episodes")
                assert await conn.fetchval("SELECT count(*) FROM today_counts") == 0
                raise _RolledBack
        assert await assert_counts_match(pool) != []
        await conn.execute("TRUNCATE episodes CASCADE")
        assert await assert_counts_match(pool) == []


async def test_migration_backfills_existing_episodes(
    bare_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # Every other migration (a database of the release before 0730; later files too, as
    # the store of this release writes their tables), then 0730 over existing episodes.
    early = [m.name for m in discover() if m.version not in (730, 731)]
    for name in early:
        shutil.copy(MIGRATIONS_DIR / name, tmp_path / name)
    await migrate(bare_pool, tmp_path)
    store = PostgresRecordStore(bare_pool)
    for i in range(30):
        phase = [P.ASSESSMENT, P.IN_TREATMENT, P.AFTERCARE, P.CLOSED][i % 4]
        due = None if i % 7 == 0 else T0 + timedelta(hours=11 * i - 100)
        ep = snapshot(
            f"b{i}",
            program_id=f"prog-{'ab'[i % 2]}",
            phase=phase,
            next_review_due=due,
            risk_flag=i % 3 == 0,
        )
        await store.apply(batch(i + 1, ep))
    assert await migrate(bare_pool) == [
        "0730_today_counts.sql",
        "0731_today_counts_delete_only_when_moved.sql",
    ]
    expected = await assert_counts_match(bare_pool)
    assert sum(n for *_, n in expected) == 23


async def test_counts_stay_exact_under_concurrent_writers(pg_dsn: str, schema: str) -> None:
    pool = await asyncpg.create_pool(
        pg_dsn, min_size=1, max_size=10, server_settings={"search_path": schema}
    )
    try:
        await migrate(pool)
        store = PostgresRecordStore(pool)
        seq = count(1)
        at = count(1)
        phases = [P.ASSESSMENT, P.IN_TREATMENT, P.AFTERCARE, P.CLOSED]
        done = asyncio.Event()
        checks = 0

        async def writer(seed: int) -> None:
            rnd = random.Random(seed)
            for _ in range(50):
                ep = snapshot(
                    f"e{rnd.randrange(20)}",  # writers share episodes: real row contention
                    program_id=rnd.choice(["prog-a", "prog-b"]),
                    phase=rnd.choice(phases),
                    # Few days, so writers meet on the same count rows.
                    next_review_due=rnd.choice([None, T0, T0 + timedelta(days=1, hours=2)]),
                    risk_flag=rnd.random() < 0.3,
                    updated_at=T0 + timedelta(minutes=next(at)),
                )
                b = batch(next(seq), ep)
                await store.apply(b)
                if rnd.random() < 0.2:
                    await store.apply(b)

        async def reader() -> None:
            nonlocal checks
            while not done.is_set():
                async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                    assert _keys(await conn.fetch(_KEPT)) == _keys(await conn.fetch(_GROUP_BY))
                checks += 1
                await asyncio.sleep(0)

        reading = asyncio.create_task(reader())
        try:
            await asyncio.gather(*(writer(seed) for seed in range(8)))
        finally:
            done.set()
            await reading
        assert checks > 0
        final = await assert_counts_match(pool)
        assert sum(n for *_, n in final) == await pool.fetchval(
            "SELECT count(*) FROM episodes WHERE phase <> 'closed'"
        )
    finally:
        await pool.close()
