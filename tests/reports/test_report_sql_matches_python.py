"""The report's SQL path (store/outcomes_report.py) gives the same report as the Python
computation it replaced (tests/reports/python_report.py): on episodes built for the
measures' edges, with the counts worked out by hand, and on 400 random episodes over
several periods, dates of computation and policies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg
import pytest

from rules.outcome_policy import OutcomePolicy, Window
from store.outcomes_report import program_report
from tests.reports.python_report import python_report
from tests.reports.report_seed import PROGRAM, E, Episode, L, P, random_episodes, write

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


def return_case(eid: str, *visit_days: int, session_day: int | None = None) -> Episode:
    """IOP, inpatient from Jan 20, back on Feb 1 09:00; visits on days after the return."""
    ep = (
        Episode(eid, at(1, 2, year=2026))
        .move(at(1, 2), P.IN_TREATMENT, E.AUTH_APPROVED, L.IOP)
        .move(at(1, 20), P.EXTERNAL_CARE, E.REFER_OUT, L.INPATIENT)
        .move(at(2, 1), P.IN_TREATMENT, E.EXTERNAL_DISCHARGE_NO_AUTH, L.IOP)
    )
    ep.visits = [date(2026, 2, 1) + timedelta(days=d) for d in visit_days]
    if session_day is not None:
        ep.sessions = [later(at(2, 1), session_day)]
    return ep


def iet_case(eid: str, *service_days: int) -> Episode:
    ep = Episode(eid, at(1, 5)).move(at(1, 5), P.ASSESSMENT, E.REFERRAL_RECEIVED)
    ep.sessions = [later(at(1, 5, 10), d) for d in service_days]
    return ep


def edge_episodes() -> list[Episode]:
    down = at(1, 10)
    return [
        # Follow-up windows at their edges (6 months: days 122-242; DRR-E: 120-240).
        followup_case("fu-in-first", (122, 3)),  # 6-month remission met, DRR-E met
        followup_case("fu-before", (121, 3)),  # 6 months lacking; DRR-E met (day 121)
        followup_case("fu-in-last", (242, 3)),  # 6 months met; DRR-E lacking (day 242)
        followup_case("fu-after", (243, 3)),  # 6 months lacking, DRR-E lacking
        followup_case("fu-no-score", (182, None)),  # a review without a PHQ-9: lacking
        followup_case("fu-last-decides", (130, 3), (200, 12)),  # the last score: not met
        # FUH: the return's own day does not count; days 7 / 8 / 30 / 31.
        return_case("fuh-same-day", 0),
        return_case("fuh-day-7", 7),
        return_case("fuh-day-8", 8),
        return_case("fuh-day-30", session_day=30),
        return_case("fuh-day-31", 31),
        # IET (substance use): initiation by day 14, engagement 2 more by 34 days after.
        iet_case("iet-day-14", 14, 20, 48),  # initiated (day 14), engaged (days 20, 48)
        iet_case("iet-day-15", 15, 16, 17),  # not initiated, so not engaged
        iet_case("iet-49", 0, 34, 35),  # initiated day 0; day 35 is day 35 after: one more
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


async def test_edges_by_hand_in_both_paths(edges: asyncpg.Pool) -> None:
    kwargs = {"as_of": AS_OF, "policy": OutcomePolicy(), "substance_use": True}
    sql = await program_report(edges, PROGRAM, FIRST, LAST, **kwargs)  # type: ignore[arg-type]
    python = await python_report(edges, PROGRAM, FIRST, LAST, **kwargs)  # type: ignore[arg-type]
    assert sql.model_dump() == python.model_dump()
    # Met: first, last; lacking: before, after, no-score and the discharged episode
    # (index on Jan 3, no later score in the window); not met: the last score decides.
    assert counts(sql, "remission_6_months") == (2, 7, 4, 0)
    # Met: first (122), before (121), last-decides (130, 200); lacking: the other four.
    assert counts(sql, "drr_e_followup") == (3, 7, 4, 0)
    assert counts(sql, "fuh_7_days") == (1, 5, 0, 0)  # day 7 only
    assert counts(sql, "fuh_30_days") == (3, 5, 0, 0)  # days 7, 8, 30
    # Every edge episode starts in the period; only the three IET ones have services.
    assert counts(sql, "iet_initiation")[0] == 2
    assert counts(sql, "iet_engagement")[0] == 1
    # up-30 met, up-31 not; each return from inpatient to IOP is a step-down, not met.
    assert counts(sql, "step_ups_after_step_down") == (1, 7, 0, 0)
    # The discharge's only later score is on the baseline's day: lacking.
    assert counts(sql, "remission_at_discharge") == (0, 1, 1, 0)


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
        (FIRST, LAST, AS_OF, True),
        (date(2025, 6, 1), date(2026, 5, 31), at(3, 15, 17), True),
        (date(2026, 2, 10), date(2026, 2, 10), at(2, 20), False),
    ]
    nonzero = 0
    for first, last, as_of, substance_use in cases:
        kwargs = {"as_of": as_of, "policy": policy, "substance_use": substance_use}
        sql = await program_report(randomized, PROGRAM, first, last, **kwargs)  # type: ignore[arg-type]
        python = await python_report(randomized, PROGRAM, first, last, **kwargs)  # type: ignore[arg-type]
        assert sql.model_dump() == python.model_dump(), (first, last, as_of)
        nonzero += sum(1 for f in sql.rates().values() if f.denominator)
    # The data exercises the measures: most figures have a denominator in some case.
    assert nonzero >= 15
