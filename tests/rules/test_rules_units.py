"""Units arithmetic: forecast, uncovered units, the share attended after the end date."""

from __future__ import annotations

from datetime import date

from rules import authorization as auth
from rules.policy import ProgramPolicy


def test_forecast_rounds_up_at_the_weekly_rate() -> None:
    assert auth.units_forecast(4, 7) == 4
    assert auth.units_forecast(3, 28) == 12
    assert auth.units_forecast(2.5, 7) == 3
    assert auth.units_forecast(0, 7) == 0


def test_uncovered_counts_what_units_left_clamps_away() -> None:
    assert auth.units_left(20, 25) == 0
    assert auth.units_uncovered(20, 25) == 5
    assert auth.units_uncovered(20, 12) == 0


def test_units_after_the_end_date_are_split_off_by_day() -> None:
    end = date(2026, 3, 10)
    assert auth.split_at_end_date(7, period_days=7, last_day=end, end_date=end) == (7, 0)
    assert auth.split_at_end_date(7, period_days=7, last_day=date(2026, 3, 14), end_date=end) == (
        3,
        4,
    )
    assert auth.split_at_end_date(5, period_days=7, last_day=date(2026, 3, 20), end_date=end) == (
        0,
        5,
    )


def test_the_forecast_brings_the_extension_forward() -> None:
    policy = ProgramPolicy()
    today, end = date(2026, 3, 1), date(2026, 4, 30)
    assert not auth.needs_concurrent_review(10, 4, end, today, policy)
    assert auth.needs_concurrent_review(10, 4, end, today, policy, expected_units=4)
