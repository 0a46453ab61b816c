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
from store.models import EpisodeFilter, EpisodeKey
from store.postgres import TRANSITION_COLUMNS, PostgresRecordStore

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
        authorized_level=LevelOfCare.IOP,
        delivered_level=LevelOfCare.IOP,
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
        delivered_level=LevelOfCare.IOP,
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
    "transitions": list(TRANSITION_COLUMNS),
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


# ---------------------------------------------------------------- at scale (make bench-scale)

SCALE_PROGRAMS = 1000  # ~1,000 episodes per program at 1,000,000: a network of programs
SCALE_TRANSITIONS = 4  # per episode: its timeline, with SCALE_REVIEWS reviews
SCALE_REVIEWS = 2

# Deterministic pseudo-random spreads from the row number (no Python tuples: 1,000,000
# episodes and their timelines are generated inside PostgreSQL).
_SCALE_EPISODES = """
INSERT INTO episodes (episode_id, workflow_id, program_id, phase, outcome, level_authorized,
    level_delivered, started_at, closed_at, next_review_due, risk_flag, baseline_phq9,
    latest_phq9, updated_at, last_seq)
SELECT 'e' || lpad(n::text, 7, '0'), 'care-episode-e' || lpad(n::text, 7, '0'),
    'prog-' || lpad((n % $2)::text, 4, '0'), p.phase,
    CASE WHEN p.phase = 'closed' THEN 'completed' END, lv.level, lv.level,
    $3::timestamptz - ((n * 104729) % 365) * interval '1 day',
    CASE WHEN p.phase = 'closed'
        THEN $3::timestamptz - ((n * 104729) % 365) * interval '1 day' + interval '60 days' END,
    CASE WHEN p.phase = 'in_treatment'
        THEN $3::timestamptz + ((n * 7919) % 11520 - 1440) * interval '1 minute' END,
    n % 20 = 0, 8 + n % 20, n % 27, $3::timestamptz - interval '1 day', 10
FROM generate_series(0::bigint, $1::bigint - 1) AS n,
LATERAL (SELECT CASE WHEN n % 10 < 3 THEN 'closed' WHEN n % 10 < 8 THEN 'in_treatment'
    WHEN n % 10 = 8 THEN 'aftercare' ELSE 'authorization' END AS phase) AS p,
LATERAL (SELECT (ARRAY['iop', 'iop', 'php', 'op'])[1 + n % 4] AS level) AS lv
"""
_SCALE_TRANSITIONS = """
INSERT INTO transitions (episode_id, workflow_id, seq, ordinal, run_id, from_phase, to_phase,
    event, reason, actor, at, level_delivered, level_authorized)
SELECT e.episode_id, e.workflow_id, s, 0, 'run', 'in_treatment', 'in_treatment',
    'review_recorded', 'review_recorded', 'clinician:c', e.started_at + s * interval '3 days',
    e.level_delivered, e.level_delivered
FROM episodes e, generate_series(1, $1) AS s
"""
_SCALE_REVIEWS = """
INSERT INTO reviews (episode_id, workflow_id, seq, ordinal, review_id, kind, clinician_id, at,
    level, phq9_total, phq9_item9, gad7_total, hours_attended, units_attended)
SELECT e.episode_id, e.workflow_id, 2 * s, 0, 'r-' || e.episode_id || '-' || s, 'review', 'c',
    e.started_at + 2 * s * interval '3 days', e.level_delivered, (s * 7) % 28, 0, (s * 5) % 22,
    9.0, 3
FROM episodes e, generate_series(1, $1) AS s
"""
_SCALE_AUTHORIZATIONS = """
INSERT INTO authorizations (episode_id, authorization_number, payer_id, level, status,
    unit_type, units_approved, units_used, start_date, end_date, recorded_at)
SELECT e.episode_id, 'A-' || e.episode_id, 'payer', 'iop', 'approved', 'days', 20, 5,
    $1::date + (hashtext(e.episode_id) % 70 - 10) - 28,
    $1::date + (hashtext(e.episode_id) % 70 - 10), $2::timestamptz
FROM episodes e
"""


async def scale_load(pool: asyncpg.Pool, episodes: int) -> dict[str, float]:
    """Generate `episodes` episodes with their timelines in PostgreSQL; seconds per step."""
    took: dict[str, float] = {}
    async with pool.acquire() as conn:
        for name, sql, args in (
            ("episodes", _SCALE_EPISODES, [episodes, SCALE_PROGRAMS, NOW]),
            ("transitions", _SCALE_TRANSITIONS, [SCALE_TRANSITIONS]),
            ("reviews", _SCALE_REVIEWS, [SCALE_REVIEWS]),
            ("authorizations", _SCALE_AUTHORIZATIONS, [NOW.date(), NOW]),
        ):
            began = time.perf_counter()
            await conn.execute(sql, *args, timeout=3600)
            took[f"store_scale_load_{name}_s"] = round(time.perf_counter() - began, 1)
        began = time.perf_counter()
        await conn.execute("VACUUM ANALYZE", timeout=3600)
        took["store_scale_vacuum_analyze_s"] = round(time.perf_counter() - began, 1)
    return took


def _scale_program(i: int) -> str:
    return f"prog-{i % SCALE_PROGRAMS:04d}"


# The list's order backwards: each column DESC (`{_LIST_ORDER} DESC` reversed only the
# episode ID, so the "deepest" key was 51 rows from the START of the list until 2026-12-02).
_LIST_ORDER_BACKWARDS = (
    "coalesce(e.next_review_due, 'infinity'::timestamptz) DESC, e.episode_id DESC"
)


async def _deepest_key(pool: asyncpg.Pool, where: EpisodeFilter) -> EpisodeKey:
    """The key just before the list's last page (the deepest a client can page to)."""
    clauses, params = queries._episode_filter(where, now=NOW, tz=UTC)
    condition = " AND ".join(clauses) or "true"
    rows = await pool.fetch(
        f"SELECT next_review_due, episode_id FROM episodes e WHERE {condition}"
        f" ORDER BY {_LIST_ORDER_BACKWARDS} LIMIT 51",
        *params,
    )
    if not rows:
        raise RuntimeError("the list is empty")
    return EpisodeKey(next_review_due=rows[-1][0], episode_id=rows[-1][1])


async def explain_deepest_page(pool: asyncpg.Pool, where: EpisodeFilter, after: EpisodeKey) -> str:
    clauses, params = queries._episode_filter(where, now=NOW, tz=UTC)
    params += [after.next_review_due, after.episode_id]
    n = len(params)
    sql = (
        f"SELECT episode_id FROM episodes e WHERE {' AND '.join(clauses) or 'true'}"
        f" AND ({queries._LIST_ORDER}) > (coalesce(${n - 1}::timestamptz,"
        f" 'infinity'::timestamptz), ${n}::text) ORDER BY {queries._LIST_ORDER} LIMIT 51"
    )
    rows = await pool.fetch(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", *params)
    return "\n".join(r[0] for r in rows)


async def scale_read_latencies(pool: asyncpg.Pool, episodes: int) -> dict[str, Any]:
    rnd = random.Random(11)
    picks = [f"e{rnd.randrange(episodes):07d}" for _ in range(400)]
    gc.collect()
    everyone = EpisodeFilter()
    one = EpisodeFilter(programs=[_scale_program(7)])
    ever = EpisodeFilter(include_closed=True)  # ?include_closed=true: migration 0610
    ever_one = EpisodeFilter(include_closed=True, programs=[_scale_program(7)])
    deepest_all = await _deepest_key(pool, everyone)
    deepest_one = await _deepest_key(pool, one)
    deepest_ever = await _deepest_key(pool, ever)
    deepest_ever_one = await _deepest_key(pool, ever_one)
    figures: dict[str, Any] = {
        "pg_roundtrip_p99_ms": await p99_ms(lambda _: pool.fetchval("SELECT 1")),
        "census_p99_ms_1m": await p99_ms(
            lambda i: queries.census(pool, programs=[_scale_program(i)])
        ),
        "census_all_programs_p99_ms_1m": await p99_ms(lambda _: queries.census(pool), 100),
        "overdue_query_p99_ms_1m": await p99_ms(
            lambda i: queries.reviews_due(pool, now=NOW, programs=[_scale_program(i)])
        ),
        "expiring_authorizations_p99_ms_1m": await p99_ms(
            lambda i: queries.authorizations_expiring(
                pool, today=NOW.date(), within_days=7, programs=[_scale_program(i)]
            )
        ),
        "timeline_p99_ms_1m": await p99_ms(lambda i: queries.timeline(pool, picks[i])),
        "list_first_page_p99_ms_1m": await p99_ms(
            lambda _: queries.list_episodes(pool, everyone, now=NOW, limit=50)
        ),
        "list_first_page_counted_p99_ms_1m": await p99_ms(
            lambda _: queries.list_episodes(pool, everyone, now=NOW, limit=50, count=True), 50
        ),
        "list_next_page_p99_ms_1m": await p99_ms(
            lambda i: queries.list_episodes(
                pool,
                everyone,
                now=NOW,
                limit=50,
                after=EpisodeKey(next_review_due=NOW, episode_id=picks[i]),
            )
        ),
        "list_deepest_page_p99_ms_1m": await p99_ms(
            lambda _: queries.list_episodes(pool, everyone, now=NOW, limit=50, after=deepest_all)
        ),
        "list_deepest_page_one_program_p99_ms_1m": await p99_ms(
            lambda _: queries.list_episodes(pool, one, now=NOW, limit=50, after=deepest_one)
        ),
        "list_closed_too_first_page_p99_ms_1m": await p99_ms(
            lambda _: queries.list_episodes(pool, ever, now=NOW, limit=50)
        ),
        "list_closed_too_deepest_page_p99_ms_1m": await p99_ms(
            lambda _: queries.list_episodes(pool, ever, now=NOW, limit=50, after=deepest_ever)
        ),
        "list_closed_too_deepest_page_one_program_p99_ms_1m": await p99_ms(
            lambda _: queries.list_episodes(
                pool, ever_one, now=NOW, limit=50, after=deepest_ever_one
            )
        ),
    }
    trivial = figures["pg_roundtrip_p99_ms"]
    for name in (
        "census_p99_ms_1m",
        "overdue_query_p99_ms_1m",
        "expiring_authorizations_p99_ms_1m",
        "timeline_p99_ms_1m",
        "list_next_page_p99_ms_1m",
        "list_deepest_page_p99_ms_1m",
        "list_deepest_page_one_program_p99_ms_1m",
        "list_closed_too_deepest_page_p99_ms_1m",
        "list_closed_too_deepest_page_one_program_p99_ms_1m",
    ):
        figures[name.replace("_p99_ms_1m", "_x_roundtrip")] = round(figures[name] / trivial, 1)
    figures["list_deepest_page_explain"] = await explain_deepest_page(pool, everyone, deepest_all)
    figures["list_closed_too_deepest_page_explain"] = await explain_deepest_page(
        pool, ever, deepest_ever
    )
    return figures


async def measure_retention(pool: asyncpg.Pool, rows: int = 100_000) -> dict[str, float]:
    """Rows the retention pass deletes per second (`rows` of each kind, all past their
    window), with as many young rows beside them that it must keep."""
    from store.retention import RetentionPolicy, purge

    old = NOW - timedelta(days=400)
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO api_idempotency (key_owner, idempotency_key, method, path,
                request_hash, status_code, response_body, created_at, completed_at)
            SELECT 'o', 'k' || n, 'POST', '/v1/x', 'h', 200, '{}'::jsonb,
                CASE WHEN n % 2 = 0 THEN $2::timestamptz ELSE $3::timestamptz END,
                CASE WHEN n % 2 = 0 THEN $2::timestamptz ELSE $3::timestamptz END
            FROM generate_series(1, 2 * $1) AS n
            """,
            rows,
            old,
            NOW,
        )
        await conn.execute(
            """
            INSERT INTO applied_batches (workflow_id, seq, run_id, applied_at)
            SELECT 'care-episode-r' || (n % 5000), n, 'run',
                CASE WHEN n % 2 = 0 THEN $2::timestamptz ELSE $3::timestamptz END
            FROM generate_series(1, 2 * $1) AS n
            """,
            rows,
            old,
            NOW,
        )
        await conn.execute(
            """
            INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id,
                seq, channel, template, recipient_role, urgency, status, created_at,
                next_attempt_at, sent_at)
            SELECT 'm' || n, 'ep', 'p', 'care-episode-ep', n, 'webhook', 'review_due',
                'care_team', 'routine', 'sent', t, t, t
            FROM generate_series(1, 2 * $1) AS n,
            LATERAL (SELECT CASE WHEN n % 2 = 0 THEN $2::timestamptz
                ELSE $3::timestamptz END AS t) AS at
            """,
            rows,
            old,
            NOW,
        )
        await conn.execute("VACUUM ANALYZE")
    began = time.perf_counter()
    deleted = await purge(pool, RetentionPolicy(), now=NOW)
    elapsed = time.perf_counter() - began
    if set(deleted.values()) != {rows}:
        raise AssertionError(f"retention deleted {deleted}, expected {rows} of each")
    return {
        "retention_rows_per_s": round(3 * rows / elapsed, 1),
        "retention_pass_s_per_100k_rows": round(elapsed / 3 * 100_000 / rows, 2),
    }


async def run_scale_store_bench(dsn: str, *, episodes: int = 1_000_000) -> dict[str, Any]:
    """Reads at `episodes` episodes (generated in PostgreSQL) beside the trivial round trip
    of the same run, the deepest page's plan, and the retention pass's rate."""
    figures: dict[str, Any] = {"store_scale_episodes": episodes}
    async with throwaway_schema(dsn) as pool:
        figures |= await scale_load(pool, episodes)
        figures |= await scale_read_latencies(pool, episodes)
        figures["store_scale_database_mib"] = round(
            await pool.fetchval(
                "SELECT sum(pg_total_relation_size(c.oid))::float8 FROM pg_class c"
                " JOIN pg_namespace s ON s.oid = c.relnamespace"
                " WHERE s.nspname = current_schema() AND c.relkind = 'r'"
            )
            / 2**20,
            1,
        )
    async with throwaway_schema(dsn) as pool:
        figures |= await measure_retention(pool)
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
