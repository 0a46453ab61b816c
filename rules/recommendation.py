"""What the engine recommends after an assessment or a review. Clinicians decide.

The order matters and is the safety order: risk first, then deterioration, then
sustained improvement; attendance adds flags and may require a plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rules import attendance, outcomes
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


@dataclass(frozen=True)
class Recommendation:
    action: RecommendedAction
    target_level: LevelOfCare | None
    reasons: list[str] = field(default_factory=list)
    raise_flags: frozenset[Flag] = frozenset()
    clear_flags: frozenset[Flag] = frozenset()
    urgent: bool = False
    consecutive_low_weeks: int = 0


def recommend_after_review(
    *,
    level: LevelOfCare,
    age_group: AgeGroup,
    baseline_phq9: int | None,
    phq9_history: list[int],
    phq9_total: int | None,
    self_harm: bool,
    cssrs_high: bool,
    hours_attended: float | None,
    weeks_in_period: float,
    consecutive_low_weeks_before: int,
    policy: ProgramPolicy,
) -> Recommendation:
    """`phq9_history` holds the earlier reviews' totals, oldest first, not this one."""
    reasons: list[str] = []
    raise_flags: set[Flag] = set()
    clear_flags: set[Flag] = set()

    low = hours_attended is not None and attendance.below_minimum(
        hours_attended, weeks_in_period, level, age_group, policy
    )
    low_weeks = consecutive_low_weeks_before + 1 if low else 0
    if low:
        reasons.append("attendance_below_minimum")
        raise_flags.add(Flag.LOW_ATTENDANCE)
        if attendance.plan_required(low_weeks, policy):
            reasons.append("attendance_plan_required")
            raise_flags.add(Flag.ATTENDANCE_PLAN_REQUIRED)
    else:
        clear_flags |= {Flag.LOW_ATTENDANCE, Flag.ATTENDANCE_PLAN_REQUIRED}

    def done(
        action: RecommendedAction, target: LevelOfCare | None, urgent: bool = False
    ) -> Recommendation:
        return Recommendation(
            action,
            target,
            reasons,
            frozenset(raise_flags),
            frozenset(clear_flags - raise_flags),
            urgent,
            low_weeks,
        )

    if self_harm or cssrs_high:
        if self_harm:
            reasons.append("phq9_item9_positive")
        if cssrs_high:
            # High-risk C-SSRS means emergency evaluation, whatever the current level.
            reasons += ["cssrs_high_risk", "emergency_evaluation_needed"]
        reasons.append("same_day_safety_assessment_needed")
        raise_flags.add(Flag.RISK)
        target = LevelOfCare.INPATIENT if cssrs_high else step_up_from(level)
        return done(RecommendedAction.STEP_UP, target, urgent=True)

    if phq9_total is None or baseline_phq9 is None:
        return done(RecommendedAction.CONTINUE, level)

    if outcomes.is_deterioration(baseline_phq9, phq9_total, policy):
        reasons.append("phq9_deterioration")
        raise_flags.add(Flag.DETERIORATION)
        return done(RecommendedAction.STEP_UP, step_up_from(level))
    clear_flags.add(Flag.DETERIORATION)

    scores = [*phq9_history, phq9_total]
    if outcomes.sustained_improvement(baseline_phq9, scores, policy):
        reasons.append(
            "phq9_remission_sustained"
            if outcomes.is_remission(phq9_total, policy)
            else "phq9_response_sustained"
        )
        lower = step_down_from(level)
        if lower is None:
            return done(RecommendedAction.DISCHARGE, None)
        return done(RecommendedAction.STEP_DOWN, lower)

    if outcomes.is_response(baseline_phq9, phq9_total, policy) or outcomes.is_remission(
        phq9_total, policy
    ):
        reasons.append("phq9_improving_not_yet_sustained")
    return done(RecommendedAction.CONTINUE, level)


def recommend_after_assessment(
    *, determined_level: LevelOfCare, self_harm: bool, cssrs_high: bool
) -> Recommendation:
    """High-risk C-SSRS means emergency evaluation, not IOP; item 9 raises the flag."""
    reasons: list[str] = []
    flags: set[Flag] = set()
    if self_harm:
        reasons += ["phq9_item9_positive", "same_day_safety_assessment_needed"]
        flags.add(Flag.RISK)
    if cssrs_high:
        reasons += ["cssrs_high_risk", "emergency_evaluation_needed"]
        flags.add(Flag.RISK)
        return Recommendation(
            RecommendedAction.REFER_OUT,
            LevelOfCare.INPATIENT,
            reasons,
            frozenset(flags),
            urgent=True,
        )
    if determined_level in (LevelOfCare.INPATIENT, LevelOfCare.RESIDENTIAL):
        reasons.append("higher_level_indicated")
        return Recommendation(
            RecommendedAction.REFER_OUT,
            determined_level,
            reasons,
            frozenset(flags),
            urgent=self_harm,
        )
    reasons.append(f"{determined_level.value}_indicated")
    return Recommendation(
        RecommendedAction.ENROLL, determined_level, reasons, frozenset(flags), urgent=self_harm
    )
