"""Live quality clocks: the HEDIS follow-up windows an episode is inside, as they run.

One model for the carried state, the record written to PostgreSQL (`quality_clocks`) and
the episode view. Dates are the program's local calendar days; no patient data.

- `fuh_7` / `fuh_30` (HEDIS FUH): after a discharge from inpatient, a visit or attended
  session on days 1..7 (1..30) after the discharge day; the discharge day does not count.
- `iet_initiation` (HEDIS IET, substance-use programs): a service on days 0..14 from the
  episode's start.
- `iet_engagement`: two more services on distinct days 1..34 after the initiation day.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class QualityMeasure(StrEnum):
    FUH_7 = "fuh_7"
    FUH_30 = "fuh_30"
    IET_INITIATION = "iet_initiation"
    IET_ENGAGEMENT = "iet_engagement"


class ClockStatus(StrEnum):
    OPEN = "open"
    MET = "met"
    MISSED = "missed"
    # The episode closed while the window was still open: neither met nor missed here.
    ENDED = "ended"


class QualityClock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clock_id: str = Field(description="the measure and its index day, unique per episode")
    measure: QualityMeasure
    index_date: date = Field(description="discharge day, episode start or initiation day")
    first_day: date = Field(description="the first day a service counts")
    last_day: date = Field(description="the last day a service counts")
    closes_at: datetime = Field(description="local midnight after the last day")
    alert_at: datetime | None = Field(
        default=None, description="when the care team hears the window is about to close"
    )
    services_needed: int = Field(default=1, ge=1)
    service_days: list[date] = Field(default_factory=list)
    status: ClockStatus = ClockStatus.OPEN
    met_on: date | None = None
    alerted_at: datetime | None = None
    opened_at: datetime
    closed_at: datetime | None = None
    updated_at: datetime


class QualityClockView(QualityClock):
    """A clock as the episode view shows it, with the local days left to its last day."""

    days_left: int | None = Field(default=None, description="open clocks: days to the last day")
