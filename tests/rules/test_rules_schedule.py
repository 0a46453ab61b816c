"""Review due dates, the due/overdue/escalated ladder, and aftercare check-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.schedule import (
    ReviewStatus,
    aftercare_checkins,
    escalation_at,
    next_review_due,
    reminder_at,
    review_status,
)

DEFAULT = ProgramPolicy()
LAST = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("level", "days"),
    [
        (LevelOfCare.IOP, 7),
        (LevelOfCare.PHP, 7),
        (LevelOfCare.OP, 28),
        (LevelOfCare.INPATIENT, 7),  # not in the table: the 7-day fallback
    ],
)
def test_next_review_due_by_level(level: LevelOfCare, days: int) -> None:
    assert next_review_due(LAST, level, DEFAULT) == LAST + timedelta(days=days)


def test_review_interval_follows_policy() -> None:
    fortnightly = ProgramPolicy(
        review_interval_days={**DEFAULT.review_interval_days, LevelOfCare.IOP: 14.0}
    )
    assert next_review_due(LAST, LevelOfCare.IOP, fortnightly) == LAST + timedelta(days=14)


DUE = datetime(2025, 6, 9, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("offset", "status"),
    [
        (timedelta(seconds=-1), ReviewStatus.NOT_DUE),
        (timedelta(0), ReviewStatus.DUE),
        (timedelta(hours=23, minutes=59), ReviewStatus.DUE),
        (timedelta(hours=24), ReviewStatus.OVERDUE),
        (timedelta(hours=71, minutes=59), ReviewStatus.OVERDUE),
        (timedelta(hours=72), ReviewStatus.ESCALATED),
        (timedelta(days=30), ReviewStatus.ESCALATED),
    ],
)
def test_review_status_ladder(offset: timedelta, status: ReviewStatus) -> None:
    assert review_status(DUE, DUE + offset, DEFAULT) is status


def test_reminder_and_escalation_times_follow_policy() -> None:
    policy = ProgramPolicy(review_grace_hours=12, review_escalation_hours=48)
    assert reminder_at(DUE, policy) == DUE + timedelta(hours=12)
    assert escalation_at(DUE, policy) == DUE + timedelta(hours=48)
    assert review_status(DUE, DUE + timedelta(hours=13), policy) is ReviewStatus.OVERDUE
    assert review_status(DUE, DUE + timedelta(hours=48), policy) is ReviewStatus.ESCALATED


def test_aftercare_checkins_at_7_30_60_90_days() -> None:
    discharged = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert aftercare_checkins(discharged, DEFAULT) == [
        datetime(2025, 1, 8, 12, 0, tzinfo=UTC),
        datetime(2025, 1, 31, 12, 0, tzinfo=UTC),
        datetime(2025, 3, 2, 12, 0, tzinfo=UTC),
        datetime(2025, 4, 1, 12, 0, tzinfo=UTC),
    ]


def test_aftercare_checkins_come_out_in_order_whatever_the_policy_order() -> None:
    discharged = datetime(2025, 1, 1, tzinfo=UTC)
    policy = ProgramPolicy(aftercare_checkin_days=(30, 7, 14))
    assert aftercare_checkins(discharged, policy) == [
        discharged + timedelta(days=7),
        discharged + timedelta(days=14),
        discharged + timedelta(days=30),
    ]
