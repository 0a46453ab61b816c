"""Groups, sessions, assignments and rosters: API bodies and the rows read back."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.attendance_week import AttendanceStatus, Modality
from rules.levels import AgeGroup, LevelOfCare
from schemas.episode import OpaqueId
from schemas.text import PlainText

GROUP_LEVELS = (LevelOfCare.OP, LevelOfCare.IOP, LevelOfCare.PHP)
# A scheduled session's ID is `{group_id}.{YYYYMMDD}` and a session path takes 64 at most.
GROUP_ID_MAX = 64 - len(".YYYYMMDD")


def _local_time_schema(schema: dict[str, Any]) -> None:
    """A wall-clock time with no offset: JSON Schema's "time" format demands one."""
    schema.pop("format", None)
    schema["pattern"] = r"^[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?$"


class GroupSpec(BaseModel):
    """A group and its weekly schedule, as a program-admin defines it."""

    model_config = ConfigDict(extra="forbid")
    group_id: Annotated[
        str,
        Field(
            min_length=1,
            max_length=GROUP_ID_MAX,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
            description="at most 55 characters: a scheduled session's ID is this and .YYYYMMDD",
        ),
    ]
    program_id: OpaqueId
    name: PlainText = Field(min_length=1, max_length=200)
    level: LevelOfCare
    weekdays: list[int] = Field(
        min_length=1, max_length=7, description="ISO weekdays, 1 = Monday … 7 = Sunday"
    )
    start_time: time = Field(
        description="local start time in time_zone, HH:MM or HH:MM:SS",
        json_schema_extra=_local_time_schema,
    )
    duration_minutes: int = Field(ge=15, le=720)
    modality: Modality = Modality.IN_PERSON
    capacity: int = Field(ge=1, le=100)
    facilitator_ref: OpaqueId = Field(description="opaque reference to the facilitator")
    time_zone: PlainText = Field(default="UTC", min_length=1, max_length=64)
    age_group: AgeGroup = Field(
        default=AgeGroup.ADULT, description="the population served (picks the weekly minimum)"
    )

    @field_validator("weekdays")
    @classmethod
    def _iso_weekdays(cls, value: list[int]) -> list[int]:
        if any(day < 1 or day > 7 for day in value) or len(set(value)) != len(value):
            raise ValueError("weekdays are distinct ISO weekdays 1..7")
        return sorted(value)

    @field_validator("level")
    @classmethod
    def _program_level(cls, value: LevelOfCare) -> LevelOfCare:
        if value not in GROUP_LEVELS:
            raise ValueError("a group's level is op, iop or php")
        return value

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError("not an IANA time zone")
        ZoneInfo(value)
        return value


class GroupChange(BaseModel):
    """What may change on a group (its schedule changes only future sessions)."""

    model_config = ConfigDict(extra="forbid")
    capacity: int | None = Field(default=None, ge=1, le=100)
    facilitator_ref: OpaqueId | None = None
    name: PlainText | None = Field(default=None, min_length=1, max_length=200)


class Group(GroupSpec):
    group_id: str  # as stored (a group made before the limit reads back unchanged)
    seats_used: int = 0
    seats_free: int = 0
    waiting: int = 0
    created_at: datetime


class SessionKind(StrEnum):
    SCHEDULED = "scheduled"
    AD_HOC = "ad_hoc"


class AdHocSession(BaseModel):
    model_config = ConfigDict(extra="forbid")
    session_id: OpaqueId
    starts_at: datetime
    duration_minutes: int = Field(ge=15, le=720)
    modality: Modality | None = None

    @field_validator("starts_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("starts_at needs a UTC offset")
        return value


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("a reason must say why: not only spaces")
    return value


class Cancellation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: PlainText = Field(min_length=1, max_length=500)

    @field_validator("reason")
    @classmethod
    def _reason_said(cls, value: str) -> str:
        return _not_blank(value) or value


class Session(BaseModel):
    session_id: str
    group_id: str
    program_id: str
    session_date: date
    starts_at: datetime
    duration_minutes: int
    modality: Modality
    kind: SessionKind
    cancelled: bool = False
    cancel_reason: str | None = None


class AssignmentStatus(StrEnum):
    ASSIGNED = "assigned"
    WAITING = "waiting"
    ENDED = "ended"


class AssignmentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    episode_id: OpaqueId
    wait_if_full: bool = Field(
        default=False, description="join the waiting list instead of a 409 when the group is full"
    )


class Assignment(BaseModel):
    group_id: str
    episode_id: str
    status: AssignmentStatus
    level: LevelOfCare
    requested_at: datetime
    assigned_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    waiting_position: int | None = None


class RosterEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    episode_id: OpaqueId
    status: AttendanceStatus
    minutes: int | None = Field(default=None, ge=0, le=720)
    modality: Modality | None = None


class Roster(BaseModel):
    """A whole session's attendance, recorded all or nothing."""

    model_config = ConfigDict(extra="forbid")
    recorded_by: OpaqueId
    entries: list[RosterEntry] = Field(min_length=1, max_length=200)
    correction_reason: PlainText | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="required when any entry changes what was recorded before",
    )

    @field_validator("correction_reason")
    @classmethod
    def _reason_said(cls, value: str | None) -> str | None:
        return _not_blank(value)

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        seen: set[str] = set()
        for entry in self.entries:
            if entry.episode_id in seen:
                raise ValueError(f"episode '{entry.episode_id}' appears twice in the roster")
            seen.add(entry.episode_id)
        return self


class AttendanceRecord(BaseModel):
    session_id: str
    group_id: str
    episode_id: str
    session_date: date
    starts_at: datetime
    status: AttendanceStatus
    minutes: int
    modality: Modality
    revision: int
    recorded_by: str
    recorded_at: datetime


class RosterOutcome(StrEnum):
    RECORDED = "recorded"
    UNCHANGED = "unchanged"
    CORRECTED = "corrected"


class RosterLine(BaseModel):
    episode_id: str
    outcome: RosterOutcome
    revision: int


class RosterResult(BaseModel):
    session_id: str
    lines: list[RosterLine]
    notices_sent: int = Field(default=0, description="exceptions the episodes' engines took")
    notices_pending: int = Field(
        default=0, description="exceptions kept for the next delivery (the engine did not answer)"
    )
