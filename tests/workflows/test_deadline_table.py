"""The deadline table, entry by entry: each entry fired at its due is no longer due at that
instant (its `due` and its `fire` agree), and every entry has a case here, so an entry
added later cannot drift from its own due. Plain engine, no Temporal."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy
from rules.transitions import CarePhase
from schemas.quality import QualityClock
from schemas.submissions import DecisionAction
from schemas.view import AppealView
from tests.workflows.engine_cases import T0, Case
from workflows import clock_windows
from workflows.deadlines import DEADLINES, Deadline
from workflows.engine import EpisodeEngine
from workflows.state import AttendanceTrack, FollowupClock


def enrolled() -> EpisodeEngine:
    case = Case.new()
    case.enrolled(units=20, days=30)
    return case.engine


def awaiting_payer() -> EpisodeEngine:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    case.payer(request)
    assert case.state.pending_payer is not None
    return case.engine


def with_state(**fields: object) -> Callable[[], EpisodeEngine]:
    def build() -> EpisodeEngine:
        engine = enrolled()
        for name, value in fields.items():
            setattr(engine.state, name, value)
        return engine

    return build


def in_aftercare() -> EpisodeEngine:
    case = Case.new()
    case.enrolled()
    case.decide(DecisionAction.DISCHARGE)
    assert case.state.phase is CarePhase.AFTERCARE
    return case.engine


def risk_open() -> EpisodeEngine:
    case = Case.new()
    case.enrolled()
    case.review(12, item9=1)
    assert case.state.risk_raised_at is not None
    return case.engine


def adolescent() -> EpisodeEngine:
    case = Case.new(age_group=AgeGroup.ADOLESCENT, adult_on=date(2026, 6, 1))
    return case.engine


def followup_clock() -> FollowupClock:
    return FollowupClock(
        discharge_date=T0.date(), due_7=T0 + timedelta(days=8), due_30=T0 + timedelta(days=31)
    )


def fuh_clocks() -> list[QualityClock]:
    return clock_windows.fuh_clocks(T0.date(), T0, ProgramPolicy())


# One case per entry: an episode in which that entry is due.
CASES: dict[str, Callable[[], EpisodeEngine]] = {
    "review_chase": enrolled,
    "payer_decision_overdue": awaiting_payer,
    "concurrent_review": enrolled,
    "authorization_lapse": enrolled,
    "followup_v1": with_state(followup_due=T0 + timedelta(days=7)),
    "appeal_decision_overdue": with_state(
        appeal=AppealView(
            level=LevelOfCare.PHP,
            denied_at=T0,
            filed_at=T0,
            decision_due_at=T0 + timedelta(days=30),
        )
    ),
    "appeal_window": with_state(
        appeal=AppealView(level=LevelOfCare.PHP, denied_at=T0),
        appeal_deadline=T0 + timedelta(days=60),
    ),
    "eligibility_retry": with_state(eligibility_retry_at=T0 + timedelta(hours=4)),
    "wait_ends": with_state(waiting_until=T0 + timedelta(days=14)),
    "aftercare_checkins": in_aftercare,
    "risk_escalation": risk_open,
    "risk_alert_unacknowledged": risk_open,
    "followup_7": with_state(followup=followup_clock()),
    "followup_30": with_state(followup=followup_clock()),
    "becomes_adult": adolescent,
    "no_show_followup": with_state(
        attendance=AttendanceTrack(no_show_followup_due=T0 + timedelta(hours=24))
    ),
    "below_minimum_ends": with_state(
        attendance=AttendanceTrack(below_minimum_until=T0 + timedelta(days=5))
    ),
    "quality_clock_alert": with_state(quality_clocks=fuh_clocks()),
    "quality_clock_close": with_state(quality_clocks=fuh_clocks()),
}


def test_every_entry_of_the_table_has_a_case_and_a_unique_name() -> None:
    names = [d.name for d in DEADLINES]
    assert len(names) == len(set(names))
    assert set(names) == set(CASES), "a new deadline needs its case in CASES"


@pytest.mark.parametrize("entry", DEADLINES, ids=lambda d: d.name)
def test_an_entry_fired_at_its_due_is_no_longer_due_at_that_instant(entry: Deadline) -> None:
    engine = CASES[entry.name]()
    when = entry.due(engine)
    assert when is not None, f"{entry.name}: its case should have it due"
    entry.fire(engine, when)
    after = entry.due(engine)
    assert after is None or after > when, f"{entry.name} is still due at {when}"


@pytest.mark.parametrize("entry", DEADLINES, ids=lambda d: d.name)
def test_the_next_wakeup_is_the_earliest_due_and_firing_moves_it(entry: Deadline) -> None:
    engine = CASES[entry.name]()
    dues = [w for d in DEADLINES if (w := d.due(engine)) is not None]
    wake = engine.next_wakeup()
    assert wake == min(dues)
    engine.on_timer(wake)
    later = engine.next_wakeup()
    assert later is None or later > wake


def test_an_older_run_has_none_of_the_newer_entries() -> None:
    engine = with_state(
        attendance=AttendanceTrack(no_show_followup_due=T0 + timedelta(hours=1)),
        engine_version=1,
    )()
    assert engine.next_wakeup() != T0 + timedelta(hours=1)
    engine.on_timer(T0 + timedelta(hours=2))
    assert engine.state.attendance is not None
    assert engine.state.attendance.no_show_followup_due is not None
