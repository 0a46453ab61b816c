"""What the API tells a running episode about its attendance: only the exceptions.

Attendance that goes as scheduled stays in PostgreSQL; a no-show, a return after one, a
week that can no longer reach the minimum, units about to run out, or a session outside
the authorization is sent as one `record_attendance` update. No patient data: opaque
IDs, dates and counts.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import ConfigDict, Field

from schemas.episode import OpaqueId
from schemas.submissions import Submission, SubmissionId


class AttendanceNoticeKind(StrEnum):
    NO_SHOW = "no_show"
    RESUMED = "resumed"
    BELOW_MINIMUM = "below_minimum"
    UNITS_RUNNING_OUT = "units_running_out"
    UNAUTHORIZED_SERVICE = "unauthorized_service"
    # Engine V3: a session attended while a live quality clock is open (it may count).
    ATTENDED = "attended"


class AttendanceNotice(Submission):
    model_config = ConfigDict(extra="forbid")
    id_field = "notice_id"
    actor_field = "recorded_by"
    notice_id: SubmissionId
    kind: AttendanceNoticeKind
    recorded_by: OpaqueId
    session_id: OpaqueId
    session_date: date
    # Counts derived from the rosters when the notice was made.
    consecutive_no_shows: int = Field(default=0, ge=0, le=1000)
    absences: int = Field(default=0, ge=0, le=10_000)
    # On a `resumed` notice: the episode's no-shows in the records when it was made (a
    # no-show corrected to attended no longer counts). None on notices made before it.
    absences_now: int | None = Field(default=None, ge=0, le=10_000)
    week_start: date | None = None
    week_hours: float | None = Field(default=None, ge=0, le=168)
    week_hours_possible: float | None = Field(default=None, ge=0, le=168)
    week_minimum: float | None = Field(default=None, ge=0, le=168)
    units_used: int | None = Field(default=None, ge=0, le=10_000)
    units_left: int | None = Field(default=None, ge=-10_000, le=10_000)
    projected_exhaustion: date | None = None
    # The program's attendance policy at the time (rules/attendance_policy.py).
    disengaged_after: int = Field(default=2, ge=1, le=20)
    level_review_after: int = Field(default=4, ge=1, le=100)
    followup_hours: float = Field(default=24, gt=0, le=24 * 14)
