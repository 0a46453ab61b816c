"""Groups, their sessions and who sits in them (PostgreSQL; SQL in migration 0400).

Writes take a connection inside the caller's transaction; a group row is locked
(`FOR UPDATE`) while seats are counted, so two assignments cannot both take the last seat.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from rules.attendance_policy import AttendancePolicy
from rules.attendance_week import scheduled_starts
from rules.levels import LevelOfCare
from schemas.groups import (
    AdHocSession,
    Assignment,
    AssignmentStatus,
    Group,
    GroupChange,
    GroupSpec,
    Session,
    SessionKind,
)
from store.dbtypes import Conn, Db


class GroupsRefused(Exception):
    """A write refused for what it asks (the API maps `status` and `slug`)."""

    def __init__(self, status: int, slug: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.field = field


_GROUP_SQL = """
SELECT g.*, coalesce(a.used, 0) AS seats_used, coalesce(a.waiting, 0) AS waiting
  FROM care_groups g
  LEFT JOIN (SELECT group_id,
                    count(*) FILTER (WHERE status = 'assigned') AS used,
                    count(*) FILTER (WHERE status = 'waiting') AS waiting
               FROM group_assignments WHERE status <> 'ended' GROUP BY group_id) a
    ON a.group_id = g.group_id
"""


def _group(row: asyncpg.Record) -> Group:
    data = dict(row)
    data["weekdays"] = list(data["weekdays"])
    data["seats_free"] = max(data["capacity"] - data["seats_used"], 0)
    data.pop("generated_through", None)
    return Group.model_validate(data)


def _session(row: asyncpg.Record) -> Session:
    data = dict(row)
    data["cancelled"] = data.pop("cancelled_at") is not None
    data.pop("cancelled_by", None)
    return Session.model_validate(data)


async def get_policy(db: Db, program_id: str) -> AttendancePolicy:
    raw = await db.fetchval(
        "SELECT policy FROM program_attendance_policy WHERE program_id = $1", program_id
    )
    return AttendancePolicy() if raw is None else AttendancePolicy.model_validate_json(raw)


async def put_policy(
    db: Db, program_id: str, policy: AttendancePolicy, *, by: str, now: datetime
) -> None:
    await db.execute(
        """INSERT INTO program_attendance_policy (program_id, policy, updated_by, updated_at)
           VALUES ($1, $2::jsonb, $3, $4)
           ON CONFLICT (program_id) DO UPDATE
              SET policy = EXCLUDED.policy, updated_by = EXCLUDED.updated_by,
                  updated_at = EXCLUDED.updated_at""",
        program_id,
        policy.model_dump_json(),
        by,
        now,
    )


async def get_group(db: Db, group_id: str) -> Group | None:
    row = await db.fetchrow(_GROUP_SQL + " WHERE g.group_id = $1", group_id)
    return _group(row) if row else None


async def list_groups(db: Db, programs: list[str] | None) -> list[Group]:
    if programs is None:
        rows = await db.fetch(_GROUP_SQL + " ORDER BY g.program_id, g.group_id")
    else:
        rows = await db.fetch(
            _GROUP_SQL + " WHERE g.program_id = ANY($1::text[]) ORDER BY g.program_id, g.group_id",
            programs,
        )
    return [_group(r) for r in rows]


async def create_group(conn: Conn, spec: GroupSpec, *, now: datetime, ahead_days: int) -> bool:
    """Create the group and its sessions ahead; False if it exists with this same spec."""
    existing = await get_group(conn, spec.group_id)
    if existing is not None:
        if (
            GroupSpec.model_validate(existing.model_dump(include=set(GroupSpec.model_fields)))
            != spec
        ):
            raise GroupsRefused(
                409, "group-id-conflict", f"group '{spec.group_id}' exists with another schedule"
            )
        return False
    await conn.execute(
        """INSERT INTO care_groups (group_id, program_id, name, level, weekdays, start_time,
               duration_minutes, modality, capacity, facilitator_ref, time_zone, created_at,
               age_group)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        spec.group_id,
        spec.program_id,
        spec.name,
        spec.level.value,
        spec.weekdays,
        spec.start_time,
        spec.duration_minutes,
        spec.modality.value,
        spec.capacity,
        spec.facilitator_ref,
        spec.time_zone,
        now,
        spec.age_group.value,
    )
    await generate_sessions(conn, spec.group_id, through=now.date() + timedelta(days=ahead_days))
    return True


async def generate_sessions(conn: Conn, group_id: str, *, through: date) -> int:
    """Sessions from the schedule up to `through` (inclusive), once each; returns how many."""
    g = await conn.fetchrow("SELECT * FROM care_groups WHERE group_id = $1 FOR UPDATE", group_id)
    assert g is not None
    first = (
        g["generated_through"] + timedelta(days=1)
        if g["generated_through"]
        else g["created_at"].date()
    )
    if first > through:
        return 0
    starts = scheduled_starts(g["weekdays"], g["start_time"], g["time_zone"], first, through)
    rows = [
        (
            f"{group_id}.{s:%Y%m%d}",
            group_id,
            s.date(),
            s,
            g["duration_minutes"],
            g["modality"],
            SessionKind.SCHEDULED.value,
        )
        for s in starts
    ]
    await conn.executemany(
        """INSERT INTO group_sessions (session_id, group_id, session_date, starts_at,
               duration_minutes, modality, kind)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
        rows,
    )
    await conn.execute(
        "UPDATE care_groups SET generated_through = $2 WHERE group_id = $1", group_id, through
    )
    return len(rows)


async def change_group(conn: Conn, group_id: str, change: GroupChange, *, now: datetime) -> Group:
    g = await conn.fetchrow("SELECT * FROM care_groups WHERE group_id = $1 FOR UPDATE", group_id)
    if g is None:
        raise GroupsRefused(404, "group-not-found", f"no group '{group_id}'")
    if change.capacity is not None:
        used = await conn.fetchval(
            "SELECT count(*) FROM group_assignments WHERE group_id = $1 AND status = 'assigned'",
            group_id,
        )
        if change.capacity < used:
            raise GroupsRefused(
                409,
                "capacity-below-assignments",
                f"group '{group_id}' has {used} assigned; capacity {change.capacity} is below that",
                field="capacity",
            )
    await conn.execute(
        """UPDATE care_groups SET capacity = coalesce($2, capacity),
               facilitator_ref = coalesce($3, facilitator_ref), name = coalesce($4, name)
           WHERE group_id = $1""",
        group_id,
        change.capacity,
        change.facilitator_ref,
        change.name,
    )
    await conn.execute("SELECT carepath_fill_group_seats($1, $2)", group_id, now)
    found = await get_group(conn, group_id)
    assert found is not None
    return found


async def add_session(conn: Conn, group: Group, body: AdHocSession) -> tuple[Session, bool]:
    """An ad-hoc session; (session, created). Same ID and content again is a retry."""
    modality = body.modality or group.modality
    existing = await get_session(conn, body.session_id)
    if existing is not None:
        same = (
            existing.group_id == group.group_id
            and existing.starts_at == body.starts_at
            and existing.duration_minutes == body.duration_minutes
            and existing.modality is modality
        )
        if not same:
            raise GroupsRefused(
                409, "session-id-conflict", f"session '{body.session_id}' exists with other terms"
            )
        return existing, False
    clash = await conn.fetchval(
        "SELECT session_id FROM group_sessions WHERE group_id = $1 AND starts_at = $2",
        group.group_id,
        body.starts_at,
    )
    if clash is not None:
        raise GroupsRefused(
            409, "session-exists", f"session '{clash}' already starts then", field="starts_at"
        )
    local_day = body.starts_at.astimezone(ZoneInfo(group.time_zone)).date()
    await conn.execute(
        """INSERT INTO group_sessions (session_id, group_id, session_date, starts_at,
               duration_minutes, modality, kind) VALUES ($1, $2, $3, $4, $5, $6, 'ad_hoc')""",
        body.session_id,
        group.group_id,
        local_day,
        body.starts_at,
        body.duration_minutes,
        modality.value,
    )
    found = await get_session(conn, body.session_id)
    assert found is not None
    return found, True


_SESSION_SQL = """SELECT s.*, g.program_id FROM group_sessions s
                  JOIN care_groups g ON g.group_id = s.group_id"""


async def get_session(db: Db, session_id: str) -> Session | None:
    row = await db.fetchrow(_SESSION_SQL + " WHERE s.session_id = $1", session_id)
    return _session(row) if row else None


async def session_row(db: Db, session_id: str) -> asyncpg.Record | None:
    """The session's `group_sessions` row as stored (what `attendance_notices` derives from)."""
    row: asyncpg.Record | None = await db.fetchrow(
        "SELECT * FROM group_sessions WHERE session_id = $1", session_id
    )
    return row


async def list_sessions(db: Db, group_id: str, first: date, last: date) -> list[Session]:
    rows = await db.fetch(
        _SESSION_SQL + " WHERE s.group_id = $1 AND s.session_date BETWEEN $2 AND $3"
        " ORDER BY s.starts_at",
        group_id,
        first,
        last,
    )
    return [_session(r) for r in rows]


async def cancel_session(
    conn: Conn, session_id: str, *, reason: str, by: str, now: datetime
) -> Session:
    """The program cancels a session (a holiday): no one is absent from it."""
    row = await conn.fetchrow(
        "SELECT cancelled_at, cancel_reason FROM group_sessions WHERE session_id = $1 FOR UPDATE",
        session_id,
    )
    if row is None:
        raise GroupsRefused(404, "session-not-found", f"no session '{session_id}'")
    recorded = await conn.fetchval(
        "SELECT count(*) FROM attendance WHERE session_id = $1 AND status <> 'excused'", session_id
    )
    if recorded:
        raise GroupsRefused(
            409,
            "session-has-attendance",
            f"session '{session_id}' has attendance recorded; correct the roster first",
        )
    if row["cancelled_at"] is None:
        await conn.execute(
            """UPDATE group_sessions SET cancelled_at = $2, cancel_reason = $3, cancelled_by = $4
               WHERE session_id = $1""",
            session_id,
            now,
            reason,
            by,
        )
    found = await get_session(conn, session_id)
    assert found is not None
    return found


def _assignment(row: asyncpg.Record, position: int | None = None) -> Assignment:
    columns = set(row.keys())
    data = {k: row[k] for k in Assignment.model_fields if k in columns}
    data["waiting_position"] = position
    return Assignment.model_validate(data)


async def _position(db: Db, row: asyncpg.Record) -> int | None:
    if row["status"] != AssignmentStatus.WAITING.value:
        return None
    ahead: int = await db.fetchval(
        """SELECT count(*) FROM group_assignments WHERE group_id = $1 AND status = 'waiting'
             AND (requested_at, id) < ($2, $3)""",
        row["group_id"],
        row["requested_at"],
        row["id"],
    )
    return ahead + 1


async def open_assignment(db: Db, group_id: str, episode_id: str) -> Assignment | None:
    row = await db.fetchrow(
        """SELECT * FROM group_assignments
           WHERE group_id = $1 AND episode_id = $2 AND status <> 'ended'""",
        group_id,
        episode_id,
    )
    return _assignment(row, await _position(db, row)) if row else None


async def assign(
    conn: Conn,
    group_id: str,
    episode_id: str,
    level: LevelOfCare,
    *,
    wait_if_full: bool,
    now: datetime,
) -> tuple[Assignment, bool]:
    """Seat the episode, or put it on the waiting list; (assignment, created)."""
    g = await conn.fetchrow(
        "SELECT capacity FROM care_groups WHERE group_id = $1 FOR UPDATE", group_id
    )
    assert g is not None
    existing = await open_assignment(conn, group_id, episode_id)
    if existing is not None:
        return existing, False
    used = await conn.fetchval(
        "SELECT count(*) FROM group_assignments WHERE group_id = $1 AND status = 'assigned'",
        group_id,
    )
    full = used >= g["capacity"]
    if full and not wait_if_full:
        raise GroupsRefused(
            409,
            "group-full",
            f"group '{group_id}' is full ({used} of {g['capacity']} seats); "
            "send wait_if_full=true to join its waiting list",
        )
    await conn.execute(
        """INSERT INTO group_assignments (group_id, episode_id, level, status, requested_at,
               assigned_at) VALUES ($1, $2, $3, $4, $5, $6)""",
        group_id,
        episode_id,
        level.value,
        (AssignmentStatus.WAITING if full else AssignmentStatus.ASSIGNED).value,
        now,
        None if full else now,
    )
    found = await open_assignment(conn, group_id, episode_id)
    assert found is not None
    return found, True


async def end_assignment(
    conn: Conn, group_id: str, episode_id: str, *, reason: str, now: datetime
) -> Assignment:
    await conn.fetchrow("SELECT 1 FROM care_groups WHERE group_id = $1 FOR UPDATE", group_id)
    row = await conn.fetchrow(
        """UPDATE group_assignments SET status = 'ended', ended_at = $3, end_reason = $4
           WHERE group_id = $1 AND episode_id = $2 AND status <> 'ended' RETURNING *""",
        group_id,
        episode_id,
        now,
        reason,
    )
    if row is None:
        raise GroupsRefused(
            404, "assignment-not-found", f"episode '{episode_id}' is not in group '{group_id}'"
        )
    await conn.execute("SELECT carepath_fill_group_seats($1, $2)", group_id, now)
    return _assignment(row)


async def ever_seated(db: Db, episode_id: str) -> bool:
    """Whether the episode was ever assigned to a group (seated or waiting, then or now)."""
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM group_assignments WHERE episode_id = $1)", episode_id
    )
    return found


async def episode_assignments(db: Db, episode_id: str) -> list[Assignment]:
    rows = await db.fetch(
        "SELECT * FROM group_assignments WHERE episode_id = $1 ORDER BY requested_at, id",
        episode_id,
    )
    return [_assignment(r, await _position(db, r)) for r in rows]


async def group_members(db: Db, group_id: str) -> list[Assignment]:
    rows = await db.fetch(
        """SELECT * FROM group_assignments WHERE group_id = $1 AND status <> 'ended'
           ORDER BY status, requested_at, id""",
        group_id,
    )
    out: list[Assignment] = []
    waiting = 0
    for r in rows:
        if r["status"] == AssignmentStatus.WAITING.value:
            waiting += 1
            out.append(_assignment(r, waiting))
        else:
            out.append(_assignment(r))
    return out
