"""A program's attendance settings: every number the IOP-week rules use.

Kept per program in PostgreSQL (a program-admin sets it; defaults below) because groups,
rosters and billable days belong to the program, not to one episode.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from rules.levels import AgeGroup, LevelOfCare


class AttendanceSource(StrEnum):
    """Where delivered hours and units come from."""

    SESSIONS = "sessions"  # rosters recorded session by session
    REVIEW = "review"  # the weekly review's hours_attended / units_attended


class BillingCode(BaseModel):
    """What a qualifying day of one level is billed as (per-diem HCPCS + revenue code)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    hcpcs: str = Field(min_length=1, max_length=16, pattern=r"^[A-Z0-9]+$")
    revenue_code: str = Field(pattern=r"^0[0-9]{3}$")
    min_hours_per_day: float = Field(default=3.0, ge=0, le=24)
    # H0015: a week under this many qualifying days bills none of them.
    min_days_per_week: int = Field(default=0, ge=0, le=7)


def _default_codes() -> dict[LevelOfCare, BillingCode]:
    return {
        LevelOfCare.IOP: BillingCode(hcpcs="S9480", revenue_code="0905"),
        LevelOfCare.PHP: BillingCode(hcpcs="H0035", revenue_code="0912", min_hours_per_day=4.0),
    }


class AttendancePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: AttendanceSource = AttendanceSource.SESSIONS
    # A roster may be corrected for this long after the session ends.
    correction_window_hours: float = Field(default=72, ge=0, le=24 * 31)
    # Sessions are generated this far ahead of today.
    generate_ahead_days: int = Field(default=28, ge=1, le=366)
    # No-shows in a row that raise `disengaged` and tell the supervisor.
    consecutive_no_shows_disengaged: int = Field(default=2, ge=1, le=20)
    # Absences (no-shows) in the episode that make the engine recommend a level review.
    absences_for_level_review: int = Field(default=4, ge=1, le=100)
    # The care team's follow-up after a no-show is due this long after it.
    no_show_followup_hours: float = Field(default=24, gt=0, le=24 * 14)
    # The concurrent review opens this long before the projected exhaustion day.
    exhaustion_lead_days: int = Field(default=5, ge=0, le=60)
    low_units_threshold: int = Field(default=3, ge=0, le=100)
    weekly_minimum_hours: dict[LevelOfCare, dict[AgeGroup, float]] = Field(
        default_factory=lambda: {
            LevelOfCare.PHP: {AgeGroup.ADULT: 20.0, AgeGroup.ADOLESCENT: 20.0},
            LevelOfCare.IOP: {AgeGroup.ADULT: 9.0, AgeGroup.ADOLESCENT: 6.0},
            LevelOfCare.OP: {AgeGroup.ADULT: 0.0, AgeGroup.ADOLESCENT: 0.0},
        }
    )
    billing: dict[LevelOfCare, BillingCode] = Field(default_factory=_default_codes)

    def minimum_hours(self, level: LevelOfCare, age_group: AgeGroup) -> float:
        return self.weekly_minimum_hours.get(level, {}).get(age_group, 0.0)
