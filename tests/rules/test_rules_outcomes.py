"""Response, remission, deterioration, trend and sustained improvement on PHQ-9."""

from __future__ import annotations

import pytest

from rules.outcomes import (
    Trend,
    is_deterioration,
    is_remission,
    is_response,
    sustained_improvement,
    trend,
)
from rules.policy import ProgramPolicy

DEFAULT = ProgramPolicy()


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [
        (20, 10, True),  # exactly 50 %
        (20, 11, False),  # 45 %
        (15, 7, True),  # 8 >= 7.5
        (15, 8, False),  # 7 < 7.5
        (10, 0, True),
        (0, 0, False),  # no baseline symptoms: nothing to respond from
        (10, 12, False),
    ],
)
def test_response_is_a_drop_of_at_least_half_the_baseline(
    baseline: int, current: int, expected: bool
) -> None:
    assert is_response(baseline, current, DEFAULT) is expected


def test_response_threshold_follows_policy() -> None:
    stricter = ProgramPolicy(response_drop_fraction=0.6)
    assert is_response(20, 10, DEFAULT)
    assert not is_response(20, 10, stricter)
    assert is_response(20, 8, stricter)


@pytest.mark.parametrize(("current", "expected"), [(0, True), (4, True), (5, False), (12, False)])
def test_remission_is_a_total_under_5(current: int, expected: bool) -> None:
    assert is_remission(current, DEFAULT) is expected


def test_remission_threshold_follows_policy() -> None:
    assert is_remission(6, ProgramPolicy(remission_below=7))


@pytest.mark.parametrize(
    ("baseline", "current", "expected"),
    [(10, 15, True), (10, 14, False), (10, 20, True), (10, 5, False), (0, 5, True)],
)
def test_deterioration_is_a_rise_of_5_or_more(baseline: int, current: int, expected: bool) -> None:
    assert is_deterioration(baseline, current, DEFAULT) is expected


def test_deterioration_threshold_follows_policy() -> None:
    assert not is_deterioration(10, 15, ProgramPolicy(meaningful_change=6))


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([], Trend.UNKNOWN),
        ([12], Trend.UNKNOWN),
        ([15, 10], Trend.IMPROVING),
        ([15, 11], Trend.STABLE),
        ([15, 19], Trend.STABLE),
        ([15, 20], Trend.WORSENING),
        ([15, 27, 10], Trend.IMPROVING),  # latest against the first, not the peak
        ([10, 2, 15], Trend.WORSENING),
    ],
)
def test_trend_compares_latest_with_first_by_5_points(history: list[int], expected: Trend) -> None:
    assert trend(history, DEFAULT) is expected


@pytest.mark.parametrize(
    ("recent", "expected"),
    [
        ([], False),
        ([8], False),  # one review is not sustained
        ([8, 9], True),  # response on both
        ([8, 12], False),  # the latest lost the response
        ([12, 8], False),  # only the latest responds
        ([4, 3], True),  # remission on both
        ([20, 18, 9, 4], True),  # only the last two count
        ([9, 4, 18], False),
    ],
)
def test_sustained_improvement_on_the_last_two_reviews(recent: list[int], expected: bool) -> None:
    assert sustained_improvement(18, recent, DEFAULT) is expected


def test_sustained_improvement_counts_remission_even_without_a_50_percent_drop() -> None:
    # baseline 6: 4 is only a 33 % drop, but it is remission.
    assert sustained_improvement(6, [4, 4], DEFAULT)


def test_sustained_improvement_needs_n_reviews_from_policy() -> None:
    three = ProgramPolicy(consecutive_reviews_for_step_down=3)
    assert sustained_improvement(18, [8, 8], DEFAULT)
    assert not sustained_improvement(18, [8, 8], three)
    assert not sustained_improvement(18, [12, 8, 8], three)
    assert sustained_improvement(18, [8, 8, 8], three)
