"""Levels of care (step up / step down) and the program policy's defaults."""

from __future__ import annotations

from typing import Any

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


# --- issue 14 item 18: nonsense is refused, and the error names the field ----------------


def _refused_field(**settings: Any) -> tuple[str | int, ...]:
    with pytest.raises(ValidationError) as refused:
        ProgramPolicy(**settings)
    return refused.value.errors()[0]["loc"]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"review_interval_days": {L.PHP: 7.0, L.IOP: -7.0, L.OP: 28.0}}, "review_interval_days"),
        ({"review_grace_hours": -1}, "review_grace_hours"),
        ({"appeal_window_days": 0}, "appeal_window_days"),
        ({"external_wait_days": 0}, "external_wait_days"),
        ({"financial_hold_days": 0}, "financial_hold_days"),
        ({"meaningful_change": 0}, "meaningful_change"),
        ({"response_drop_fraction": 0}, "response_drop_fraction"),
        ({"response_drop_fraction": 1.5}, "response_drop_fraction"),
        ({"remission_below": 28}, "remission_below"),
        ({"aftercare_checkin_days": ()}, "aftercare_checkin_days"),
        ({"aftercare_checkin_days": (7, 7)}, "aftercare_checkin_days"),
        ({"aftercare_checkin_days": (0,)}, "aftercare_checkin_days"),
        ({"units_requested": 0}, "units_requested"),
        ({"override_min_chars": 0}, "override_min_chars"),
        ({"risk_escalation_hours": 0}, "risk_escalation_hours"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"patient_message_window_hours": (20, 9)}, "patient_message_window_hours"),
        ({"levels_delivered": frozenset({L.INPATIENT})}, "levels_delivered"),
    ],
)
def test_out_of_range_settings_are_refused_naming_the_field(
    settings: dict[str, Any], field: str
) -> None:
    assert _refused_field(**settings)[0] == field


def test_every_delivered_level_needs_a_review_interval_and_minimums() -> None:
    assert _refused_field(review_interval_days={L.IOP: 7.0})[0] == "review_interval_days"
    assert _refused_field(weekly_minimum_hours={L.IOP: {AgeGroup.ADULT: 9.0}})[0] == (
        "weekly_minimum_hours"
    )
    only_iop = ProgramPolicy(
        levels_delivered=frozenset({L.IOP}),
        review_interval_days={L.IOP: 7.0},
        weekly_minimum_hours={L.IOP: {AgeGroup.ADULT: 9.0, AgeGroup.ADOLESCENT: 6.0}},
    )
    assert only_iop.review_interval(L.IOP) == 7.0
    partial = {L.IOP: {AgeGroup.ADULT: 9.0}, L.PHP: {}, L.OP: {}}
    assert _refused_field(weekly_minimum_hours=partial)[0] == "weekly_minimum_hours"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"review_grace_hours": 72, "review_escalation_hours": 24}, "review_escalation_hours"),
        ({"remission_below": 8, "discharge_below_phq9": 6}, "discharge_below_phq9"),
        ({"units_requested": 3, "low_units_threshold": 3}, "low_units_threshold"),
    ],
)
def test_cross_field_rules_name_the_field_they_constrain(
    settings: dict[str, Any], field: str
) -> None:
    assert _refused_field(**settings)[0] == field
