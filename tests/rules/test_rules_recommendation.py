"""What the engine recommends after a review or an assessment, in the safety order."""

from __future__ import annotations

from typing import Any

import pytest

from rules.instruments import CssrsRisk
from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy
from rules.recommendation import (
    Flag,
    Recommendation,
    RecommendedAction,
    recommend_after_assessment,
    recommend_after_review,
)

L = LevelOfCare
A = RecommendedAction
DEFAULT = ProgramPolicy()


def review(**overrides: Any) -> Recommendation:
    """An adult IOP review with baseline 18 and nothing remarkable, unless overridden."""
    args: dict[str, Any] = {
        "level": L.IOP,
        "age_group": AgeGroup.ADULT,
        "baseline_phq9": 18,
        "phq9_history": [16],
        "phq9_total": 15,
        "self_harm": False,
        "cssrs_risk": None,
        "hours_attended": 10.0,
        "weeks_in_period": 1.0,
        "consecutive_low_weeks_before": 0,
        "policy": DEFAULT,
    }
    args.update(overrides)
    return recommend_after_review(**args)


# --- the quiet path ---------------------------------------------------------------------------


def test_no_change_continues_at_the_same_level_and_clears_stale_flags() -> None:
    rec = review()
    assert rec.action is A.CONTINUE
    assert rec.target_level is L.IOP
    assert rec.raise_flags == frozenset()
    assert {Flag.DETERIORATION, Flag.LOW_ATTENDANCE, Flag.ATTENDANCE_PLAN_REQUIRED} <= (
        rec.clear_flags
    )
    assert not rec.urgent


def test_without_a_phq9_this_review_the_level_continues() -> None:
    assert review(phq9_total=None).action is A.CONTINUE
    assert review(baseline_phq9=None).action is A.CONTINUE


# --- risk wins over everything ----------------------------------------------------------------


@pytest.mark.parametrize(("level", "up"), [(L.OP, L.IOP), (L.IOP, L.PHP), (L.PHP, L.INPATIENT)])
def test_item9_positive_recommends_an_urgent_step_up(level: LevelOfCare, up: LevelOfCare) -> None:
    rec = review(level=level, self_harm=True)
    assert rec.action is A.STEP_UP
    assert rec.target_level is up
    assert rec.urgent
    assert Flag.RISK in rec.raise_flags
    assert rec.reasons[:2] == ["phq9_item9_positive", "same_day_safety_assessment_needed"]


def test_risk_wins_over_sustained_remission() -> None:
    rec = review(self_harm=True, phq9_history=[3], phq9_total=2)
    assert rec.action is A.STEP_UP
    assert "phq9_remission_sustained" not in rec.reasons


def test_risk_wins_over_deterioration_and_is_urgent() -> None:
    rec = review(cssrs_risk=CssrsRisk.HIGH, phq9_total=27)
    assert rec.action is A.STEP_UP
    assert rec.urgent
    assert "cssrs_high_risk" in rec.reasons
    assert "phq9_deterioration" not in rec.reasons


def test_risk_keeps_attendance_flags_alongside() -> None:
    rec = review(self_harm=True, hours_attended=4.0, consecutive_low_weeks_before=1)
    assert {Flag.RISK, Flag.LOW_ATTENDANCE, Flag.ATTENDANCE_PLAN_REQUIRED} <= rec.raise_flags
    assert not rec.raise_flags & rec.clear_flags


def test_both_risk_signals_are_recorded_as_reasons() -> None:
    rec = review(self_harm=True, cssrs_risk=CssrsRisk.HIGH)
    assert {"phq9_item9_positive", "cssrs_high_risk"} <= set(rec.reasons)


@pytest.mark.parametrize("level", [L.OP, L.IOP])
def test_high_risk_cssrs_at_review_means_emergency_evaluation(level: LevelOfCare) -> None:
    rec = review(level=level, cssrs_risk=CssrsRisk.HIGH)
    assert rec.target_level is L.INPATIENT
    assert rec.urgent


# --- deterioration steps up ---------------------------------------------------------------


@pytest.mark.parametrize(("level", "up"), [(L.OP, L.IOP), (L.IOP, L.PHP), (L.PHP, L.INPATIENT)])
def test_deterioration_of_5_points_steps_up(level: LevelOfCare, up: LevelOfCare) -> None:
    rec = review(level=level, baseline_phq9=12, phq9_history=[12], phq9_total=17)
    assert rec.action is A.STEP_UP
    assert rec.target_level is up
    assert Flag.DETERIORATION in rec.raise_flags
    assert Flag.DETERIORATION not in rec.clear_flags
    assert not rec.urgent  # worse, but not a safety emergency


def test_a_rise_of_4_points_is_not_deterioration() -> None:
    rec = review(baseline_phq9=12, phq9_history=[12], phq9_total=16)
    assert rec.action is A.CONTINUE
    assert Flag.DETERIORATION in rec.clear_flags


def test_deterioration_threshold_follows_policy() -> None:
    rec = review(baseline_phq9=12, phq9_total=17, policy=ProgramPolicy(meaningful_change=6))
    assert rec.action is A.CONTINUE


# --- sustained improvement steps down ---------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "action", "target"),
    [
        (L.PHP, A.STEP_DOWN, L.IOP),
        (L.IOP, A.STEP_DOWN, L.OP),
        (L.OP, A.DISCHARGE, None),
    ],
)
def test_response_on_two_consecutive_reviews_steps_down(
    level: LevelOfCare, action: RecommendedAction, target: LevelOfCare | None
) -> None:
    rec = review(level=level, baseline_phq9=18, phq9_history=[9], phq9_total=8)
    assert rec.action is action
    assert rec.target_level is target
    assert "phq9_response_sustained" in rec.reasons


def test_remission_on_two_reviews_names_remission() -> None:
    rec = review(baseline_phq9=18, phq9_history=[4], phq9_total=3)
    assert rec.action is A.STEP_DOWN
    assert "phq9_remission_sustained" in rec.reasons


def test_a_single_responding_review_is_improving_but_not_yet_a_step_down() -> None:
    rec = review(baseline_phq9=18, phq9_history=[14], phq9_total=8)
    assert rec.action is A.CONTINUE
    assert rec.target_level is L.IOP
    assert "phq9_improving_not_yet_sustained" in rec.reasons


def test_first_review_after_baseline_cannot_be_sustained() -> None:
    rec = review(baseline_phq9=18, phq9_history=[], phq9_total=4)
    assert rec.action is A.CONTINUE


def test_policy_needing_three_consecutive_reviews_waits_one_more() -> None:
    three = ProgramPolicy(consecutive_reviews_for_step_down=3)
    assert review(phq9_history=[9], phq9_total=8, policy=three).action is A.CONTINUE
    assert review(phq9_history=[16, 9], phq9_total=8, policy=three).action is A.CONTINUE
    stepped = review(phq9_history=[9, 9], phq9_total=8, policy=three)
    assert stepped.action is A.STEP_DOWN
    assert stepped.target_level is L.OP


# --- attendance adds flags and may require a plan ---------------------------------------------


def test_one_low_week_raises_low_attendance_without_a_plan() -> None:
    rec = review(hours_attended=8.0, consecutive_low_weeks_before=0)
    assert rec.action is A.CONTINUE
    assert Flag.LOW_ATTENDANCE in rec.raise_flags
    assert Flag.ATTENDANCE_PLAN_REQUIRED not in rec.raise_flags
    assert rec.consecutive_low_weeks == 1
    assert "attendance_below_minimum" in rec.reasons


def test_second_low_week_requires_a_plan() -> None:
    rec = review(hours_attended=8.0, consecutive_low_weeks_before=1)
    assert {Flag.LOW_ATTENDANCE, Flag.ATTENDANCE_PLAN_REQUIRED} <= rec.raise_flags
    assert rec.consecutive_low_weeks == 2
    assert "attendance_plan_required" in rec.reasons
    assert Flag.LOW_ATTENDANCE not in rec.clear_flags


def test_an_adequate_week_resets_the_count_and_clears_attendance_flags() -> None:
    rec = review(hours_attended=9.0, consecutive_low_weeks_before=3)
    assert rec.consecutive_low_weeks == 0
    assert {Flag.LOW_ATTENDANCE, Flag.ATTENDANCE_PLAN_REQUIRED} <= rec.clear_flags


@pytest.mark.parametrize(
    ("level", "age", "hours", "low"),
    [
        (L.IOP, AgeGroup.ADOLESCENT, 6.0, False),
        (L.IOP, AgeGroup.ADOLESCENT, 5.0, True),
        (L.PHP, AgeGroup.ADULT, 19.0, True),
        (L.PHP, AgeGroup.ADULT, 20.0, False),
    ],
)
def test_attendance_minimum_depends_on_level_and_age(
    level: LevelOfCare, age: AgeGroup, hours: float, low: bool
) -> None:
    rec = review(level=level, age_group=age, hours_attended=hours)
    assert (Flag.LOW_ATTENDANCE in rec.raise_flags) is low


def test_policy_minimums_change_what_counts_as_low() -> None:
    stricter = ProgramPolicy(
        levels_delivered=frozenset({L.IOP}),
        weekly_minimum_hours={L.IOP: {AgeGroup.ADULT: 12.0, AgeGroup.ADOLESCENT: 8.0}},
        review_interval_days={L.IOP: 7.0},
    )
    assert Flag.LOW_ATTENDANCE not in review(hours_attended=10.0).raise_flags
    assert Flag.LOW_ATTENDANCE in review(hours_attended=10.0, policy=stricter).raise_flags
    teen = review(age_group=AgeGroup.ADOLESCENT, hours_attended=7.0, policy=stricter)
    assert Flag.LOW_ATTENDANCE in teen.raise_flags


def test_policy_can_require_a_plan_after_one_low_week() -> None:
    eager = ProgramPolicy(low_attendance_weeks_needing_plan=1)
    rec = review(hours_attended=5.0, policy=eager)
    assert Flag.ATTENDANCE_PLAN_REQUIRED in rec.raise_flags


def test_low_attendance_does_not_block_a_sustained_step_down() -> None:
    rec = review(phq9_history=[9], phq9_total=8, hours_attended=5.0)
    assert rec.action is A.STEP_DOWN
    assert Flag.LOW_ATTENDANCE in rec.raise_flags


# --- after assessment ---------------------------------------------------------------------


@pytest.mark.parametrize("level", [L.OP, L.IOP, L.PHP])
def test_assessment_at_a_program_level_enrolls(level: LevelOfCare) -> None:
    rec = recommend_after_assessment(determined_level=level, self_harm=False, cssrs_risk=None)
    assert rec.action is A.ENROLL
    assert rec.target_level is level
    assert rec.reasons == [f"{level.value}_indicated"]
    assert not rec.urgent
    assert rec.raise_flags == frozenset()


@pytest.mark.parametrize("level", [L.RESIDENTIAL, L.INPATIENT])
def test_assessment_at_an_external_level_refers_out(level: LevelOfCare) -> None:
    rec = recommend_after_assessment(determined_level=level, self_harm=False, cssrs_risk=None)
    assert rec.action is A.REFER_OUT
    assert rec.target_level is level
    assert "higher_level_indicated" in rec.reasons


@pytest.mark.parametrize("level", list(LevelOfCare))
def test_high_risk_cssrs_at_assessment_means_emergency_evaluation_not_iop(
    level: LevelOfCare,
) -> None:
    rec = recommend_after_assessment(
        determined_level=level, self_harm=False, cssrs_risk=CssrsRisk.HIGH
    )
    assert rec.action is A.REFER_OUT
    assert rec.target_level is L.INPATIENT
    assert rec.urgent
    assert Flag.RISK in rec.raise_flags
    assert "emergency_evaluation_needed" in rec.reasons


def test_item9_at_assessment_raises_risk_and_urgency_but_keeps_the_level() -> None:
    rec = recommend_after_assessment(determined_level=L.IOP, self_harm=True, cssrs_risk=None)
    assert rec.action is A.ENROLL
    assert rec.target_level is L.IOP
    assert rec.urgent
    assert Flag.RISK in rec.raise_flags
    assert "same_day_safety_assessment_needed" in rec.reasons


def test_both_risk_signals_at_assessment_record_both_reasons() -> None:
    rec = recommend_after_assessment(
        determined_level=L.OP, self_harm=True, cssrs_risk=CssrsRisk.HIGH
    )
    assert rec.action is A.REFER_OUT
    assert {"phq9_item9_positive", "cssrs_high_risk"} <= set(rec.reasons)


# --- issue 14 item 8: decisions that rest on more than PHQ-9 against the intake score -----


def test_discharge_from_op_needs_remission_or_a_score_under_10() -> None:
    rec = review(level=L.OP, baseline_phq9=27, phq9_history=[13], phq9_total=13)
    assert rec.action is A.CONTINUE
    assert "discharge_needs_remission" in rec.reasons
    ready = review(level=L.OP, baseline_phq9=27, phq9_history=[9], phq9_total=8)
    assert ready.action is A.DISCHARGE


def test_outcome_rules_need_an_index_score_of_10_or_more() -> None:
    rec = review(baseline_phq9=3, phq9_history=[1], phq9_total=1)
    assert rec.action is A.CONTINUE
    assert "phq9_index_below_outcome_threshold" in rec.reasons
    lower = ProgramPolicy(outcome_index_min_phq9=3)
    assert review(baseline_phq9=3, phq9_history=[1], phq9_total=1, policy=lower).action is (
        A.STEP_DOWN
    )


def test_a_relapse_after_a_response_is_deterioration_against_the_best_score() -> None:
    rec = review(baseline_phq9=18, phq9_history=[9, 6, 14], phq9_total=18)
    assert rec.action is A.STEP_UP
    assert Flag.DETERIORATION in rec.raise_flags
    assert "phq9_worse_than_best" in rec.reasons
    assert "phq9_worse_than_index" not in rec.reasons


def test_a_jump_from_the_previous_score_is_deterioration() -> None:
    rec = review(baseline_phq9=18, phq9_history=[8], phq9_total=14)
    assert "phq9_worse_than_previous" in rec.reasons


def test_after_a_level_change_comparisons_start_from_the_entry_score() -> None:
    # Stepped up to PHP at 22 (intake 12): 22 again is not deterioration over the intake.
    stable = review(
        level=L.PHP,
        baseline_phq9=12,
        level_index_phq9=22,
        phq9_history=[],
        phq9_total=22,
        hours_attended=25.0,
    )
    assert stable.action is A.CONTINUE
    assert Flag.DETERIORATION not in stable.raise_flags
    # And a response is measured from 22, not from 12.
    better = review(
        level=L.PHP,
        baseline_phq9=12,
        level_index_phq9=22,
        phq9_history=[10],
        phq9_total=9,
        hours_attended=25.0,
    )
    assert better.action is A.STEP_DOWN


def test_a_review_with_no_scores_says_measures_missing() -> None:
    rec = review(phq9_total=None)
    assert "measures_missing" in rec.reasons
    assert Flag.MEASURES_MISSING not in rec.raise_flags
    assert rec.reviews_without_measures == 1


def test_n_reviews_without_phq9_or_cssrs_raise_a_flag() -> None:
    rec = review(phq9_total=None, reviews_without_measures_before=1)
    assert Flag.MEASURES_MISSING in rec.raise_flags
    measured = review(reviews_without_measures_before=5)
    assert Flag.MEASURES_MISSING in measured.clear_flags
    assert measured.reviews_without_measures == 0
