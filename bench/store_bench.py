"""Store benchmark: idempotent write rate, and read-query latency over 100,000 episodes.

Everything happens in a throwaway schema that is dropped afterwards. The 100k data set is
bulk-loaded with COPY: 100 programs, ~6 transitions and ~3 reviews per episode.
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.records import EffectBatch, EpisodeSnapshot, TransitionRecord
from store import queries
from store.dbtypes import Db
from store.migrate import migrate
from store.postgres import PostgresRecordStore

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
PROGRAMS = [f"prog-{i:03d}" for i in range(100)]
OPEN_PHASES = [
    (CarePhase.IN_TREATMENT, 0.60),
    (CarePhase.AUTHORIZATION, 0.08),
    (CarePhase.ASSESSMENT, 0.07),
    (CarePhase.INSURANCE_VERIFICATION, 0.05),
    (CarePhase.EXTERNAL_CARE, 0.05),
    (CarePhase.AFTERCARE, 0.15),
]
LEVELS = [LevelOfCare.IOP, LevelOfCare.IOP, LevelOfCare.PHP, LevelOfCare.OP]


@asynccontextmanager
async def throwaway_schema(dsn: str, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """A migrated pool on a fresh schema that is dropped on exit."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(dsn)
    await admin.execute(f'CREATE SCHEMA "{name}"')
    pool = await asyncpg.create_pool(
        dsn, min_size=2, max_size=max_size, server_settings={"search_path": name}
    )
    try:
        await migrate(pool)
        yield pool
    finally:
        await pool.close()
        await admin.execute(f'DROP SCHEMA "{name}" CASCADE')
        await admin.close()


def _write_batch(i: int) -> EffectBatch:
    at = NOW + timedelta(seconds=i)
    episode = EpisodeSnapshot(
        episode_id=f"w{i % 500}",
        program_id=PROGRAMS[i % len(PROGRAMS)],
        phase=CarePhase.IN_TREATMENT,
        outcome=None,
        level_authorized=LevelOfCare.IOP,
        level_delivered=LevelOfCare.IOP,
        started_at=NOW,
        closed_at=None,
        next_review_due=at + timedelta(days=7),
        risk_flag=False,
        baseline_phq9=15,
        latest_phq9=12,
        updated_at=at,
    )
    step = TransitionRecord(
        from_phase=CarePhase.IN_TREATMENT,
        to_phase=CarePhase.IN_TREATMENT,
        event=Event.REVIEW_RECORDED.value,
        reason="review_recorded",
        actor="clinician:bench",
        at=at,
        level_delivered=LevelOfCare.IOP,
    )
    return EffectBatch(
        workflow_id=f"care-episode-w{i % 500}",
        run_id="run",
        seq=i,
        episode=episode,
        transitions=[step],
    )


async def measure_write_rate(pool: asyncpg.Pool, count: int = 3000, workers: int = 8) -> float:
    """Batches (episode upsert + one transition, each applied twice) written per second."""
    store = PostgresRecordStore(pool)
    batches = [_write_batch(i) for i in range(count)]
    queue = iter(batches)

    async def worker() -> None:
        for b in queue:
            await store.apply(b)
            await store.apply(b)  # the retry a crashed activity would make: writes nothing

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - started
    written = await pool.fetchval("SELECT count(*) FROM transitions")
    if written != count:
        raise AssertionError(f"idempotency broken: {written} transitions for {count} batches")
    return count / elapsed


def _dataset(episodes: int, seed: int = 7) -> dict[str, list[tuple[Any, ...]]]:
    rnd = random.Random(seed)
    phases, weights = zip(*OPEN_PHASES, strict=True)
    ep_rows: list[tuple[Any, ...]] = []
    tr_rows: list[tuple[Any, ...]] = []
    rv_rows: list[tuple[Any, ...]] = []
    au_rows: list[tuple[Any, ...]] = []
    for n in range(episodes):
        eid = f"e{n:06d}"
        wid = f"care-episode-{eid}"
        program = PROGRAMS[n % len(PROGRAMS)]
        started = NOW - timedelta(days=rnd.uniform(1, 365))
        closed = rnd.random() < 0.3
        phase = CarePhase.CLOSED if closed else rnd.choices(phases, weights)[0]
        level = rnd.choice(LEVELS) if phase != CarePhase.ASSESSMENT else None
        due = None
        if phase == CarePhase.IN_TREATMENT:
            due = NOW + timedelta(hours=rnd.uniform(-72, 14 * 24))
        closed_at = started + timedelta(days=rnd.uniform(20, 90)) if closed else None
        baseline = rnd.randint(8, 27)
        latest = min(27, max(0, baseline - rnd.randint(-3, 15)))
        updated = closed_at or started + timedelta(days=1)
        ep_rows.append(
            (
                eid,
                wid,
                program,
                phase.value,
                "completed" if closed else None,
                level and level.value,
                level and level.value,
                started,
                closed_at,
                due,
                rnd.random() < 0.05,
                baseline,
                latest,
                updated,
                10,
            )
        )
        at = started
        for seq in range(rnd.randint(3, 9)):
            at += timedelta(days=rnd.uniform(0.5, 7))
            lv = rnd.choice(LEVELS).value
            tr_rows.append(
                (
                    eid,
                    wid,
                    seq,
                    0,
                    "run",
                    "in_treatment",
                    "in_treatment",
                    "review_recorded",
                    "review_recorded",
                    "clinician:c",
                    at,
                    lv,
                    lv,
                )
            )
            if seq % 2 == 0:
                rv_rows.append(
                    (
                        eid,
                        wid,
                        seq,
                        0,
                        f"r{n}-{seq}",
                        "review",
                        "c",
                        at,
                        lv,
                        rnd.randint(0, 27),
                        0,
                        rnd.randint(0, 21),
                        9.0,
                        3,
                    )
                )
        end = (NOW + timedelta(days=rnd.randint(-10, 60))).date()
        au_rows.append(
            (
                eid,
                f"A-{n}",
                "payer",
                LevelOfCare.IOP.value,
                "approved",
                "days",
                20,
                5,
                end - timedelta(days=28),
                end,
                NOW,
            )
        )
    return {
        "episodes": ep_rows,
        "transitions": tr_rows,
        "reviews": rv_rows,
        "authorizations": au_rows,
    }


_COLUMNS = {
    "episodes": [
        "episode_id",
        "workflow_id",
        "program_id",
        "phase",
        "outcome",
        "level_authorized",
        "level_delivered",
        "started_at",
        "closed_at",
        "next_review_due",
        "risk_flag",
        "baseline_phq9",
        "latest_phq9",
        "updated_at",
        "last_seq",
    ],
    "transitions": [
        "episode_id",
        "workflow_id",
        "seq",
        "ordinal",
        "run_id",
        "from_phase",
        "to_phase",
        "event",
        "reason",
        "actor",
        "at",
        "level_delivered",
        "level_authorized",
    ],
    "reviews": [
        "episode_id",
        "workflow_id",
        "seq",
        "ordinal",
        "review_id",
        "kind",
        "clinician_id",
        "at",
        "level",
        "phq9_total",
        "phq9_item9",
        "gad7_total",
        "hours_attended",
        "units_attended",
    ],
    "authorizations": [
        "episode_id",
        "authorization_number",
        "payer_id",
        "level",
        "status",
        "unit_type",
        "units_approved",
        "units_used",
        "start_date",
        "end_date",
        "recorded_at",
    ],
}


async def bulk_load(pool: asyncpg.Pool, episodes: int) -> dict[str, int]:
    """COPY a synthetic data set in, then ANALYZE; returns the row count per table."""
    data = await asyncio.to_thread(_dataset, episodes)
    async with pool.acquire() as conn:
        for table in ("episodes", "transitions", "reviews", "authorizations"):
            await conn.copy_records_to_table(table, records=data[table], columns=_COLUMNS[table])
        await conn.execute("VACUUM ANALYZE")  # the steady state autovacuum keeps
        await check_census(conn)
    return {table: len(rows) for table, rows in data.items()}


async def check_census(db: Db) -> None:
    """The trigger-kept census (COPY fires the triggers too) equals the GROUP BY it replaces."""
    counted = [(r.program_id, r.level, r.phase, r.episodes) for r in await queries.census(db)]
    grouped = [
        (r["program_id"], r["level"] and LevelOfCare(r["level"]), CarePhase(r["phase"]), r["n"])
        for r in await db.fetch(
            "SELECT program_id, level_delivered AS level, phase, count(*)::int AS n"
            " FROM episodes WHERE phase <> 'closed' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        )
    ]
    if counted != grouped:
        raise AssertionError("census_counts disagrees with GROUP BY over episodes")


async def p99_ms(run: Callable[[int], Awaitable[object]], samples: int = 300) -> float:
    """The 99th percentile latency of `run(i)` in milliseconds, after a short warm-up."""
    for i in range(10):
        await run(i)
    timings = []
    for i in range(samples):
        started = time.perf_counter()
        await run(i)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(timings, n=100)[98]


async def read_latencies(pool: asyncpg.Pool, episodes: int) -> dict[str, float]:
    rnd = random.Random(11)
    picks = [f"e{rnd.randrange(episodes):06d}" for _ in range(400)]
    # The bulk load just left a million Python tuples behind; collect them now so their
    # garbage collection is not timed as query latency.
    gc.collect()
    return {
        "census_p99_ms_100k": await p99_ms(lambda _i: queries.census(pool)),
        "overdue_query_p99_ms_100k": await p99_ms(
            lambda i: queries.reviews_due(pool, now=NOW, programs=[PROGRAMS[i % len(PROGRAMS)]])
        ),
        "timeline_p99_ms_100k": await p99_ms(lambda i: queries.timeline(pool, picks[i])),
    }


async def run_store_bench(dsn: str, *, episodes: int = 100_000) -> dict[str, float]:
    """`store_transitions_per_s` and the three read p99s over `episodes` loaded episodes."""
    async with throwaway_schema(dsn) as pool:
        rate = await measure_write_rate(pool)
    async with throwaway_schema(dsn) as pool:
        await bulk_load(pool, episodes)
        reads = await read_latencies(pool, episodes)
        # The outcomes report on the same 100k episodes, after the reads above were timed.
        from bench.outcomes_bench import outcomes_figures

        outcomes = await outcomes_figures(pool)
    return {
        "store_transitions_per_s": round(rate, 1),
        **{k: round(v, 2) for k, v in reads.items()},
        **outcomes,
    }


async def _main() -> None:
    import json

    from tests.pg import scratch_database

    with scratch_database("carepath-bench-") as dsn:
        print(json.dumps(await run_store_bench(dsn)))


if __name__ == "__main__":
    asyncio.run(_main())


def _explained() -> dict[str, tuple[str, list[object]]]:
    """The benchmarked reads with sample arguments, as EXPLAIN sees them."""
    return {
        "census": (
            "SELECT program_id, level, phase, episodes FROM census_counts"
            " WHERE episodes > 0 AND ($1::text[] IS NULL OR program_id = ANY($1))"
            " ORDER BY program_id, level = '', level, phase",
            [None],
        ),
        "census_group_by": (
            "SELECT program_id, level_delivered, phase, count(*) FROM episodes"
            " WHERE phase <> 'closed' GROUP BY 1, 2, 3",
            [],
        ),
        "overdue": (
            "SELECT episode_id FROM episodes WHERE phase <> 'closed'"
            " AND next_review_due < $2 AND program_id = ANY($1)"
            " ORDER BY next_review_due, episode_id",
            [[PROGRAMS[5]], NOW + timedelta(days=1)],
        ),
        "timeline_transitions": (
            "SELECT * FROM transitions WHERE episode_id = $1 ORDER BY at, seq, ordinal",
            ["e004242"],
        ),
        "timeline_reviews": (
            "SELECT * FROM reviews WHERE episode_id = $1 ORDER BY at, seq, ordinal",
            ["e004242"],
        ),
    }


async def explain_plans(pool: asyncpg.Pool) -> dict[str, str]:
    """EXPLAIN ANALYZE of the benchmarked reads (the evidence for the index choices)."""
    plans = {}
    for name, (sql, args) in _explained().items():
        rows = await pool.fetch(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}", *args)
        plans[name] = "\n".join(r[0] for r in rows)
    return plans
