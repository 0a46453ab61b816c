"""One episode's IOP week, derived from the rosters: its sessions, hours against the
minimum, and units used / left with the projected exhaustion day."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from asyncpg import Record

from rules.attendance_policy import AttendancePolicy
from rules.attendance_week import (
    PRESENT,
    SessionSlot,
    local_day,
    projected_exhaustion,
    units_used,
    week_progress,
    week_start,
)
from rules.levels import AgeGroup, LevelOfCare
from schemas.week import UnitsView, WeekSession, WeekView
from store.billing import billable_days, current_grant, grants_for
from store.dbtypes import Db

__all__ = [
    "UnitsView",
    "WeekSession",
    "WeekView",
    "local_today",
    "seated_zone",
    "week_session_rows",
    "week_slots_of",
    "week_view",
]


async def seated_zone(db: Db, episode_id: str) -> str | None:
    """The time zone of the episode's latest group (seated or waiting, then or now);
    None if it was never assigned to a group."""
    zone: str | None = await db.fetchval(
        """SELECT g.time_zone FROM group_assignments ga
             JOIN care_groups g ON g.group_id = ga.group_id
            WHERE ga.episode_id = $1 ORDER BY ga.requested_at DESC, ga.id DESC LIMIT 1""",
        episode_id,
    )
    return zone


async def local_today(db: Db, episode_id: str, now: datetime) -> date:
    """Today in the zone of the episode's groups: 'this week' is their local week."""
    return local_day(now, await seated_zone(db, episode_id))


async def week_view(
    db: Db, episode_id: str, day: date, policy: AttendancePolicy, now: datetime
) -> WeekView:
    monday = week_start(day)
    rows = await week_session_rows(db, episode_id, monday)
    level = LevelOfCare(rows[0]["level"]) if rows else None
    age = AgeGroup(rows[0]["age_group"]) if rows else AgeGroup.ADULT
    minimum = policy.minimum_hours(level, age) if level else 0.0
    progress = week_progress(
        [SessionSlot(r["starts_at"], r["duration_minutes"], r["minutes"]) for r in rows], minimum
    )
    return WeekView(
        episode_id=episode_id,
        week_start=monday,
        level=level,
        sessions=[
            WeekSession(
                session_id=r["session_id"],
                group_id=r["group_id"],
                starts_at=r["starts_at"],
                duration_minutes=r["duration_minutes"],
                status=r["status"],
                minutes=r["minutes"],
            )
            for r in rows
        ],
        scheduled=progress.sessions_scheduled,
        attended=progress.sessions_attended,
        missed=progress.sessions_missed,
        hours=progress.hours,
        hours_still_possible=progress.hours_still_possible,
        minimum_hours=minimum,
        below_minimum=progress.below_minimum,
        units=await _units(db, episode_id, level, now) if level else None,
        **await _billable(db, episode_id, rows, monday, policy),
    )


async def _billable(
    db: Db, episode_id: str, rows: list[Record], monday: date, policy: AttendancePolicy
) -> dict[str, int]:
    """This week's billable-day decisions for the episode (the export's, per day)."""
    if not rows:
        return {}
    program = await db.fetchval(
        "SELECT program_id FROM care_groups WHERE group_id = $1", rows[0]["group_id"]
    )
    lines = [
        line
        for line in await billable_days(db, program, monday, monday + timedelta(days=6), policy)
        if line.episode_id == episode_id
    ]
    billable = sum(1 for line in lines if line.billable)
    return {"billable_days": billable, "days_not_billable": len(lines) - billable}


async def _units(db: Db, episode_id: str, level: LevelOfCare, now: datetime) -> UnitsView | None:
    grants = (await grants_for(db, [episode_id])).get((episode_id, level.value), [])
    grant = current_grant(grants)
    if grant is None:
        return None
    attended = await db.fetch(
        """SELECT s.session_date FROM attendance a
             JOIN group_sessions s ON s.session_id = a.session_id
             JOIN care_groups g ON g.group_id = s.group_id
            WHERE a.episode_id = $1 AND g.level = $2 AND a.status = ANY($3::text[])
            ORDER BY s.starts_at""",
        episode_id,
        level.value,
        [p.value for p in PRESENT],
    )
    days = [r["session_date"] for r in attended]
    new_day = [i == 0 or days[i - 1] != d for i, d in enumerate(days)]
    used = units_used(list(zip(days, new_day, strict=True)), grants, grant)
    upcoming = [
        r["session_date"]
        for r in await db.fetch(
            """SELECT s.session_date FROM group_assignments ga
                 JOIN group_sessions s ON s.group_id = ga.group_id
                WHERE ga.episode_id = $1 AND ga.status = 'assigned'
                  AND s.starts_at > $2 AND s.cancelled_at IS NULL ORDER BY s.starts_at""",
            episode_id,
            now,
        )
    ]
    if grant.counts_days:
        upcoming = sorted(set(upcoming))
    left = grant.units_approved - used
    return UnitsView(
        authorization_number=grant.authorization_number,
        units_approved=grant.units_approved,
        units_used=used,
        units_left=left,
        end_date=grant.end_date,
        projected_exhaustion=projected_exhaustion(left, upcoming, end_date=grant.end_date),
    )


async def week_slots_of(
    db: Db, episode_ids: Sequence[str], monday: date
) -> dict[str, list[SessionSlot]]:
    """Per episode, its sessions in the week from `monday` as `week_session_rows` finds
    them (its groups while seated, not cancelled), with what was recorded: one statement."""
    rows = await db.fetch(
        """SELECT DISTINCT ga.episode_id, s.session_id, s.starts_at, s.duration_minutes,
                  a.minutes
             FROM group_assignments ga
             JOIN group_sessions s ON s.group_id = ga.group_id
             LEFT JOIN attendance a ON a.session_id = s.session_id AND a.episode_id = ga.episode_id
            WHERE ga.episode_id = ANY($1::text[]) AND ga.assigned_at IS NOT NULL
              AND s.session_date BETWEEN $2 AND $3 AND s.cancelled_at IS NULL
              AND ga.assigned_at <= s.starts_at + make_interval(mins => s.duration_minutes)
              AND (ga.ended_at IS NULL OR ga.ended_at > s.starts_at)
            ORDER BY ga.episode_id, s.starts_at""",
        list(episode_ids),
        monday,
        monday + timedelta(days=6),
    )
    found: dict[str, list[SessionSlot]] = {}
    for r in rows:
        found.setdefault(r["episode_id"], []).append(
            SessionSlot(r["starts_at"], r["duration_minutes"], r["minutes"])
        )
    return found


async def week_session_rows(db: Db, episode_id: str, monday: date) -> list[Record]:
    """The episode's sessions in the week from `monday` (its groups while it was seated,
    not cancelled), each with what its roster recorded and its group's level."""
    return await db.fetch(
        """SELECT DISTINCT s.session_id, s.group_id, s.starts_at, s.duration_minutes,
                  a.status, a.minutes, g.level, g.age_group
             FROM group_assignments ga
             JOIN care_groups g ON g.group_id = ga.group_id
             JOIN group_sessions s ON s.group_id = ga.group_id
             LEFT JOIN attendance a ON a.session_id = s.session_id AND a.episode_id = ga.episode_id
            WHERE ga.episode_id = $1 AND ga.assigned_at IS NOT NULL
              AND s.session_date BETWEEN $2 AND $3 AND s.cancelled_at IS NULL
              AND ga.assigned_at <= s.starts_at + make_interval(mins => s.duration_minutes)
              AND (ga.ended_at IS NULL OR ga.ended_at > s.starts_at)
            ORDER BY s.starts_at""",
        episode_id,
        monday,
        monday + timedelta(days=6),
    )
