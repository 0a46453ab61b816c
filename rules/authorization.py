"""Authorization arithmetic: units left, when to ask for more, payer deadlines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rules.policy import ProgramPolicy


def units_left(approved: int, used: int) -> int:
    return max(approved - used, 0)


def needs_concurrent_review(
    approved: int, used: int, end_date: date, today: date, policy: ProgramPolicy
) -> bool:
    """Ask for an extension while <= 3 units remain or expiry is within 3 days (defaults)."""
    return units_left(approved, used) <= policy.low_units_threshold or (
        end_date - today
    ) <= timedelta(days=policy.expiry_warning_days)


def concurrent_review_due_at(end_date: date, policy: ProgramPolicy) -> datetime:
    """The moment the expiry warning opens: `expiry_warning_days` before the end date."""
    last_day = datetime(end_date.year, end_date.month, end_date.day, tzinfo=UTC)
    return last_day - timedelta(days=policy.expiry_warning_days)


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
