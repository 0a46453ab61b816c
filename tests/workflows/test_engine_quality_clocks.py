"""Live quality clocks (engine V3), without Temporal: HEDIS FUH after an inpatient stay,
HEDIS IET for a substance-use program; started, counted, alerted, missed, recorded."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from rules.levels import LevelOfCare as L
from rules.policy import ProgramPolicy
from rules.transitions import Action
from schemas.attendance import AttendanceNotice, AttendanceNoticeKind
from schemas.quality import ClockStatus, QualityClock, QualityMeasure
from schemas.submissions import EpisodeEventKind
from tests.workflows.safety_cases import NOW, assess, enrolled, event, new_engine, run_timers, sent
from workflows.engine import EpisodeEngine
from workflows.engine_core import InvalidSubmission
from workflows.state import ENGINE_V2, ENGINE_V3

M = QualityMeasure
DAY0 = NOW.date()


def from_inpatient(
    version: int = ENGINE_V3, back_to: L | None = L.IOP, policy: ProgramPolicy | None = None
) -> EpisodeEngine:
    """Assessed for inpatient, admitted, discharged back to the program (or home) at NOW."""
    engine = new_engine(policy, version=version)
    assess(engine, L.INPATIENT)
    event(engine, EpisodeEventKind.ADMITTED)
    event(engine, EpisodeEventKind.DISCHARGED, level_at_discharge=back_to)
    return engine


def clock(engine: EpisodeEngine, measure: QualityMeasure) -> QualityClock:
    [found] = [c for c in engine.state.quality_clocks if c.measure is measure]
    return found


def records(engine: EpisodeEngine, measure: QualityMeasure) -> list[QualityClock]:
    batch = engine.take_batch("run-1")
    found = batch.quality_clocks if batch else []
    return [c for c in found if c.measure is measure]


def visit(engine: EpisodeEngine, day: date, at: datetime | None = None) -> None:
    event(
        engine,
        EpisodeEventKind.FOLLOWUP_VISIT,
        at=at or datetime.combine(day, NOW.timetz()),
        visit_date=day,
        visit_kind="outpatient",
    )


def attended(engine: EpisodeEngine, day: date) -> None:
    notice = AttendanceNotice(
        notice_id=f"at.{day.isoformat()}",
        kind=AttendanceNoticeKind.ATTENDED,
        recorded_by="clin-1",
        session_id=f"grp-1.{day.isoformat()}",
        session_date=day,
    )
    engine.validate(Action.RECORD_ATTENDANCE, notice)
    engine.answer(Action.RECORD_ATTENDANCE, notice, datetime.combine(day, NOW.timetz()))


def test_the_7_and_30_day_clocks_start_at_the_discharge_from_inpatient_and_are_recorded() -> None:
    engine = from_inpatient()
    fuh7, fuh30 = clock(engine, M.FUH_7), clock(engine, M.FUH_30)
    assert (fuh7.index_date, fuh7.first_day, fuh7.last_day) == (
        DAY0,
        DAY0 + timedelta(days=1),
        DAY0 + timedelta(days=7),
    )
    assert fuh30.last_day == DAY0 + timedelta(days=30)
    assert fuh7.status is ClockStatus.OPEN and fuh7.closes_at == datetime.combine(
        DAY0 + timedelta(days=8), datetime.min.time(), tzinfo=NOW.tzinfo
    )
    batch = engine.take_batch("run-1")
    assert batch is not None
    assert {c.clock_id for c in batch.quality_clocks} == {
        f"fuh_7:{DAY0.isoformat()}",
        f"fuh_30:{DAY0.isoformat()}",
    }
    # The next wake-up is no later than the alert before the 7-day window closes.
    wake = engine.next_wakeup()
    assert wake is not None and fuh7.alert_at is not None and wake <= fuh7.alert_at


def test_a_visit_in_the_window_stops_both_clocks_and_is_recorded_as_met() -> None:
    engine = from_inpatient()
    engine.take_batch("run-1")
    day3 = DAY0 + timedelta(days=3)
    visit(engine, day3)
    assert clock(engine, M.FUH_7).status is ClockStatus.MET
    assert clock(engine, M.FUH_7).met_on == day3
    batch = engine.take_batch("run-1")
    assert batch is not None
    assert {(c.measure, c.status, c.met_on) for c in batch.quality_clocks} == {
        (M.FUH_7, ClockStatus.MET, day3),
        (M.FUH_30, ClockStatus.MET, day3),
    }
    run_timers(engine, NOW + timedelta(days=40))
    assert not sent(engine, "quality_window_closing")
    assert clock(engine, M.FUH_30).status is ClockStatus.MET


def test_an_attended_session_in_the_window_counts_as_the_visit() -> None:
    engine = from_inpatient(back_to=L.OP)  # back in treatment at once (no authorization)
    attended(engine, DAY0 + timedelta(days=2))
    assert clock(engine, M.FUH_7).status is ClockStatus.MET
    assert clock(engine, M.FUH_30).status is ClockStatus.MET


def test_a_visit_on_the_discharge_day_does_not_count() -> None:
    engine = from_inpatient(back_to=L.OP)
    visit(engine, DAY0, at=NOW + timedelta(hours=2))
    attended(engine, DAY0)
    assert clock(engine, M.FUH_7).status is ClockStatus.OPEN
    assert clock(engine, M.FUH_7).service_days == []
    assert clock(engine, M.FUH_30).status is ClockStatus.OPEN


def test_the_care_team_is_alerted_at_the_lead_time_before_a_window_closes() -> None:
    engine = from_inpatient(policy=ProgramPolicy(quality_alert_lead_days=2))
    engine.take_batch("run-1")
    fuh7 = clock(engine, M.FUH_7)
    # Two local days left (days 6 and 7): the alert goes out at the start of day 6.
    assert fuh7.alert_at == datetime.combine(
        DAY0 + timedelta(days=6), datetime.min.time(), tzinfo=NOW.tzinfo
    )
    run_timers(engine, fuh7.alert_at - timedelta(minutes=1))
    assert not sent(engine, "quality_window_closing")
    run_timers(engine, fuh7.alert_at)
    [alert] = sent(engine, "quality_window_closing")
    assert alert.params == {"measure": "fuh_7", "last_day": fuh7.last_day.isoformat()}
    assert alert.urgency.value == "urgent"
    assert [c.alerted_at for c in records(engine, M.FUH_7)] == [fuh7.alert_at]


def test_a_window_that_closes_unmet_is_recorded_as_missed_and_the_later_one_still_counts() -> None:
    engine = from_inpatient()
    engine.take_batch("run-1")
    fuh7 = clock(engine, M.FUH_7)
    run_timers(engine, fuh7.closes_at)
    assert fuh7.status is ClockStatus.MISSED and fuh7.closed_at == fuh7.closes_at
    [missed] = [c for c in records(engine, M.FUH_7) if c.status is ClockStatus.MISSED]
    assert missed.met_on is None
    day12 = DAY0 + timedelta(days=12)
    visit(engine, day12)
    assert clock(engine, M.FUH_30).met_on == day12
    assert fuh7.status is ClockStatus.MISSED


def test_no_visit_in_30_days_records_both_missed_and_the_view_shows_them() -> None:
    engine = from_inpatient()
    run_timers(engine, NOW + timedelta(days=32))
    view = engine.view(NOW + timedelta(days=32))
    assert {(c.measure, c.status) for c in view.quality_clocks} == {
        (M.FUH_7, ClockStatus.MISSED),
        (M.FUH_30, ClockStatus.MISSED),
    }
    assert all(c.days_left is None for c in view.quality_clocks)


def test_the_view_shows_open_clocks_with_days_left() -> None:
    engine = from_inpatient()
    view = engine.view(NOW + timedelta(days=2))
    left = {c.measure: c.days_left for c in view.quality_clocks}
    assert left == {M.FUH_7: 5, M.FUH_30: 28}


def test_engine_v2_runs_keep_no_quality_clocks() -> None:
    engine = from_inpatient(version=ENGINE_V2, back_to=L.OP)
    assert engine.state.quality_clocks == []
    batch = engine.take_batch("run-1")
    assert batch is not None and batch.quality_clocks == []
    run_timers(engine, NOW + timedelta(days=40))
    assert engine.state.quality_clocks == [] and not sent(engine, "quality_window_closing")
    try:
        attended(engine, DAY0 + timedelta(days=1))
    except InvalidSubmission as refused:
        assert "quality clocks" in str(refused)
    else:
        raise AssertionError("a V2 run should refuse an attended notice")


def test_no_clock_without_an_inpatient_stay_or_for_a_mental_health_program() -> None:
    engine = enrolled(version=ENGINE_V3)
    assert engine.state.quality_clocks == []


def test_iet_initiation_starts_with_a_substance_use_episode_and_engagement_follows() -> None:
    engine = new_engine(ProgramPolicy(substance_use_program=True), version=ENGINE_V3)
    start = clock(engine, M.IET_INITIATION)
    assert (start.first_day, start.last_day) == (DAY0, DAY0 + timedelta(days=14))
    day5 = DAY0 + timedelta(days=5)
    visit(engine, day5)
    assert start.status is ClockStatus.MET and start.met_on == day5
    engage = clock(engine, M.IET_ENGAGEMENT)
    assert (engage.index_date, engage.first_day, engage.last_day) == (
        day5,
        day5 + timedelta(days=1),
        day5 + timedelta(days=34),
    )
    assert engage.services_needed == 2
    visit(engine, day5)  # the initiation day again: not a further service
    visit(engine, day5 + timedelta(days=3))
    assert engage.status is ClockStatus.OPEN and engage.service_days == [day5 + timedelta(days=3)]
    visit(engine, day5 + timedelta(days=3))  # the same day twice counts once
    assert engage.status is ClockStatus.OPEN
    visit(engine, day5 + timedelta(days=9))
    assert engage.status is ClockStatus.MET and engage.met_on == day5 + timedelta(days=9)


def test_iet_initiation_missed_when_no_service_in_14_days() -> None:
    engine = new_engine(ProgramPolicy(part2_program=True), version=ENGINE_V3)
    run_timers(engine, NOW + timedelta(days=16))
    assert clock(engine, M.IET_INITIATION).status is ClockStatus.MISSED
    assert [c for c in engine.state.quality_clocks if c.measure is M.IET_ENGAGEMENT] == []


def test_a_closing_episode_ends_its_open_clocks() -> None:
    engine = new_engine(ProgramPolicy(substance_use_program=True), version=ENGINE_V3)
    engine.take_batch("run-1")
    event(engine, EpisodeEventKind.ENTERED_IN_ERROR)
    assert clock(engine, M.IET_INITIATION).status is ClockStatus.ENDED
    assert [c.status for c in records(engine, M.IET_INITIATION)] == [ClockStatus.ENDED]
    assert engine.next_wakeup() is None
