"""The report's SQL path (store/outcomes_report.py) gives the same report as the Python
computation it replaced (tests/reports/python_report.py): on episodes built for the
measures' edges, with the counts worked out by hand, and on 400 random episodes over
several periods, dates of computation and policies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from rules.outcome_policy import OutcomePolicy, Window
from schemas.outcomes_report import ProgramReport
from schemas.quality import ClockStatus as S
from schemas.quality import QualityMeasure as Q
from store.outcomes_report import program_report
from tests.reports.python_report import python_report
from tests.reports.report_seed import (
    PROGRAM,
    Clock,
    E,
    Episode,
    L,
    P,
    random_episodes,
    write,
)

FIRST, LAST = date(2026, 1, 1), date(2026, 3, 31)
AS_OF = datetime(2027, 6, 1, 12, tzinfo=UTC)


def at(month: int, day: int, hour: int = 9, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def later(start: datetime, days: int) -> datetime:
    return start + timedelta(days=days)


def followup_case(eid: str, *scores: tuple[int, int | None]) -> Episode:
    """Index PHQ-9 20 on Jan 10, then (days after, total) scores; total None: a review
    without a PHQ-9."""
    ep = Episode(eid, at(1, 10)).move(at(1, 10), P.ASSESSMENT, E.REFERRAL_RECEIVED)
    ep.scores = [(at(1, 10), 20), *((later(at(1, 10), d), t) for d, t in scores)]
    return ep


def clocked(eid: str, *clocks: Clock) -> Episode:
    ep = Episode(eid, at(1, 2)).move(at(1, 2), P.IN_TREATMENT, E.AUTH_APPROVED, L.IOP)
    ep.clocks = list(clocks)
    return ep


def edge_episodes() -> list[Episode]:
    down = at(1, 10)
    fuh7, init, engage = Q.FUH_7, Q.IET_INITIATION, Q.IET_ENGAGEMENT
    jan10 = date(2026, 1, 10)
    return [
        # Follow-up windows at their edges (6 months: days 122-242; DRR-E: 120-240).
        followup_case("fu-in-first", (122, 3)),  # 6-month remission met, DRR-E met
        followup_case("fu-before", (121, 3)),  # 6 months lacking; DRR-E met (day 121)
        followup_case("fu-in-last", (242, 3)),  # 6 months met; DRR-E lacking (day 242)
        followup_case("fu-after", (243, 3)),  # 6 months lacking, DRR-E lacking
        followup_case("fu-no-score", (182, None)),  # a review without a PHQ-9: lacking
        followup_case("fu-last-decides", (130, 3), (200, 12)),  # the last score: not met
        # FUH and IET from the quality clocks, by the clock's state and index day.
        clocked("fuh-met", Clock(fuh7, S.MET, date(2026, 1, 1), 7, date(2026, 1, 5))),
        clocked("fuh-missed", Clock(fuh7, S.MISSED, date(2026, 3, 31), 7)),
        clocked("fuh-open-past", Clock(fuh7, S.OPEN, date(2026, 2, 1), 7)),  # not met
        clocked("fuh-ended", Clock(fuh7, S.ENDED, date(2026, 2, 1), 7)),  # lacking
        clocked("fuh-outside", Clock(fuh7, S.MET, date(2026, 4, 1), 7, date(2026, 4, 2))),
        clocked(
            "iet-engaged",
            Clock(init, S.MET, jan10, 14, date(2026, 1, 12)),
            Clock(engage, S.MET, date(2026, 1, 12), 34, date(2026, 1, 20)),
        ),
        clocked("iet-no-engagement-clock", Clock(init, S.MET, jan10, 14, jan10)),
        clocked("iet-missed", Clock(init, S.MISSED, jan10, 14)),
        # Step-up exactly 30 days after a step-down counts; 30 days + 1 hour does not.
        Episode("up-30", at(1, 2))
        .move(at(1, 2), P.IN_TREATMENT, E.AUTH_APPROVED, L.IOP)
        .move(down, P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, L.OP)
        .move(later(down, 30), P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, L.IOP),
        Episode("up-31", at(1, 2))
        .move(at(1, 2), P.IN_TREATMENT, E.AUTH_APPROVED, L.IOP)
        .move(down, P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, L.OP)
        .move(later(down, 30) + timedelta(hours=1), P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, L.IOP),
        # Ended in the period, last score after the baseline day but not on the same day.
        Episode("dis-same-day", at(1, 3))
        .move(at(1, 3), P.IN_TREATMENT, E.AUTH_APPROVED, L.IOP)
        .move(at(2, 3), P.AFTERCARE, E.DISCHARGE),
    ]


@pytest.fixture
async def edges(pool: asyncpg.Pool) -> asyncpg.Pool:
    episodes = edge_episodes()
    same_day = episodes[-1]
    same_day.scores = [(at(1, 3), 18), (at(1, 3, 15), 2)]  # same day as the baseline
    await write(pool, episodes)
    return pool


def counts(report: object, name: str) -> tuple[int, int, int, int]:
    f = report.rates()[name]  # type: ignore[attr-defined]
    return f.numerator, f.denominator, f.lacking, f.pending


async def both(db: asyncpg.Pool, first: date, last: date, **kwargs: Any) -> ProgramReport:
    """The SQL path's report, after checking the Python computation gives the same."""
    sql = await program_report(db, PROGRAM, first, last, **kwargs)
    tz = kwargs.pop("time_zone", "UTC")
    python = await python_report(db, PROGRAM, first, last, tz=tz, **kwargs)
    assert sql.model_dump() == python.model_dump(), (first, last, kwargs)
    return sql


async def test_edges_by_hand_in_both_paths(edges: asyncpg.Pool) -> None:
    sql = await both(edges, FIRST, LAST, as_of=AS_OF, policy=OutcomePolicy(), substance_use=True)
    # Met: first, last; lacking: before, after, no-score and the discharged episode
    # (index on Jan 3, no later score in the window); not met: the last score decides.
    assert counts(sql, "remission_6_months") == (2, 7, 4, 0)
    # Met: first (122), before (121), last-decides (130, 200); lacking: the other four.
    assert counts(sql, "drr_e_followup") == (3, 7, 4, 0)
    # Jan 1 met; Mar 31 missed; open past its last day: not met; ended: lacking; Apr 1
    # is outside the period.
    assert counts(sql, "fuh_7_days") == (1, 4, 1, 0)
    assert counts(sql, "fuh_30_days") == (0, 0, 0, 0)
    assert counts(sql, "iet_initiation") == (2, 3, 0, 0)
    # Engaged; no engagement clock yet: pending; not initiated: its initiation's status.
    assert counts(sql, "iet_engagement") == (1, 2, 0, 1)
    # up-30 met, up-31 not.
    assert counts(sql, "step_ups_after_step_down") == (1, 2, 0, 0)
    # The discharge's only later score is on the baseline's day: lacking.
    assert counts(sql, "remission_at_discharge") == (0, 1, 1, 0)


async def test_followup_questionnaires_count_and_non_response_lacks(pool: asyncpg.Pool) -> None:
    """Scores answered after the close count in the windows; a recorded non-response is
    lacking while the window is still open (no score can come); no record is pending."""
    answered = followup_case("fu-answered")
    answered.followups = [("6_month", "answered", 3, later(at(1, 10), 180))]
    silent = followup_case("fu-silent")
    silent.followups = [("6_month", "no_response", None, later(at(1, 10), 170))]
    waiting = followup_case("fu-waiting")
    await write(pool, [answered, silent, waiting])
    early = later(at(1, 10), 200)  # inside the 6-month window (days 122-242)
    report = await both(pool, FIRST, LAST, as_of=early, policy=OutcomePolicy(), substance_use=False)
    assert counts(report, "remission_6_months") == (1, 2, 1, 1)
    assert counts(report, "response_6_months") == (1, 2, 1, 1)
    # The 12-month window: no questionnaire yet for any: pending (the 6-month
    # non-response says nothing about 12 months).
    assert counts(report, "remission_12_months") == (0, 0, 0, 3)
    # A follow-up score is never the index: an episode with none above 9 before it
    # stays out of the denominators.
    only_after = Episode("fu-only-after", at(1, 12)).move(
        at(1, 12), P.ASSESSMENT, E.REFERRAL_RECEIVED
    )
    only_after.scores = [(at(1, 12), 4)]
    only_after.followups = [("6_month", "answered", 20, later(at(1, 12), 150))]
    await write(pool, [only_after])
    report = await both(pool, FIRST, LAST, as_of=early, policy=OutcomePolicy(), substance_use=False)
    assert report.remission_6_months.denominator + report.remission_6_months.pending == 3


async def test_days_are_the_programs_local_days(pool: asyncpg.Pool) -> None:
    """A PHQ-9 at 03:00 UTC on Jan 1 is Dec 31 in New York: outside a January period
    there, inside it on UTC days; a move at 02:00 UTC on Apr 1 is Mar 31 there."""
    ep = Episode("tz", at(1, 1, 3)).move(at(1, 1, 3), P.IN_TREATMENT, E.AUTH_APPROVED, L.IOP)
    ep.move(at(1, 20), P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, L.OP)
    ep.move(at(2, 1), P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, L.IOP)
    ep.move(at(4, 1, 2), P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, L.OP)
    ep.scores = [(at(1, 1, 3), 20)]
    await write(pool, [ep])
    policy = OutcomePolicy()
    on_utc = await both(pool, FIRST, LAST, as_of=AS_OF, policy=policy, substance_use=False)
    local = await both(
        pool,
        FIRST,
        LAST,
        as_of=AS_OF,
        policy=policy,
        substance_use=False,
        time_zone="America/New_York",
    )
    assert on_utc.remission_6_months.denominator == 1
    assert local.remission_6_months.denominator == 0
    assert on_utc.episodes_started.value == 1 and local.episodes_started.value == 0
    # Step-downs: Jan 20 on both calendars; Apr 1 02:00 UTC only in New York's March.
    assert on_utc.step_ups_after_step_down.denominator == 1
    assert local.step_ups_after_step_down.denominator == 2
    assert "America/New_York" in local.sources


POLICIES = [
    OutcomePolicy(),
    OutcomePolicy(
        followup_index_above=4,
        remission_below=10,
        response_drop_fraction=0.3,
        remission_6_months=Window(first_day=0, last_day=30),
        drr_e_followup=Window(first_day=1, last_day=7),
        fuh_short_days=1,
        fuh_long_days=8,
        iet_initiation_days=0,
        iet_engagement_days=14,
        iet_engagement_services=1,
        step_up_after_step_down_days=7,
    ),
]


@pytest.fixture
async def randomized(pool: asyncpg.Pool) -> asyncpg.Pool:
    await write(pool, random_episodes(400, seed=13, around=at(1, 1)))
    return pool


@pytest.mark.parametrize("policy", POLICIES, ids=["defaults", "changed"])
async def test_random_program_same_report(randomized: asyncpg.Pool, policy: OutcomePolicy) -> None:
    cases = [
        (FIRST, LAST, AS_OF, True, "UTC"),
        (date(2025, 6, 1), date(2026, 5, 31), at(3, 15, 17), True, "America/New_York"),
        (date(2026, 2, 10), date(2026, 2, 10), at(2, 20), False, "Asia/Kolkata"),
        (FIRST, LAST, at(6, 1, 23), True, "Pacific/Auckland"),
    ]
    nonzero = 0
    for first, last, as_of, substance_use, tz in cases:
        sql = await both(
            randomized,
            first,
            last,
            as_of=as_of,
            policy=policy,
            substance_use=substance_use,
            time_zone=tz,
        )
        nonzero += sum(1 for f in sql.rates().values() if f.denominator)
    # The data exercises the measures: most figures have a denominator in some case.
    assert nonzero >= 15
