"""The IOP week's pure rules: schedules, what a week can still reach, runs of no-shows,
billable days and units within an authorization."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from rules.attendance_policy import BillingCode
from rules.attendance_week import (
    AttendanceStatus,
    DayAttendance,
    Grant,
    NotBillable,
    SessionSlot,
    authorized_flags,
    billable_days,
    credited_minutes,
    entry_problem,
    projected_exhaustion,
    scheduled_starts,
    trailing_no_shows,
    week_progress,
)

A, P, N, E = (
    AttendanceStatus.ATTENDED,
    AttendanceStatus.PARTIAL,
    AttendanceStatus.NO_SHOW,
    AttendanceStatus.EXCUSED,
)


def test_schedule_follows_weekdays_in_the_groups_zone() -> None:
    starts = scheduled_starts(
        [1, 3], time(9), "America/New_York", date(2026, 3, 2), date(2026, 3, 15)
    )
    assert [s.date().isoformat() for s in starts] == [
        "2026-03-02",
        "2026-03-04",
        "2026-03-09",
        "2026-03-11",
    ]
    # Daylight saving starts 8 March 2026 in New York: 09:00 local is 14:00 then 13:00 UTC.
    assert starts[0].astimezone(UTC).hour == 14
    assert starts[2].astimezone(UTC).hour == 13


def test_credited_minutes_and_line_checks() -> None:
    assert credited_minutes(A, None, 180) == 180
    assert credited_minutes(P, 90, 180) == 90
    assert credited_minutes(N, None, 180) == 0
    assert entry_problem(P, 200, 180) is not None
    assert entry_problem(P, None, 180) is not None
    assert entry_problem(N, 30, 180) is not None
    assert entry_problem(A, None, 180) is None


def slot(day: int, credited: int | None) -> SessionSlot:
    return SessionSlot(datetime(2026, 3, day, 9, tzinfo=UTC), 180, credited)


def test_a_week_is_below_minimum_as_soon_as_it_cannot_reach_nine_hours() -> None:
    week = [slot(2, 180), slot(3, None), slot(4, None), slot(5, None)]
    assert not week_progress(week, 9.0).below_minimum  # 3 + 9 possible
    week = [slot(2, 0), slot(3, 0), slot(4, None), slot(5, None)]
    progress = week_progress(week, 9.0)
    assert progress.below_minimum  # 0 + 6 possible < 9
    assert (progress.sessions_missed, progress.hours_still_possible) == (2, 6.0)
    assert not week_progress([slot(2, 0)], 0.0).below_minimum  # OP has no minimum


def test_trailing_no_shows_skip_excused_absences() -> None:
    assert trailing_no_shows([A, N, E, N]) == 2
    assert trailing_no_shows([N, N, A]) == 0
    assert trailing_no_shows([]) == 0


def test_billable_days_need_the_daily_hours_and_for_h0015_three_days_a_week() -> None:
    h0015 = BillingCode(
        hcpcs="H0015", revenue_code="0906", min_hours_per_day=3, min_days_per_week=3
    )
    monday = date(2026, 3, 2)
    week = [
        DayAttendance(monday, 180, True),
        DayAttendance(monday + timedelta(days=1), 120, True),
        DayAttendance(monday + timedelta(days=2), 180, True),
    ]
    decided = billable_days(week, h0015)
    assert [d.reason for d in decided] == [
        NotBillable.UNDER_WEEKLY_DAYS,
        NotBillable.UNDER_DAILY_MINIMUM,
        NotBillable.UNDER_WEEKLY_DAYS,
    ]
    full = [*week, DayAttendance(monday + timedelta(days=3), 200, True)]
    assert [d.billable for d in billable_days(full, h0015)] == [True, False, True, True]
    s9480 = BillingCode(hcpcs="S9480", revenue_code="0905")
    unauthorized = billable_days([DayAttendance(monday, 180, False)], s9480)
    assert unauthorized[0].reason is NotBillable.NOT_AUTHORIZED
    assert billable_days([DayAttendance(monday, 180, True)], None)[0].reason is (
        NotBillable.NO_BILLING_CODE
    )


def test_units_count_within_dates_and_approved_units_only() -> None:
    grant = Grant("AUTH-1", date(2026, 3, 2), date(2026, 3, 31), 2, counts_days=True)
    sessions = [
        (date(2026, 3, 1), True),  # before the start
        (date(2026, 3, 2), True),
        (date(2026, 3, 2), False),  # the same day: no new unit
        (date(2026, 3, 3), True),
        (date(2026, 3, 4), True),  # third day: beyond the units
    ]
    assert authorized_flags(sessions, grant) == [False, True, True, True, False]
    per_session = Grant("AUTH-2", date(2026, 3, 2), date(2026, 3, 31), 2, counts_days=False)
    assert authorized_flags(sessions, per_session) == [False, True, True, False, False]
    assert authorized_flags(sessions[:1], None) == [False]


def test_exhaustion_is_projected_from_the_upcoming_schedule() -> None:
    days = [date(2026, 3, d) for d in (2, 3, 4, 5, 9, 10)]
    assert projected_exhaustion(3, days, end_date=date(2026, 3, 31)) == date(2026, 3, 4)
    assert projected_exhaustion(10, days, end_date=date(2026, 3, 31)) is None
    assert projected_exhaustion(3, days, end_date=date(2026, 3, 3)) is None
