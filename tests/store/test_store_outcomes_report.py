"""The program report on a small seeded program, every number worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg
import pytest

from rules.levels import LevelOfCare
from rules.outcome_policy import OutcomePolicy
from rules.transitions import CarePhase, Event
from schemas.quality import ClockStatus as S
from schemas.quality import QualityMeasure as Q
from store.outcomes_report import program_report
from store.postgres import PostgresRecordStore
from tests.reports.report_seed import Clock, insert_clocks
from tests.store.store_builders import batch, move, review, snapshot

P = CarePhase
E = Event
L = LevelOfCare
FIRST, LAST = date(2026, 1, 1), date(2026, 3, 31)
AS_OF = datetime(2027, 6, 1, 12, tzinfo=UTC)


def d(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 9, tzinfo=UTC)


async def _attend(pool: asyncpg.Pool, episode_id: str, *days: datetime) -> None:
    await pool.execute(
        """INSERT INTO care_groups (group_id, program_id, name, level, weekdays, start_time,
            duration_minutes, modality, capacity, facilitator_ref, time_zone, created_at)
        VALUES ('g1', 'prog-r', 'Group', 'iop', '{1,2,3,4,5}', '09:00', 180, 'in_person', 12,
            'f1', 'UTC', now()) ON CONFLICT DO NOTHING"""
    )
    for day in days:
        session = f"s-{day.date().isoformat()}"
        await pool.execute(
            """INSERT INTO group_sessions (session_id, group_id, session_date, starts_at,
                duration_minutes, modality, kind) VALUES ($1, 'g1', $2, $3, 180, 'in_person',
                'scheduled') ON CONFLICT DO NOTHING""",
            session,
            day.date(),
            day,
        )
        await pool.execute(
            """INSERT INTO attendance (session_id, episode_id, status, minutes, modality,
                recorded_by, recorded_at) VALUES ($1, $2, 'attended', 180, 'in_person', 'c1',
                $3)""",
            session,
            episode_id,
            day,
        )


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> asyncpg.Pool:
    store = PostgresRecordStore(pool)
    seq = iter(range(1, 1000))

    async def write(eid: str, started: datetime, moves: list[object], **parts: object) -> None:
        closed = parts.pop("closed_at", None)
        program = parts.pop("program_id", "prog-r")
        ep = snapshot(
            eid, program_id=program, started_at=started, closed_at=closed, updated_at=started
        )
        await store.apply(batch(next(seq), ep, transitions=moves, **parts))

    # e1: IOP 28 days, step-down to OP for 14 days, discharged; PHQ-9 18 -> 8 -> 4 at 6 mo.
    await write(
        "e1",
        d(1, 5),
        [
            move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, d(1, 5)),
            move(P.ASSESSMENT, P.AUTHORIZATION, E.ASSESSED_PROGRAM_LEVEL, d(1, 6)),
            move(P.AUTHORIZATION, P.IN_TREATMENT, E.AUTH_APPROVED, d(1, 8), L.IOP),
            move(P.IN_TREATMENT, P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, d(2, 5), L.OP),
            move(P.IN_TREATMENT, P.AFTERCARE, E.DISCHARGE, d(2, 19)),
        ],
        reviews=[review("r1", d(1, 6), 18), review("r2", d(2, 19), 8), review("r3", d(7, 10), 4)],
    )
    # e2: PHP 8 days, IOP 12, back to PHP (a step-up 12 days after the step-down) for 9
    # days, then withdrew; only the baseline PHQ-9; IET services on Jan 15, 20, 25.
    await write(
        "e2",
        d(1, 10),
        [
            move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, d(1, 10)),
            move(P.AUTHORIZATION, P.IN_TREATMENT, E.AUTH_APPROVED, d(1, 12), L.PHP),
            move(P.IN_TREATMENT, P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, d(1, 20), L.IOP),
            move(P.IN_TREATMENT, P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, d(2, 1), L.PHP),
            move(P.IN_TREATMENT, P.AFTERCARE, E.WITHDRAWN, d(2, 10)),
        ],
        reviews=[review("r1", d(1, 10), 20)],
    )
    await _attend(pool, "e2", d(1, 15), d(1, 20), d(1, 25))
    # e3: entered in error: counted as started / ended / an ending, in nothing else.
    await write(
        "e3",
        d(2, 1),
        [
            move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, d(2, 1)),
            move(P.ASSESSMENT, P.CLOSED, E.ENTERED_IN_ERROR, d(2, 2)),
        ],
        reviews=[review("r1", d(2, 1), 15)],
        closed_at=d(2, 2),
    )
    # e4: started before the period; inpatient Jan 15 - Feb 1; visits on Feb 1 (the day
    # of the return: does not count) and Feb 10 (day 9: FUH 30 met, FUH 7 not).
    await write(
        "e4",
        d(12, 1, 2025),
        [
            move(P.AUTHORIZATION, P.IN_TREATMENT, E.AUTH_APPROVED, d(12, 3, 2025), L.IOP),
            move(P.IN_TREATMENT, P.EXTERNAL_CARE, E.REFER_OUT, d(1, 15), L.INPATIENT),
            move(P.EXTERNAL_CARE, P.IN_TREATMENT, E.EXTERNAL_DISCHARGE_NO_AUTH, d(2, 1), L.IOP),
        ],
    )
    await _attend(pool, "e4", d(2, 1), d(2, 10))
    # The engine's quality clocks for those services (the report reads these for FUH and
    # IET): e4's 7-day window missed, its 30-day met on Feb 10; e2 initiated on Jan 15 and
    # engaged; e1 (no service) missed initiation.
    await insert_clocks(
        pool,
        "prog-r",
        [
            ("e4", Clock(Q.FUH_7, S.MISSED, date(2026, 2, 1), 7)),
            ("e4", Clock(Q.FUH_30, S.MET, date(2026, 2, 1), 30, date(2026, 2, 10))),
            ("e2", Clock(Q.IET_INITIATION, S.MET, date(2026, 1, 10), 14, date(2026, 1, 15))),
            ("e2", Clock(Q.IET_ENGAGEMENT, S.MET, date(2026, 1, 15), 34, date(2026, 1, 25))),
            ("e1", Clock(Q.IET_INITIATION, S.MISSED, date(2026, 1, 5), 14)),
        ],
    )
    # Outside the report: another program, and an episode closed before the period.
    await write(
        "other",
        d(1, 7),
        [move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, d(1, 7))],
        program_id="prog-x",
    )
    await write(
        "old",
        d(6, 1, 2025),
        [
            move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, d(6, 1, 2025)),
            move(P.ASSESSMENT, P.CLOSED, E.ASSESSED_EXTERNAL_CLOSE, d(6, 2, 2025)),
        ],
        closed_at=d(6, 2, 2025),
    )
    return pool


async def test_program_report_figures(seeded: asyncpg.Pool) -> None:
    report = await program_report(
        seeded, "prog-r", FIRST, LAST, as_of=AS_OF, policy=OutcomePolicy(), substance_use=True
    )
    assert report.episodes_started.value == 3
    assert report.episodes_ended.value == 3
    assert report.endings.counts["completed"] == 1
    assert report.endings.counts["against_advice"] == 1
    assert report.endings.counts["entered_in_error"] == 1
    assert report.endings.counts["stepped_up"] == 0
    iop = report.length_of_stay.levels["iop"]
    assert (iop.episodes, iop.median_days, iop.q1_days, iop.q3_days) == (2, 20.0, 16.0, 24.0)
    assert report.length_of_stay.levels["op"].median_days == 14.0
    assert report.length_of_stay.levels["php"].median_days == 17.0

    def rate(name: str) -> tuple[int, int, int, int]:
        f = report.rates()[name]
        return f.numerator, f.denominator, f.lacking, f.pending

    assert rate("response_at_discharge") == (1, 2, 1, 0)
    assert rate("remission_at_discharge") == (0, 2, 1, 0)
    assert rate("remission_6_months") == (1, 2, 1, 0)
    assert rate("response_6_months") == (1, 2, 1, 0)
    assert rate("remission_12_months") == (0, 2, 2, 0)
    assert rate("drr_e_followup") == (1, 2, 1, 0)
    # Step-downs in the period: e1 Feb 5 (no step-up), e2 Jan 20 (up Feb 1), e4 Feb 1.
    assert rate("step_ups_after_step_down") == (1, 3, 0, 0)
    assert rate("fuh_7_days") == (0, 1, 0, 0)
    assert rate("fuh_30_days") == (1, 1, 0, 0)
    assert rate("iet_initiation") == (1, 2, 0, 0)
    assert rate("iet_engagement") == (1, 2, 0, 0)
    assert report.rates()["remission_6_months"].rate == 0.5
    assert all(f.method for f in report.rates().values())
    assert "day itself does not count" in report.fuh_7_days.method


async def test_open_windows_are_pending_and_iet_only_for_substance_use(
    seeded: asyncpg.Pool,
) -> None:
    early = datetime(2026, 3, 1, tzinfo=UTC)
    report = await program_report(
        seeded, "prog-r", FIRST, LAST, as_of=early, policy=OutcomePolicy(), substance_use=False
    )
    f = report.remission_12_months
    assert (f.numerator, f.denominator, f.pending) == (0, 0, 2)
    assert report.iet_initiation is None
    empty = await program_report(
        seeded, "nobody", FIRST, LAST, as_of=AS_OF, policy=OutcomePolicy(), substance_use=False
    )
    assert empty.episodes_started.value == 0
    assert empty.response_at_discharge.rate is None
