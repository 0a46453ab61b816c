"""The program report's figures: each with its numbers and the text of how it is computed.

Counts and rates only: no episode IDs, no patient data, no free text from the records.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from rules.outcome_policy import OutcomePolicy


class _Figure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: str
    method: str = Field(description="how the figure is computed, in words")


class CountFigure(_Figure):
    value: int


class RateFigure(_Figure):
    numerator: int = Field(description="episodes (or events) that met the measure")
    denominator: int = Field(description="met + not met + lacking a score")
    lacking: int = Field(description="in the denominator with no score in the window")
    pending: int = Field(description="window still open with no score yet: not counted")
    rate: float | None = Field(description="numerator / denominator; null for 0 / 0")


class LevelSpread(BaseModel):
    model_config = ConfigDict(extra="forbid")
    episodes: int
    median_days: float | None
    q1_days: float | None
    q3_days: float | None


class LengthOfStayFigure(_Figure):
    levels: dict[str, LevelSpread]


class BreakdownFigure(_Figure):
    counts: dict[str, int]


class ProgramReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program_id: str
    period_from: date
    period_to: date = Field(description="inclusive")
    as_of: datetime
    substance_use_program: bool
    policy: OutcomePolicy
    episodes_started: CountFigure
    episodes_ended: CountFigure
    length_of_stay: LengthOfStayFigure
    endings: BreakdownFigure
    response_at_discharge: RateFigure
    remission_at_discharge: RateFigure
    remission_6_months: RateFigure
    remission_12_months: RateFigure
    response_6_months: RateFigure
    drr_e_followup: RateFigure
    step_ups_after_step_down: RateFigure
    fuh_7_days: RateFigure
    fuh_30_days: RateFigure
    iet_initiation: RateFigure | None = Field(description="substance-use programs only")
    iet_engagement: RateFigure | None = Field(description="substance-use programs only")
    sources: str = Field(description="where the numbers come from")

    def rates(self) -> dict[str, RateFigure]:
        found: dict[str, RateFigure] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, RateFigure):
                found[name] = value
        return found
