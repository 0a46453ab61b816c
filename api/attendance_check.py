"""A weekly review checked against the rosters, for programs whose attendance comes from
sessions: delivered hours and units are derived, so a typed summary must agree."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from api.mutations import records_call
from api.problems import ApiProblem, FieldError
from rules.attendance_policy import AttendanceSource
from rules.attendance_week import review_contradiction
from schemas.submissions import ReviewSubmission
from store.review_attendance import review_attendance


async def review_matches_attendance(
    pool: asyncpg.Pool,
    program_id: str,
    episode_id: str,
    review: ReviewSubmission,
    now: datetime,
) -> None:
    """For a program whose attendance comes from sessions, a review's weekly summary must
    agree with the rosters of its period (when any were recorded): 422 naming both numbers.
    The policy, the rosters and the approvals' unit are read in one round trip."""
    since = now - timedelta(days=7 * review.period_weeks)
    found = await records_call(review_attendance(pool, program_id, episode_id, since, now))
    if found.policy.source is not AttendanceSource.SESSIONS or found.delivered.lines == 0:
        return
    delivered = found.delivered
    units = delivered.sessions if found.units_are_sessions else delivered.days
    why = review_contradiction(review.hours_attended, review.units_attended, delivered.hours, units)
    if why is not None:
        raise ApiProblem(
            422,
            "review-contradicts-attendance",
            why,
            errors=[FieldError(field="body.hours_attended", message=why)],
        )
