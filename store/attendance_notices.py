"""Which recorded attendance the episode's engine must hear about, derived from the rosters.

Called inside the roster's transaction, after its lines are written. Only exceptions make
a notice: a no-show, a return after one (or a no-show corrected to attended), a week that
can no longer reach the minimum, units about to run out, a session outside the
authorization, and (engine V3) a session attended while one of the episode's live quality
clocks is open. Each notice has a stable ID and is
kept in `attendance_notices` until the workflow took it (`pending_notices`, `mark_sent`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import asyncpg

from rules.attendance_policy import AttendancePolicy
from rules.attendance_week import (
    PRESENT,
    AttendanceStatus,
    authorizing_grants,
    local_day,
    projected_exhaustion,
    trailing_no_shows,
    units_used,
    week_progress,
    week_start,
)
from rules.levels import AgeGroup, LevelOfCare
from schemas.attendance import AttendanceNotice, AttendanceNoticeKind
from store.billing import current_grant, grants_for
from store.dbtypes import Conn, Db
from store.quality_clocks import episodes_with_open_clocks
from store.week_view import week_slots_of

K = AttendanceNoticeKind


async def derive_notices(
    conn: Conn,
    session: asyncpg.Record,
    episode_ids: Sequence[str],
    *,
    recorded_by: str,
    policy: AttendancePolicy,
    now: datetime,
) -> list[tuple[str, AttendanceNotice]]:
    """The notices the roster just recorded calls for (new ones only), stored as pending."""
    found: list[tuple[str, AttendanceNotice]] = []
    grants = await grants_for(conn, episode_ids)
    group = await conn.fetchrow(
        "SELECT level, age_group, time_zone FROM care_groups WHERE group_id = $1",
        session["group_id"],
    )
    assert group is not None
    level = LevelOfCare(group["level"])
    minimum = policy.minimum_hours(level, AgeGroup(group["age_group"]))
    histories: dict[str, list[asyncpg.Record]] = {e: [] for e in episode_ids}
    for row in await conn.fetch(
        """SELECT a.episode_id, a.session_id, a.status, a.minutes, a.revision, s.session_date,
                  s.starts_at, s.duration_minutes, g.level
             FROM attendance a
             JOIN group_sessions s ON s.session_id = a.session_id
             JOIN care_groups g ON g.group_id = s.group_id
            WHERE a.episode_id = ANY($1::text[]) ORDER BY s.starts_at, s.session_id""",
        list(episode_ids),
    ):
        histories[row["episode_id"]].append(row)
    clocked = await episodes_with_open_clocks(conn, episode_ids)
    monday = week_start(session["session_date"])
    # Every line's week in one statement (a level without a minimum needs none).
    weeks = await week_slots_of(conn, episode_ids, monday) if minimum > 0 else {}
    with_grants = sorted({e for e, lv in grants if lv == level.value})
    upcoming_all = await _upcoming_sessions(conn, with_grants, now)
    for episode_id in episode_ids:
        base = {
            "recorded_by": recorded_by,
            "session_id": session["session_id"],
            "session_date": session["session_date"],
            "disengaged_after": policy.consecutive_no_shows_disengaged,
            "level_review_after": policy.absences_for_level_review,
            "followup_hours": policy.no_show_followup_hours,
        }
        history = histories[episode_id]
        statuses = [AttendanceStatus(r["status"]) for r in history]
        here = next(i for i, r in enumerate(history) if r["session_id"] == session["session_id"])
        status = statuses[here]
        absences = sum(1 for s in statuses if s is AttendanceStatus.NO_SHOW)
        sid = session["session_id"]
        if status is AttendanceStatus.NO_SHOW:
            found.append(
                _for(
                    episode_id,
                    AttendanceNotice(
                        notice_id=f"ns.{sid}",
                        kind=K.NO_SHOW,
                        consecutive_no_shows=trailing_no_shows(statuses[: here + 1]),
                        absences=absences,
                        **base,
                    ),
                )
            )
        elif status in PRESENT and (
            trailing_no_shows(statuses[:here]) > 0
            or await _corrected_from_no_show(conn, sid, episode_id, history[here]["revision"])
        ):
            # Attending again, or a no-show corrected to attended (it was no absence):
            # the engine clears `disengaged` and closes the open follow-up.
            found.append(
                _for(
                    episode_id,
                    AttendanceNotice(
                        notice_id=f"rs.{sid}", kind=K.RESUMED, absences_now=absences, **base
                    ),
                )
            )
        if status in PRESENT and episode_id in clocked:
            # A live quality clock is open (FUH, IET): this session may be its visit.
            found.append(
                _for(episode_id, AttendanceNotice(notice_id=f"at.{sid}", kind=K.ATTENDED, **base))
            )
        # Also after a session attended whole: a week that could not reach the minimum
        # from its start (seated mid-week, sessions cancelled) is below it that day.
        progress = week_progress(weeks.get(episode_id, []), minimum)
        if progress.below_minimum:
            found.append(
                _for(
                    episode_id,
                    AttendanceNotice(
                        notice_id=f"bm.{monday.isoformat()}",
                        kind=K.BELOW_MINIMUM,
                        week_start=monday,
                        week_hours=progress.hours,
                        week_hours_possible=progress.hours_still_possible,
                        week_minimum=minimum,
                        **base,
                    ),
                )
            )
        track = grants.get((episode_id, level.value), [])
        grant = current_grant(track)
        if grant is None:
            continue
        attended = [r for r in history if r["level"] == level.value and r["status"] in _PRESENT]
        days = [r["session_date"] for r in attended]
        new_day = [i == 0 or days[i - 1] != d for i, d in enumerate(days)]
        sessions = list(zip(days, new_day, strict=True))
        by = authorizing_grants(sessions, track)
        mine = [i for i, r in enumerate(attended) if r["session_id"] == sid]
        if mine and by[mine[0]] is None:
            found.append(
                _for(
                    episode_id,
                    AttendanceNotice(notice_id=f"ua.{sid}", kind=K.UNAUTHORIZED_SERVICE, **base),
                )
            )
        used = units_used(sessions, track, grant)
        left = grant.units_approved - used
        planned = upcoming_all.get(episode_id, [])
        upcoming = sorted(set(planned)) if grant.counts_days else planned
        exhaustion = projected_exhaustion(left, upcoming, end_date=grant.end_date)
        today = local_day(now, group["time_zone"])
        soon = (
            exhaustion is not None
            and exhaustion - timedelta(days=policy.exhaustion_lead_days) <= today
        )
        if left <= policy.low_units_threshold or soon:
            found.append(
                _for(
                    episode_id,
                    AttendanceNotice(
                        notice_id=f"ur.{grant.authorization_number}",
                        kind=K.UNITS_RUNNING_OUT,
                        units_used=used,
                        units_left=left,
                        projected_exhaustion=exhaustion,
                        **base,
                    ),
                )
            )
    return await _keep_new(conn, found, now)


_PRESENT = tuple(s.value for s in PRESENT)


async def _corrected_from_no_show(
    conn: Conn, session_id: str, episode_id: str, revision: int
) -> bool:
    """Whether this line's value before the correction was a no-show (read only for a
    corrected line: a first recording has no earlier value)."""
    if revision <= 1:
        return False
    before = await conn.fetchval(
        """SELECT status FROM attendance_audit
           WHERE session_id = $1 AND episode_id = $2 AND revision = $3""",
        session_id,
        episode_id,
        revision - 1,
    )
    return bool(before == AttendanceStatus.NO_SHOW.value)


async def _upcoming_sessions(
    conn: Conn, episode_ids: Sequence[str], now: datetime
) -> dict[str, list[date]]:
    """Per episode, the day of every session its groups still hold from now on, in order."""
    found: dict[str, list[date]] = {}
    if not episode_ids:
        return found
    rows = await conn.fetch(
        """SELECT ga.episode_id, s.session_date FROM group_assignments ga
             JOIN group_sessions s ON s.group_id = ga.group_id
            WHERE ga.episode_id = ANY($1::text[]) AND ga.status = 'assigned'
              AND s.starts_at > $2 AND s.cancelled_at IS NULL
            ORDER BY s.starts_at""",
        list(episode_ids),
        now,
    )
    for r in rows:
        found.setdefault(r["episode_id"], []).append(r["session_date"])
    return found


def _for(episode_id: str, notice: AttendanceNotice) -> tuple[str, AttendanceNotice]:
    return episode_id, notice


async def _keep_new(
    conn: Conn, notices: list[tuple[str, AttendanceNotice]], now: datetime
) -> list[tuple[str, AttendanceNotice]]:
    kept: list[tuple[str, AttendanceNotice]] = []
    for episode_id, notice in notices:
        inserted = await conn.fetchval(
            """INSERT INTO attendance_notices (notice_id, episode_id, kind, body, created_at)
               VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING RETURNING true""",
            notice.notice_id,
            episode_id,
            notice.kind.value,
            notice.model_dump_json(),
            now,
        )
        if inserted:
            kept.append((episode_id, notice))
    return kept


async def pending_notices(db: Db, episode_ids: Sequence[str]) -> list[tuple[str, AttendanceNotice]]:
    """Notices not yet taken by the episodes' engines, oldest first."""
    rows = await db.fetch(
        """SELECT episode_id, body FROM attendance_notices
           WHERE delivered_at IS NULL AND episode_id = ANY($1::text[])
           ORDER BY created_at, notice_id""",
        list(episode_ids),
    )
    return [(r["episode_id"], AttendanceNotice.model_validate_json(r["body"])) for r in rows]


async def mark_sent(
    db: Db, episode_id: str, notice_id: str, *, outcome: str, now: datetime
) -> None:
    await db.execute(
        """UPDATE attendance_notices SET delivered_at = $3, outcome = $4
           WHERE episode_id = $1 AND notice_id = $2""",
        episode_id,
        notice_id,
        now,
        outcome,
    )


async def episodes_with_pending(db: Db, *, limit: int = 200) -> list[str]:
    """Episodes with a notice their engine has not taken yet, the longest waiting first."""
    rows = await db.fetch(
        """SELECT episode_id FROM attendance_notices WHERE delivered_at IS NULL
           GROUP BY episode_id ORDER BY min(created_at), episode_id LIMIT $1""",
        limit,
    )
    return [r["episode_id"] for r in rows]
