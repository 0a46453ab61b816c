"""What the engine recommends after an assessment or a review. Clinicians decide.

The order matters and is the safety order: risk first, then deterioration, then
sustained improvement; attendance adds flags and may require a plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rules import attendance, outcomes
from rules.instruments import CssrsRisk
from rules.levels import AgeGroup, LevelOfCare, step_down_from, step_up_from
from rules.policy import ProgramPolicy


class RecommendedAction(StrEnum):
    CONTINUE = "continue"
    STEP_DOWN = "step_down"
    STEP_UP = "step_up"
    DISCHARGE = "discharge"
    REFER_OUT = "refer_out"
    ENROLL = "enroll"


class Flag(StrEnum):
    """Open flags on an episode; `RISK` drives the `RiskFlag` search attribute."""

    RISK = "risk"
    DETERIORATION = "deterioration"
    LOW_ATTENDANCE = "low_attendance"
    ATTENDANCE_PLAN_REQUIRED = "attendance_plan_required"
    REVIEW_OVERDUE = "review_overdue"
    REVIEW_ESCALATED = "review_escalated"
    AUTHORIZATION_LOW = "authorization_low"
    AUTHORIZATION_EXPIRED = "authorization_expired"
    UNITS_EXHAUSTED = "units_exhausted"
    PAYER_OVERDUE = "payer_overdue"
    COVERAGE_INACTIVE = "coverage_inactive"
    ELIGIBILITY_UNAVAILABLE = "eligibility_unavailable"
    DISCLOSURE_CONSENT_MISSING = "disclosure_consent_missing"
    APPEAL_OPEN = "appeal_open"
    FOLLOWUP_DUE = "followup_due"
    FOLLOWUP_MISSED = "followup_missed"
    FOLLOWUP_30_MISSED = "followup_30_missed"
    MEASURES_MISSING = "measures_missing"
    # The IOP week (workflows/attendance.py).
    NO_SHOW_FOLLOWUP = "no_show_followup"
    DISENGAGED = "disengaged"
    LEVEL_REVIEW_RECOMMENDED = "level_review_recommended"
    BELOW_MINIMUM = "below_minimum"
    UNAUTHORIZED_SERVICE = "unauthorized_service"


@dataclass(frozen=True)
class Recommendation:
    action: RecommendedAction
    target_level: LevelOfCare | None
    reasons: list[str] = field(default_factory=list)
    raise_flags: frozenset[Flag] = frozenset()
    clear_flags: frozenset[Flag] = frozenset()
    urgent: bool = False
    consecutive_low_weeks: int = 0
    reviews_without_measures: int = 0


def risk_reasons(*, self_harm: bool, cssrs_risk: CssrsRisk | None) -> list[str]:
    """Why the risk flag opens, most severe first; empty when it does not."""
    reasons: list[str] = []
    if cssrs_risk is CssrsRisk.HIGH:
        reasons += ["cssrs_high_risk", "emergency_evaluation_needed"]
    if cssrs_risk is CssrsRisk.MODERATE:
        reasons.append("cssrs_moderate_risk")
    if self_harm:
        reasons.append("phq9_item9_positive")
    if reasons:
        reasons.append("same_day_safety_assessment_needed")
    return reasons


def recommend_after_review(
    *,
    level: LevelOfCare,
    age_group: AgeGroup,
    baseline_phq9: int | None,
    phq9_history: list[int],
    phq9_total: int | None,
    self_harm: bool,
    cssrs_risk: CssrsRisk | None,
    hours_attended: float | None,
    weeks_in_period: float,
    consecutive_low_weeks_before: int,
    policy: ProgramPolicy,
    level_index_phq9: int | None = None,
    gad7_given: bool = False,
    reviews_without_measures_before: int = 0,
) -> Recommendation:
    """Risk, then deterioration, then sustained improvement; reasons in that order.

    `baseline_phq9` is the episode's index (intake) score; `level_index_phq9` the score at
    entry to the current level (None: the index), which the comparisons start from;
    `phq9_history` holds the earlier totals at this level, oldest first, not this one.
    """
    flagged = risk_reasons(self_harm=self_harm, cssrs_risk=cssrs_risk)
    reasons: list[str] = list(flagged)
    notes: list[str] = []
    raise_flags: set[Flag] = set()
    clear_flags: set[Flag] = set()

    if phq9_total is None and cssrs_risk is None and not gad7_given:
        notes.append("measures_missing")
    unmeasured = phq9_total is None and cssrs_risk is None
    without = reviews_without_measures_before + 1 if unmeasured else 0
    if unmeasured and without >= policy.reviews_without_measures_for_flag:
        notes.append("measures_missing_repeatedly")
        raise_flags.add(Flag.MEASURES_MISSING)
    elif not unmeasured:
        clear_flags.add(Flag.MEASURES_MISSING)

    low = hours_attended is not None and attendance.below_minimum(
        hours_attended, weeks_in_period, level, age_group, policy
    )
    low_weeks = consecutive_low_weeks_before + 1 if low else 0
    if low:
        notes.append("attendance_below_minimum")
        raise_flags.add(Flag.LOW_ATTENDANCE)
        if attendance.plan_required(low_weeks, policy):
            notes.append("attendance_plan_required")
            raise_flags.add(Flag.ATTENDANCE_PLAN_REQUIRED)
    else:
        clear_flags |= {Flag.LOW_ATTENDANCE, Flag.ATTENDANCE_PLAN_REQUIRED}

    def done(
        action: RecommendedAction, target: LevelOfCare | None, urgent: bool = False
    ) -> Recommendation:
        return Recommendation(
            action,
            target,
            reasons + notes,
            frozenset(raise_flags),
            frozenset(clear_flags - raise_flags),
            urgent,
            low_weeks,
            without,
        )

    if flagged:
        raise_flags.add(Flag.RISK)
        high = cssrs_risk is CssrsRisk.HIGH
        # High-risk C-SSRS means emergency evaluation, whatever the current level.
        target = LevelOfCare.INPATIENT if high else step_up_from(level)
        return done(RecommendedAction.STEP_UP, target, urgent=True)

    if phq9_total is None or baseline_phq9 is None:
        return done(RecommendedAction.CONTINUE, level)

    index = baseline_phq9 if level_index_phq9 is None else level_index_phq9
    worse = outcomes.deterioration(index, phq9_history, phq9_total, policy)
    if worse:
        reasons.append("phq9_deterioration")
        reasons.extend(worse)
        raise_flags.add(Flag.DETERIORATION)
        return done(RecommendedAction.STEP_UP, step_up_from(level))
    clear_flags.add(Flag.DETERIORATION)

    if not outcomes.outcome_rules_apply(baseline_phq9, policy):
        reasons.append("phq9_index_below_outcome_threshold")
        return done(RecommendedAction.CONTINUE, level)

    scores = [*phq9_history, phq9_total]
    remission = outcomes.is_remission(phq9_total, policy)
    improved = outcomes.sustained_improvement(index, scores, policy)
    lower = step_down_from(level)
    if lower is not None and improved:
        reasons.append("phq9_remission_sustained" if remission else "phq9_response_sustained")
        return done(RecommendedAction.STEP_DOWN, lower)
    if lower is None and outcomes.sustained_discharge_ready(scores, policy):
        if remission:
            reasons.append("phq9_remission_sustained")
        else:
            reasons.append("phq9_response_sustained" if improved else "phq9_below_10_sustained")
        return done(RecommendedAction.DISCHARGE, None)
    if lower is None and improved:
        reasons += ["phq9_response_sustained", "discharge_needs_remission"]
        return done(RecommendedAction.CONTINUE, level)

    if outcomes.is_response(index, phq9_total, policy) or outcomes.is_remission(phq9_total, policy):
        reasons.append("phq9_improving_not_yet_sustained")
    return done(RecommendedAction.CONTINUE, level)


def recommend_after_assessment(
    *,
    determined_level: LevelOfCare,
    self_harm: bool,
    cssrs_risk: CssrsRisk | None,
    evaluation_recorded: bool = False,
) -> Recommendation:
    """A high-risk C-SSRS needs an emergency evaluation before anything else.

    Until the clinician records that evaluation the recommendation is to refer out to
    inpatient care; once recorded, the clinician's determination stands. Item 9 or a
    moderate C-SSRS raises the risk flag and keeps the determined level.
    """
    reasons = risk_reasons(self_harm=self_harm, cssrs_risk=cssrs_risk)
    flags = frozenset({Flag.RISK}) if reasons else frozenset()
    urgent = bool(reasons)
    if cssrs_risk is CssrsRisk.HIGH and not evaluation_recorded:
        return Recommendation(
            RecommendedAction.REFER_OUT, LevelOfCare.INPATIENT, reasons, flags, urgent=True
        )
    if evaluation_recorded:
        reasons.append("emergency_evaluation_recorded")
    if determined_level in (LevelOfCare.INPATIENT, LevelOfCare.RESIDENTIAL):
        reasons.append("higher_level_indicated")
        return Recommendation(
            RecommendedAction.REFER_OUT, determined_level, reasons, flags, urgent=urgent
        )
    reasons.append(f"{determined_level.value}_indicated")
    return Recommendation(RecommendedAction.ENROLL, determined_level, reasons, flags, urgent=urgent)
