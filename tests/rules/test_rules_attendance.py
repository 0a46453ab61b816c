"""Weekly clinical-hour minimums and the plan after repeated low weeks."""

from __future__ import annotations

import pytest

from rules.attendance import below_minimum, plan_required
from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy

DEFAULT = ProgramPolicy()
ADULT = AgeGroup.ADULT
TEEN = AgeGroup.ADOLESCENT


@pytest.mark.parametrize(
    ("level", "age", "hours", "below"),
    [
        (LevelOfCare.IOP, ADULT, 9.0, False),
        (LevelOfCare.IOP, ADULT, 8.9, True),
        (LevelOfCare.IOP, TEEN, 6.0, False),
        (LevelOfCare.IOP, TEEN, 5.9, True),
        (LevelOfCare.IOP, TEEN, 8.0, False),  # would be low for an adult
        (LevelOfCare.PHP, ADULT, 20.0, False),
        (LevelOfCare.PHP, ADULT, 19.5, True),
        (LevelOfCare.PHP, TEEN, 19.5, True),
        (LevelOfCare.OP, ADULT, 0.0, False),  # OP has no minimum
        (LevelOfCare.INPATIENT, ADULT, 0.0, False),  # external: not measured
    ],
)
def test_one_week_against_the_level_minimum(
    level: LevelOfCare, age: AgeGroup, hours: float, below: bool
) -> None:
    assert below_minimum(hours, 1, level, age, DEFAULT) is below


def test_minimum_is_a_weekly_average_over_the_review_period() -> None:
    assert not below_minimum(18, 2, LevelOfCare.IOP, ADULT, DEFAULT)
    assert below_minimum(17, 2, LevelOfCare.IOP, ADULT, DEFAULT)


def test_an_empty_period_is_never_below_minimum() -> None:
    assert not below_minimum(0, 0, LevelOfCare.IOP, ADULT, DEFAULT)


def test_policy_can_change_a_minimum() -> None:
    lenient = ProgramPolicy(
        levels_delivered=frozenset({LevelOfCare.IOP}),
        weekly_minimum_hours={LevelOfCare.IOP: {ADULT: 6.0, TEEN: 6.0}},
        review_interval_days={LevelOfCare.IOP: 7.0},
    )
    assert not below_minimum(7, 1, LevelOfCare.IOP, ADULT, lenient)
    assert below_minimum(7, 1, LevelOfCare.IOP, ADULT, DEFAULT)
    # A level the policy leaves out has no minimum.
    assert not below_minimum(0, 1, LevelOfCare.PHP, ADULT, lenient)


@pytest.mark.parametrize(("weeks", "needed"), [(0, False), (1, False), (2, True), (5, True)])
def test_a_plan_is_required_after_two_low_weeks(weeks: int, needed: bool) -> None:
    assert plan_required(weeks, DEFAULT) is needed


def test_plan_threshold_follows_policy() -> None:
    assert not plan_required(2, ProgramPolicy(low_attendance_weeks_needing_plan=3))
    assert plan_required(3, ProgramPolicy(low_attendance_weeks_needing_plan=3))
