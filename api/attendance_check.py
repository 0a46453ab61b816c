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
from store import attendance as attendance_store
from store import billing
from store import groups as store


async def review_matches_attendance(
    pool: asyncpg.Pool,
    program_id: str,
    episode_id: str,
    review: ReviewSubmission,
    now: datetime,
) -> None:
    """For a program whose attendance comes from sessions, a review's weekly summary must
    agree with the rosters of its period (when any were recorded): 422 naming both numbers."""
    policy = await records_call(store.get_policy(pool, program_id))
    if policy.source is not AttendanceSource.SESSIONS:
        return
    since = now - timedelta(days=7 * review.period_weeks)
    found = await records_call(attendance_store.delivered_between(pool, episode_id, since, now))
    if found.lines == 0:
        return
    grants = await records_call(billing.grants_for(pool, [episode_id]))
    by_session = any(not g.counts_days for g in grants.values())
    units = found.sessions if by_session else found.days
    why = review_contradiction(review.hours_attended, review.units_attended, found.hours, units)
    if why is not None:
        raise ApiProblem(
            422,
            "review-contradicts-attendance",
            why,
            errors=[FieldError(field="body.hours_attended", message=why)],
        )
