"""A program's policy: every number the rules use, with DESIGN.md's defaults.

A program changes its review interval or its minimums by sending a different policy
with the episode; no code changes. The policy travels inside the workflow's input.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rules.levels import AgeGroup, LevelOfCare


class ProgramPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # Reviews: how often, and when a missing one is chased.
    review_interval_days: dict[LevelOfCare, float] = Field(
        default_factory=lambda: {LevelOfCare.PHP: 7.0, LevelOfCare.IOP: 7.0, LevelOfCare.OP: 28.0}
    )
    review_grace_hours: float = 24
    review_escalation_hours: float = 72

    # Weekly clinical-hour minimums (IOP adults 9, adolescents 6; PHP 20).
    weekly_minimum_hours: dict[LevelOfCare, dict[AgeGroup, float]] = Field(
        default_factory=lambda: {
            LevelOfCare.PHP: {AgeGroup.ADULT: 20.0, AgeGroup.ADOLESCENT: 20.0},
            LevelOfCare.IOP: {AgeGroup.ADULT: 9.0, AgeGroup.ADOLESCENT: 6.0},
            LevelOfCare.OP: {AgeGroup.ADULT: 0.0, AgeGroup.ADOLESCENT: 0.0},
        }
    )
    low_attendance_weeks_needing_plan: int = 2

    # Outcomes (PHQ-9).
    response_drop_fraction: float = 0.5
    remission_below: int = 5
    meaningful_change: int = 5
    consecutive_reviews_for_step_down: int = 2
    outcome_index_min_phq9: int = 10
    discharge_below_phq9: int = 10
    reviews_without_measures_for_flag: int = 2

    # Safety: overrides need real text; an unassessed risk flag escalates.
    override_min_chars: int = 15
    risk_escalation_hours: float = 4
    risk_escalation_end_of_local_day: bool = True

    # Utilization management.
    levels_requiring_authorization: frozenset[LevelOfCare] = frozenset(
        {LevelOfCare.IOP, LevelOfCare.PHP}
    )
    units_requested: int = 20
    low_units_threshold: int = 3
    expiry_warning_days: float = 3
    payer_decision_days_standard: float = 7
    payer_decision_hours_expedited: float = 72
    appeal_window_days: float = 60
    # The payer could not be asked (outage): ask again after this long, until it answers.
    eligibility_retry_hours: float = 4

    # Waiting on others.
    financial_hold_days: float = 30
    external_wait_days: float = 90
    external_followup_days: float = 7

    # Aftercare check-ins, in days after discharge (HEDIS FUH 7/30, alumni 60/90).
    aftercare_checkin_days: tuple[float, ...] = (7, 30, 60, 90)

    # The program's local calendar, and when patient messages may go out (local hours).
    time_zone: str = "UTC"
    patient_message_window_hours: tuple[float, float] = (9, 20)

    # 42 CFR Part 2: patient messages do not even name the program.
    part2_program: bool = False

    def minimum_hours(self, level: LevelOfCare, age_group: AgeGroup) -> float:
        return self.weekly_minimum_hours.get(level, {}).get(age_group, 0.0)

    def review_interval(self, level: LevelOfCare) -> float:
        return self.review_interval_days.get(level, 7.0)

    def requires_authorization(self, level: LevelOfCare) -> bool:
        return level in self.levels_requiring_authorization
