"""What a weekly review is checked against, read in one statement (one round trip).

The program's attendance policy (`program_attendance_policy`, 0400), what the rosters
record for the episode over the review's period (`store.attendance.delivered_between`'s
sums), and whether any of its standing approvals counts sessions rather than days
(`store.billing.grants_for`'s latest grant per level). The three used to be three
statements on a review's path; they are the same reads, side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rules.attendance_policy import AttendancePolicy
from store.attendance import Delivered
from store.billing import GRANT_STANDS
from store.dbtypes import Db


@dataclass(frozen=True)
class ReviewAttendance:
    policy: AttendancePolicy
    delivered: Delivered
    # A standing approval counts sessions (or says nothing): units are sessions, not days.
    units_are_sessions: bool


_SQL = """
SELECT
    (SELECT policy FROM program_attendance_policy WHERE program_id = $1) AS policy,
    d.lines, d.minutes, d.days, d.sessions,
    (SELECT coalesce(bool_or(g.unit_type IS DISTINCT FROM 'days'), false) FROM (
        SELECT DISTINCT ON (level) unit_type
        FROM authorizations
        WHERE episode_id = $2 AND status = ANY($5::text[])
          AND start_date IS NOT NULL AND end_date IS NOT NULL AND units_approved IS NOT NULL
        ORDER BY level, recorded_at DESC, id DESC
    ) g) AS units_are_sessions
FROM (
    SELECT count(*) AS lines, coalesce(sum(a.minutes), 0) AS minutes,
        count(DISTINCT s.session_date) FILTER (WHERE a.minutes > 0) AS days,
        count(*) FILTER (WHERE a.minutes > 0) AS sessions
    FROM attendance a JOIN group_sessions s ON s.session_id = a.session_id
    WHERE a.episode_id = $2 AND s.starts_at >= $3 AND s.starts_at < $4
) d
"""


async def review_attendance(
    db: Db, program_id: str, episode_id: str, since: datetime, until: datetime
) -> ReviewAttendance:
    """The policy of `program_id` (its defaults when none is stored), the rosters of
    `episode_id` in [since, until), and how its approvals count units: one statement."""
    row = await db.fetchrow(_SQL, program_id, episode_id, since, until, GRANT_STANDS)
    assert row is not None  # an aggregate over the rosters always returns one row
    raw = row["policy"]
    return ReviewAttendance(
        policy=AttendancePolicy() if raw is None else AttendancePolicy.model_validate_json(raw),
        delivered=Delivered(
            row["lines"], round(row["minutes"] / 60, 2), row["days"], row["sessions"]
        ),
        units_are_sessions=row["units_are_sessions"],
    )
