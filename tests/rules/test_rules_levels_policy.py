"""Levels of care (step up / step down) and the program policy's defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rules.levels import (
    EXTERNAL_LEVELS,
    INTENSITY,
    PROGRAM_LEVELS,
    AgeGroup,
    LevelOfCare,
    is_external,
    step_down_from,
    step_up_from,
)
from rules.policy import ProgramPolicy

L = LevelOfCare


def test_intensity_orders_op_iop_php_residential_inpatient() -> None:
    assert sorted(LevelOfCare, key=INTENSITY.__getitem__) == [
        L.OP,
        L.IOP,
        L.PHP,
        L.RESIDENTIAL,
        L.INPATIENT,
    ]


def test_program_and_external_levels_partition_all_levels() -> None:
    assert set(LevelOfCare) == PROGRAM_LEVELS | EXTERNAL_LEVELS
    assert not PROGRAM_LEVELS & EXTERNAL_LEVELS
    assert is_external(L.INPATIENT) and is_external(L.RESIDENTIAL)
    assert not any(is_external(level) for level in (L.OP, L.IOP, L.PHP))


@pytest.mark.parametrize(
    ("level", "up"),
    [
        (L.OP, L.IOP),
        (L.IOP, L.PHP),
        (L.PHP, L.INPATIENT),  # residential is not a step up from PHP for an acute worsening
        (L.RESIDENTIAL, L.INPATIENT),
        (L.INPATIENT, L.INPATIENT),  # the ceiling
    ],
)
def test_step_up(level: LevelOfCare, up: LevelOfCare) -> None:
    assert step_up_from(level) is up


@pytest.mark.parametrize(
    ("level", "down"),
    [
        (L.INPATIENT, L.PHP),
        (L.RESIDENTIAL, L.IOP),
        (L.PHP, L.IOP),
        (L.IOP, L.OP),
        (L.OP, None),
    ],
)
def test_step_down(level: LevelOfCare, down: LevelOfCare | None) -> None:
    assert step_down_from(level) is down


@pytest.mark.parametrize("level", list(LevelOfCare))
def test_step_up_never_lowers_and_step_down_never_raises_intensity(level: LevelOfCare) -> None:
    assert INTENSITY[step_up_from(level)] >= INTENSITY[level]
    lower = step_down_from(level)
    assert lower is None or INTENSITY[lower] < INTENSITY[level]
    assert lower is None or lower in PROGRAM_LEVELS


def test_policy_defaults_match_the_design_guide() -> None:
    policy = ProgramPolicy()
    assert policy.minimum_hours(L.IOP, AgeGroup.ADULT) == 9
    assert policy.minimum_hours(L.IOP, AgeGroup.ADOLESCENT) == 6
    assert policy.minimum_hours(L.PHP, AgeGroup.ADULT) == 20
    assert policy.minimum_hours(L.INPATIENT, AgeGroup.ADULT) == 0
    assert policy.review_interval(L.IOP) == 7
    assert policy.review_interval(L.OP) == 28
    assert policy.requires_authorization(L.IOP) and policy.requires_authorization(L.PHP)
    assert not policy.requires_authorization(L.OP)
    assert policy.aftercare_checkin_days == (7, 30, 60, 90)
    assert policy.consecutive_reviews_for_step_down == 2


def test_policy_is_frozen_and_rejects_unknown_settings() -> None:
    policy = ProgramPolicy()
    with pytest.raises(ValidationError):
        policy.remission_below = 3  # type: ignore[misc]
    with pytest.raises(ValidationError):
        ProgramPolicy(remision_below=3)  # type: ignore[call-arg]


def test_policy_round_trips_through_json_as_it_travels_in_workflow_input() -> None:
    policy = ProgramPolicy(
        consecutive_reviews_for_step_down=3,
        levels_requiring_authorization=frozenset({L.PHP}),
        aftercare_checkin_days=(7, 30),
    )
    assert ProgramPolicy.model_validate_json(policy.model_dump_json()) == policy
