"""The IOP week, session by session: schedules, credited minutes, what the week can still
reach, runs of no-shows and billable days. Pure: no I/O, no clock (callers pass `now`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from rules.attendance_policy import BillingCode


class AttendanceStatus(StrEnum):
    ATTENDED = "attended"
    PARTIAL = "partial"
    NO_SHOW = "no_show"
    EXCUSED = "excused"


class Modality(StrEnum):
    IN_PERSON = "in_person"
    TELEHEALTH = "telehealth"


PRESENT: frozenset[AttendanceStatus] = frozenset(
    {AttendanceStatus.ATTENDED, AttendanceStatus.PARTIAL}
)


def scheduled_starts(
    weekdays: Iterable[int], start: time, time_zone: str, first: date, last: date
) -> list[datetime]:
    """Every start (aware, in the group's zone) on the ISO weekdays from first to last."""
    zone = ZoneInfo(time_zone)
    days = set(weekdays)
    found: list[datetime] = []
    day = first
    while day <= last:
        if day.isoweekday() in days:
            found.append(datetime.combine(day, start, tzinfo=zone))
        day += timedelta(days=1)
    return found


def credited_minutes(status: AttendanceStatus, minutes: int | None, duration: int) -> int:
    """Minutes that count toward the week: the whole session if attended, the given minutes
    if partial, none for a no-show or an excused absence."""
    if status is AttendanceStatus.ATTENDED:
        return duration if minutes is None else minutes
    if status is AttendanceStatus.PARTIAL:
        return minutes or 0
    return 0


def entry_problem(status: AttendanceStatus, minutes: int | None, duration: int) -> str | None:
    """Why one roster line is not valid for a session of `duration` minutes, or None."""
    if minutes is not None and minutes > duration:
        return f"minutes {minutes} is over the session's length of {duration}"
    if status is AttendanceStatus.PARTIAL and not minutes:
        return "a partial attendance needs the minutes attended (above 0)"
    if status is AttendanceStatus.ATTENDED and minutes == 0:
        return "an attendance of 0 minutes is a no_show or an excused absence"
    if status in (AttendanceStatus.NO_SHOW, AttendanceStatus.EXCUSED) and minutes:
        return f"a {status.value} has no minutes attended"
    return None


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.isoweekday() - 1)


def local_day(now: datetime, time_zone: str | None) -> date:
    """The calendar day `now` falls on in a group's zone (UTC when there is none): the
    sessions' days and weeks are the group's local ones."""
    return now.astimezone(ZoneInfo(time_zone)).date() if time_zone else now.date()


@dataclass(frozen=True)
class SessionSlot:
    """One of an episode's sessions in a week, with what was recorded (None: not yet)."""

    starts_at: datetime
    duration_minutes: int
    credited: int | None


@dataclass(frozen=True)
class WeekProgress:
    hours: float
    hours_still_possible: float
    minimum: float
    sessions_scheduled: int
    sessions_attended: int
    sessions_missed: int

    @property
    def can_reach_minimum(self) -> bool:
        return self.hours + self.hours_still_possible >= self.minimum

    @property
    def below_minimum(self) -> bool:
        """The week can no longer reach the minimum (known before the week ends)."""
        return self.minimum > 0 and not self.can_reach_minimum


def week_progress(slots: Sequence[SessionSlot], minimum: float) -> WeekProgress:
    """Hours credited so far and hours the unrecorded sessions could still add."""
    hours = sum(s.credited or 0 for s in slots if s.credited is not None) / 60
    open_hours = sum(s.duration_minutes for s in slots if s.credited is None) / 60
    attended = sum(1 for s in slots if s.credited)
    missed = sum(1 for s in slots if s.credited == 0)
    return WeekProgress(
        hours=round(hours, 2),
        hours_still_possible=round(open_hours, 2),
        minimum=minimum,
        sessions_scheduled=len(slots),
        sessions_attended=attended,
        sessions_missed=missed,
    )


def trailing_no_shows(history: Sequence[AttendanceStatus]) -> int:
    """No-shows in a row at the end of the episode's history (excused ones are skipped:
    an excused absence neither breaks nor extends a run)."""
    run = 0
    for status in reversed(history):
        if status is AttendanceStatus.EXCUSED:
            continue
        if status is AttendanceStatus.NO_SHOW:
            run += 1
        else:
            break
    return run


class NotBillable(StrEnum):
    UNDER_DAILY_MINIMUM = "under_daily_minimum"
    UNDER_WEEKLY_DAYS = "under_weekly_days"
    NOT_AUTHORIZED = "not_authorized"
    NO_BILLING_CODE = "no_billing_code"


@dataclass(frozen=True)
class DayAttendance:
    day: date
    minutes: int
    authorized: bool


@dataclass(frozen=True)
class BillableDecision:
    day: date
    hours: float
    billable: bool
    reason: NotBillable | None


def billable_days(
    days: Sequence[DayAttendance], code: BillingCode | None
) -> list[BillableDecision]:
    """One decision per attended day: billable, or the reason it is not.

    A day under the per-day hours does not qualify; if the code needs N qualifying days in
    a week (H0015: 3), a week with fewer bills none; an unauthorized day never bills.
    """
    if code is None:
        return [
            BillableDecision(d.day, round(d.minutes / 60, 2), False, NotBillable.NO_BILLING_CODE)
            for d in days
        ]
    first: dict[date, NotBillable | None] = {}
    for d in days:
        if d.minutes / 60 < code.min_hours_per_day:
            first[d.day] = NotBillable.UNDER_DAILY_MINIMUM
        elif not d.authorized:
            first[d.day] = NotBillable.NOT_AUTHORIZED
        else:
            first[d.day] = None
    per_week: dict[date, int] = {}
    for day, reason in first.items():
        if reason is None:
            per_week[week_start(day)] = per_week.get(week_start(day), 0) + 1
    decided: list[BillableDecision] = []
    for d in days:
        reason = first[d.day]
        if reason is None and per_week.get(week_start(d.day), 0) < code.min_days_per_week:
            reason = NotBillable.UNDER_WEEKLY_DAYS
        decided.append(BillableDecision(d.day, round(d.minutes / 60, 2), reason is None, reason))
    return decided


def projected_exhaustion(
    units_left: int, upcoming_unit_days: Sequence[date], *, end_date: date
) -> date | None:
    """The day the last approved unit would be used if the patient attends every upcoming
    scheduled unit (one per entry, in order); None if the units outlast the end date."""
    if units_left <= 0:
        return upcoming_unit_days[0] if upcoming_unit_days else None
    within = [d for d in upcoming_unit_days if d <= end_date]
    if len(within) < units_left:
        return None
    return within[units_left - 1]


@dataclass(frozen=True)
class Grant:
    """An authorization's terms, as the unit count needs them."""

    authorization_number: str
    start_date: date
    end_date: date
    units_approved: int
    counts_days: bool  # True: a unit is a day; False: a unit is a session


def grant_covering(grants: Sequence[Grant], day: date) -> Grant | None:
    """The authorization `day` counts against: of the grants whose dates hold it, the one
    recorded last (`grants` in recorded order); None outside every grant's dates."""
    found = None
    for grant in grants:
        if grant.start_date <= day <= grant.end_date:
            found = grant
    return found


def authorizing_grants(
    sessions: Sequence[tuple[date, bool]], grants: Sequence[Grant]
) -> list[Grant | None]:
    """For each attended session (its day, and whether it opened a new day), the grant it
    is authorized by: the one covering its day, while that grant's approved units last;
    None outside every grant's dates or beyond its units. Each grant counts its own units,
    in order, by day or by session as it counts them: an extension approved from a later
    day leaves the days before it on the earlier authorization."""
    used: dict[int, int] = {}
    found: list[Grant | None] = []
    for day, new_day in sessions:
        grant = grant_covering(grants, day)
        if grant is None:
            found.append(None)
            continue
        unit = new_day if grant.counts_days else True
        if unit:
            used[id(grant)] = used.get(id(grant), 0) + 1
        found.append(grant if used.get(id(grant), 0) <= grant.units_approved else None)
    return found


def units_used(sessions: Sequence[tuple[date, bool]], grants: Sequence[Grant], grant: Grant) -> int:
    """The units of `grant` the attended sessions used (never more than it approved)."""
    by = authorizing_grants(sessions, grants)
    return sum(
        1
        for (_, new_day), g in zip(sessions, by, strict=True)
        if g is grant and (new_day or not grant.counts_days)
    )


def authorized_flags(sessions: Sequence[tuple[date, bool]], grant: Grant | None) -> list[bool]:
    """For each attended session (its day, and whether it opened a new day), whether it is
    within the grant: inside its dates and not beyond its approved units. Units are
    counted in order, by day or by session as the grant counts them."""
    return [g is not None for g in authorizing_grants(sessions, [grant] if grant else [])]


def review_contradiction(
    typed_hours: float, typed_units: int, recorded_hours: float, recorded_units: int
) -> str | None:
    """Why a review's weekly summary contradicts the rosters (both numbers), or None."""
    problems = []
    if abs(typed_hours - recorded_hours) > 0.01:
        problems.append(
            f"hours_attended {typed_hours:g} but the rosters record {recorded_hours:g} h"
        )
    if typed_units != recorded_units:
        problems.append(f"units_attended {typed_units} but the rosters record {recorded_units}")
    return "; ".join(problems) or None
