"""Authorization arithmetic: units left, when to ask for more, payer deadlines."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta

from rules import localtime
from rules.payer_deadlines import PlanType, Priority
from rules.policy import ProgramPolicy


def units_left(approved: int, used: int) -> int:
    return max(approved - used, 0)


def units_uncovered(approved: int, used: int) -> int:
    """Units attended beyond the approval (units_left stops at zero; this does not)."""
    return max(used - approved, 0)


def units_forecast(units_per_week: float, days_until_next_review: float) -> int:
    """Units likely attended before the next review, at the recent weekly rate."""
    return math.ceil(units_per_week * days_until_next_review / 7 - 1e-9)


def split_at_end_date(
    units: int, *, period_days: float, last_day: date, end_date: date
) -> tuple[int, int]:
    """(covered, after the end date) for a period summary ending on `last_day`.

    A weekly summary does not say which day each unit fell on: the units are spread
    evenly over the period's days, and the share after the end date is not covered.
    """
    if last_day <= end_date or units == 0:
        return units, 0
    days_after = (last_day - end_date).days
    after = units if days_after >= period_days else math.ceil(units * days_after / period_days)
    return units - after, after


def needs_concurrent_review(
    approved: int,
    used: int,
    end_date: date,
    today: date,
    policy: ProgramPolicy,
    *,
    expected_units: int = 0,
) -> bool:
    """Ask for an extension while the units left, less those expected before the next
    review, are at or under the threshold (3), or expiry is within 3 days (defaults)."""
    return units_left(approved, used) - expected_units <= policy.low_units_threshold or (
        end_date - today
    ) <= timedelta(days=policy.expiry_warning_days)


def concurrent_review_due_at(end_date: date, policy: ProgramPolicy, tz: str = "UTC") -> datetime:
    """The moment the expiry warning opens: `expiry_warning_days` before the end date's
    local start of day, on the wall clock of `tz` (the program's zone; UTC for runs that
    predate local days)."""
    day_starts = localtime.local_midnight_after(end_date - timedelta(days=1), tz)
    return localtime.add_local_days(day_starts, -policy.expiry_warning_days, tz)


def is_expired(end_date: date, today: date) -> bool:
    return today > end_date


def payer_decision_deadline(
    submitted_at: datetime, expedited: bool, policy: ProgramPolicy
) -> datetime:
    """Standard 7 calendar days; expedited 72 hours (CMS-0057-F defaults)."""
    if expedited:
        return submitted_at + timedelta(hours=policy.payer_decision_hours_expedited)
    return submitted_at + timedelta(days=policy.payer_decision_days_standard)


def appeal_deadline(denied_at: datetime, policy: ProgramPolicy) -> datetime:
    return denied_at + timedelta(days=policy.appeal_window_days)


def appeal_decision_deadline(
    filed_at: datetime, expedited: bool, policy: ProgramPolicy
) -> datetime:
    """When the payer must decide a filed appeal: 30 days standard, 72 hours expedited."""
    if expedited:
        return filed_at + timedelta(hours=policy.appeal_decision_hours_expedited)
    return filed_at + timedelta(days=policy.appeal_decision_days_standard)


def concurrent_priority(now: datetime, runs_out_at: datetime, policy: ProgramPolicy) -> Priority:
    """Filed at least 24 h (default) before the approval runs out: urgent concurrent."""
    lead = timedelta(hours=policy.urgent_concurrent_lead_hours)
    return Priority.URGENT_CONCURRENT if runs_out_at - now >= lead else Priority.EXPEDITED


def decision_due(
    submitted_at: datetime, priority: Priority, plan: PlanType | None, policy: ProgramPolicy
) -> datetime:
    """The payer's deadline from the coverage's plan type (the program's, if unknown)."""
    clock = policy.payer_decision_clocks.get(plan) if plan else None
    if clock is not None:
        hours = clock.hours(priority)
    elif priority is Priority.URGENT_CONCURRENT:
        hours = policy.urgent_concurrent_decision_hours
    elif priority is Priority.EXPEDITED:
        hours = policy.payer_decision_hours_expedited
    else:
        hours = policy.payer_decision_days_standard * 24
    return submitted_at + timedelta(hours=hours)
