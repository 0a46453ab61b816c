"""Outcomes figures for `make bench`, on the store bench's 100,000 loaded episodes.

`outcomes_report_ms_100k`: the program report as JSON (the one aggregate query, the
figures, the JSON text) for ONE program holding all 100,000 episodes (the store bench
spreads them over 100 programs: they are moved into one after the store's own reads were
timed), median of 3
over a 366-day period that covers every episode. `packet_pdf_ms`: one concurrent-review
packet rendered to PDF (WeasyPrint), median of 5. `python -m bench.outcomes_bench` runs
the load, both figures, the census p99 of the same run and EXPLAIN ANALYZE of the report's
query (for BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from bench.store_bench import NOW
from rules.outcome_policy import OutcomePolicy
from schemas.review_packet import (
    PART2_NOTICE,
    AttendanceWeek,
    ClinicianDecision,
    CssrsLine,
    EngineRecommendation,
    PacketAuthorization,
    ReviewPacket,
    ScoreLine,
)
from store.outcomes_report import (
    REPORT_SQL,
    bind,
    program_report,
    report_parameters,
    report_settings,
)

PROGRAM = "bench-outcomes"


def _period() -> tuple[date, date]:
    last = NOW.date()
    return last - timedelta(days=365), last


async def report_ms(pool: asyncpg.Pool, runs: int = 3) -> float:
    first, last = _period()
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        report = await program_report(
            pool, PROGRAM, first, last, as_of=NOW, policy=OutcomePolicy(), substance_use=True
        )
        report.model_dump_json()
        timings.append((time.perf_counter() - started) * 1000)
    if report.episodes_started.value == 0:
        raise AssertionError("the outcomes bench read no episode")
    return statistics.median(timings)


def sample_packet() -> ReviewPacket:
    def at(day: int) -> datetime:
        return datetime(2026, 5, day, 9, tzinfo=UTC)

    return ReviewPacket(
        packet_id="0" * 32,
        episode_id="bench-episode",
        program_id="bench",
        requested_at=at(27),
        part2_program=True,
        part2_notice=PART2_NOTICE,
        patient=None,
        delivered_level="iop",
        authorized_level="iop",
        level_since=at(2),
        episode_started_at=at(1),
        authorization=PacketAuthorization(
            authorization_number="A-1",
            payer_id="P",
            level="iop",
            status="concurrent_review_requested",
            unit_type="days",
            units_approved=20,
            units_used=17,
            units_left=3,
            start_date=date(2026, 5, 2),
            end_date=date(2026, 6, 30),
        ),
        attendance_by_week=[
            AttendanceWeek(
                week_of=date(2026, 5, 4 + 7 * w),
                sessions_attended=4,
                sessions_missed=w % 2,
                hours_attended=12.0,
            )
            for w in range(4)
        ],
        scores=[
            ScoreLine(at=at(1 + 7 * w), phq9_total=19 - 2 * w, phq9_item9=0, gad7_total=14 - w)
            for w in range(4)
        ],
        cssrs=[
            CssrsLine(
                at=at(1),
                risk="low",
                high_risk=False,
                behaviour_past_3_months=False,
                answers=[False] * 6,
            )
        ],
        latest_decision=ClinicianDecision(
            at=at(22), clinician_id="clin-1", decision="continue", rationale="plan in progress"
        ),
        recommendation=EngineRecommendation(
            at=at(22), recommended_action="continue", reasons=["improving"]
        ),
    )


def packet_pdf_ms(runs: int = 5) -> float:
    from api.reports.packet import packet_pdf

    packet = sample_packet()
    packet_pdf(packet)  # warm-up: fonts and the layout engine load once
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        packet_pdf(packet)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def into_one_program(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE episodes SET program_id = $1", PROGRAM)
    await pool.execute("ANALYZE episodes")


async def outcomes_figures(pool: asyncpg.Pool) -> dict[str, float]:
    """Both figures, on a pool whose episodes the store bench loaded (and timed first)."""
    await into_one_program(pool)
    figures: dict[str, float] = {"outcomes_report_ms_100k": round(await report_ms(pool), 1)}
    from api.reports.pdf import pdf_unavailable_reason

    if pdf_unavailable_reason() is None:
        figures["packet_pdf_ms"] = round(await asyncio.to_thread(packet_pdf_ms), 1)
    return figures


async def explain_report(pool: asyncpg.Pool) -> str:
    first, last = _period()
    sql, args = bind(
        REPORT_SQL,
        report_parameters(
            PROGRAM, first, last, as_of=NOW, policy=OutcomePolicy(), substance_use=True
        ),
    )
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await report_settings(conn)  # as the report runs it
        rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
    return "\n".join(r[0] for r in rows)


async def _main() -> None:
    import json

    from bench.store_bench import bulk_load, p99_ms, throwaway_schema
    from store import queries
    from tests.pg import scratch_database

    with scratch_database("carepath-bench-outcomes-") as dsn:
        async with throwaway_schema(dsn) as pool:
            await bulk_load(pool, 100_000)
            census = await p99_ms(lambda _: queries.census(pool))
            figures: dict[str, Any] = {"census_p99_ms_100k": round(census, 2)}
            figures.update(await outcomes_figures(pool))
            print(json.dumps(figures))
            print(await explain_report(pool))


if __name__ == "__main__":
    asyncio.run(_main())
