"""Authorization burn-down, expiry, payer decision deadlines and the appeal window."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rules.authorization import (
    appeal_deadline,
    concurrent_review_due_at,
    is_expired,
    needs_concurrent_review,
    payer_decision_deadline,
    units_left,
)
from rules.policy import ProgramPolicy

DEFAULT = ProgramPolicy()
END = date(2025, 3, 20)
FAR_TODAY = date(2025, 3, 1)


def _naive(moment: datetime) -> datetime:
    """Wall-clock time, whether the rule returns a naive or a UTC datetime."""
    if moment.tzinfo is not None:
        assert moment.utcoffset() == timedelta(0)
    return moment.replace(tzinfo=None)


@pytest.mark.parametrize(("approved", "used", "left"), [(10, 3, 7), (10, 10, 0), (10, 12, 0)])
def test_units_left_never_goes_negative(approved: int, used: int, left: int) -> None:
    assert units_left(approved, used) == left


@pytest.mark.parametrize(("used", "needed"), [(6, False), (7, True), (10, True)])
def test_concurrent_review_when_three_or_fewer_units_remain(used: int, needed: bool) -> None:
    assert needs_concurrent_review(10, used, END, FAR_TODAY, DEFAULT) is needed


@pytest.mark.parametrize(
    ("days_before_end", "needed"), [(4, False), (3, True), (1, True), (0, True), (-2, True)]
)
def test_concurrent_review_when_expiry_is_within_three_days(
    days_before_end: int, needed: bool
) -> None:
    today = END - timedelta(days=days_before_end)
    assert needs_concurrent_review(100, 0, END, today, DEFAULT) is needed


def test_concurrent_review_thresholds_follow_policy() -> None:
    policy = ProgramPolicy(low_units_threshold=5, expiry_warning_days=7)
    assert needs_concurrent_review(10, 5, END, FAR_TODAY, policy)
    assert not needs_concurrent_review(10, 5, END, FAR_TODAY, DEFAULT)
    assert needs_concurrent_review(100, 0, END, END - timedelta(days=7), policy)


def test_concurrent_review_due_at_is_before_the_authorization_runs_out() -> None:
    due = _naive(concurrent_review_due_at(END, DEFAULT))
    assert datetime(2025, 3, 15) < due < datetime(2025, 3, 21)


def test_concurrent_review_due_at_agrees_with_needs_concurrent_review() -> None:
    due = _naive(concurrent_review_due_at(END, DEFAULT))
    first_day_needed = next(
        END - timedelta(days=d)
        for d in range(30, -1, -1)
        if needs_concurrent_review(100, 0, END, END - timedelta(days=d), DEFAULT)
    )
    assert due == datetime.combine(first_day_needed, datetime.min.time())


@pytest.mark.parametrize(
    ("today", "expired"),
    [(date(2025, 3, 19), False), (date(2025, 3, 20), False), (date(2025, 3, 21), True)],
)
def test_authorization_is_valid_through_its_end_date(today: date, expired: bool) -> None:
    assert is_expired(END, today) is expired


SUBMITTED = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def test_standard_payer_decision_is_due_in_seven_calendar_days() -> None:
    assert payer_decision_deadline(SUBMITTED, False, DEFAULT) == datetime(
        2026, 1, 12, 14, 30, tzinfo=UTC
    )


def test_expedited_payer_decision_is_due_in_72_hours() -> None:
    assert payer_decision_deadline(SUBMITTED, True, DEFAULT) == datetime(
        2026, 1, 8, 14, 30, tzinfo=UTC
    )


def test_payer_deadlines_follow_policy_for_erisa_plans() -> None:
    erisa = ProgramPolicy(payer_decision_days_standard=15, payer_decision_hours_expedited=24)
    assert payer_decision_deadline(SUBMITTED, False, erisa) == SUBMITTED + timedelta(days=15)
    assert payer_decision_deadline(SUBMITTED, True, erisa) == SUBMITTED + timedelta(hours=24)


def test_appeal_window_is_sixty_days_by_default() -> None:
    assert appeal_deadline(SUBMITTED, DEFAULT) == datetime(2026, 3, 6, 14, 30, tzinfo=UTC)
    assert appeal_deadline(SUBMITTED, ProgramPolicy(appeal_window_days=180)) == (
        SUBMITTED + timedelta(days=180)
    )
