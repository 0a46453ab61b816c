"""When a review falls due, when it is overdue, and when aftercare check-ins fall."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from rules import localtime
from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy


class ReviewStatus(StrEnum):
    NOT_DUE = "not_due"
    DUE = "due"
    OVERDUE = "overdue"
    ESCALATED = "escalated"


def next_review_due(last: datetime, level: LevelOfCare, policy: ProgramPolicy) -> datetime:
    """The interval later on the program's local wall clock (the same hour across DST)."""
    return localtime.add_local_days(last, policy.review_interval(level), policy.time_zone)


def reminder_at(due: datetime, policy: ProgramPolicy) -> datetime:
    return due + timedelta(hours=policy.review_grace_hours)


def escalation_at(due: datetime, policy: ProgramPolicy) -> datetime:
    return due + timedelta(hours=policy.review_escalation_hours)


def review_status(due: datetime, now: datetime, policy: ProgramPolicy) -> ReviewStatus:
    if now < due:
        return ReviewStatus.NOT_DUE
    if now < reminder_at(due, policy):
        return ReviewStatus.DUE
    if now < escalation_at(due, policy):
        return ReviewStatus.OVERDUE
    return ReviewStatus.ESCALATED


def aftercare_checkins(discharged_at: datetime, policy: ProgramPolicy) -> list[datetime]:
    """Local calendar days after discharge, moved into the patient-message window if set."""
    tz = policy.time_zone
    days = sorted(policy.aftercare_checkin_days)
    moments = [localtime.add_local_days(discharged_at, d, tz) for d in days]
    window = policy.patient_message_window_hours
    if window is None:
        return moments
    return [localtime.into_window(m, tz, *window) for m in moments]


def questionnaire_at(due: datetime, policy: ProgramPolicy) -> datetime:
    """When the review's questionnaire reaches the patient: at `due`, inside the window."""
    window = policy.patient_message_window_hours
    if window is None:
        return due
    return localtime.into_window(due, policy.time_zone, *window)
