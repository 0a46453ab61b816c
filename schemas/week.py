"""One episode's IOP week as the API and the workbench show it, derived from the rosters:
its sessions, hours against the minimum, billable days and units used / left."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from rules.attendance_week import AttendanceStatus
from rules.levels import LevelOfCare


class WeekSession(BaseModel):
    session_id: str
    group_id: str
    starts_at: datetime
    duration_minutes: int
    status: AttendanceStatus | None
    minutes: int | None


class UnitsView(BaseModel):
    authorization_number: str
    units_approved: int
    units_used: int
    units_left: int
    end_date: date
    projected_exhaustion: date | None


class WeekView(BaseModel):
    episode_id: str
    week_start: date
    level: LevelOfCare | None
    sessions: list[WeekSession]
    scheduled: int
    attended: int
    missed: int
    hours: float
    hours_still_possible: float
    minimum_hours: float
    below_minimum: bool
    units: UnitsView | None
    billable_days: int = 0
    days_not_billable: int = 0
