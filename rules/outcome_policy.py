"""The numbers the outcome measures and the program report use; every one a setting.

Thresholds default to the program policy's own (`from_program`), so an episode's
response and remission mean the same in its reviews and in the report. Windows are in
days from the index date (day 0); both ends are inclusive.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rules.policy import PHQ9_MAX, ProgramPolicy

Days = int


class Window(BaseModel):
    """Days after the index date, both ends inclusive."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    first_day: Days = Field(ge=0, le=3650)
    last_day: Days = Field(ge=0, le=3650)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last_day < self.first_day:
            raise ValueError("last_day must not be before first_day")
        return self

    def holds(self, days: int) -> bool:
        return self.first_day <= days <= self.last_day

    @classmethod
    def around(cls, centre: int, tolerance: int) -> Window:
        return cls(first_day=max(centre - tolerance, 0), last_day=centre + tolerance)


class OutcomePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # PHQ-9 thresholds (defaults: DESIGN.md's, the same as ProgramPolicy's).
    response_drop_fraction: float = Field(default=0.5, gt=0, le=1)
    remission_below: int = Field(default=5, ge=1, le=PHQ9_MAX)
    meaningful_change: int = Field(default=5, ge=1, le=PHQ9_MAX)
    # CMS159 / MIPS 370 / 411 denominators: an index PHQ-9 above 9.
    followup_index_above: int = Field(default=9, ge=0, le=PHQ9_MAX)

    # Follow-up windows from the index PHQ-9's date.
    remission_12_months: Window = Window.around(365, 60)
    remission_6_months: Window = Window.around(182, 60)
    response_6_months: Window = Window.around(182, 60)
    drr_e_followup: Window = Window(first_day=120, last_day=240)

    # HEDIS FUH after a discharge from inpatient; the discharge day itself is day 0.
    fuh_short_days: int = Field(default=7, ge=1, le=90)
    fuh_long_days: int = Field(default=30, ge=1, le=365)
    # HEDIS IET for substance-use programs, from the episode's start (day 0).
    iet_initiation_days: int = Field(default=14, ge=0, le=90)
    iet_engagement_days: int = Field(default=34, ge=1, le=180)
    iet_engagement_services: int = Field(default=2, ge=1, le=20)

    # Step-ups that follow a step-down closely (a step-down that did not hold).
    step_up_after_step_down_days: int = Field(default=30, ge=1, le=365)

    # The longest period one report may cover.
    report_max_days: int = Field(default=366, ge=1, le=3660)

    @model_validator(mode="after")
    def _fuh_windows(self) -> Self:
        if self.fuh_long_days < self.fuh_short_days:
            raise ValueError("fuh_long_days must be at least fuh_short_days")
        return self

    @classmethod
    def from_program(cls, policy: ProgramPolicy, **overrides: object) -> OutcomePolicy:
        """The report's policy with the program's own PHQ-9 thresholds."""
        base = {
            "response_drop_fraction": policy.response_drop_fraction,
            "remission_below": policy.remission_below,
            "meaningful_change": policy.meaningful_change,
        }
        return cls.model_validate({**base, **overrides})
