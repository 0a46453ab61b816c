"""When a review falls due, when it is overdue, and when aftercare check-ins fall."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy


class ReviewStatus(StrEnum):
    NOT_DUE = "not_due"
    DUE = "due"
    OVERDUE = "overdue"
    ESCALATED = "escalated"


def next_review_due(last: datetime, level: LevelOfCare, policy: ProgramPolicy) -> datetime:
    return last + timedelta(days=policy.review_interval(level))


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
    return [discharged_at + timedelta(days=d) for d in sorted(policy.aftercare_checkin_days)]
