"""Rosters in, attendance out (PostgreSQL; SQL in migration 0400).

`record_roster` checks the whole roster before it writes any of it: one bad line and
nothing of that roster is recorded. The same line sent again is a no-op; a changed
line is a correction (within the program's window, with a reason), and the earlier
value stays in `attendance_audit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg
from pydantic import BaseModel

from rules.attendance_policy import AttendancePolicy
from rules.attendance_week import (
    AttendanceStatus,
    Modality,
    credited_minutes,
    entry_problem,
)
from schemas.groups import (
    AttendanceRecord,
    Roster,
    RosterLine,
    RosterOutcome,
    RosterResult,
)
from store.dbtypes import Conn, Db


@dataclass
class RosterRefused(Exception):
    """The roster is refused whole; `errors` name each bad line (field → message)."""

    status: int
    slug: str
    detail: str
    errors: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.detail)


@dataclass(frozen=True)
class _Line:
    index: int
    episode_id: str
    status: AttendanceStatus
    minutes: int
    modality: Modality


async def record_roster(
    conn: Conn,
    session_id: str,
    roster: Roster,
    *,
    policy: AttendancePolicy,
    now: datetime,
) -> RosterResult:
    """Record one session's roster in the caller's transaction, all or nothing. The session
    row is locked, so two rosters for one session are recorded one after the other."""
    s = await conn.fetchrow(
        """SELECT s.*, g.program_id FROM group_sessions s
           JOIN care_groups g ON g.group_id = s.group_id
           WHERE s.session_id = $1 FOR UPDATE OF s""",
        session_id,
    )
    if s is None:
        raise RosterRefused(404, "session-not-found", f"no session '{session_id}'")
    if s["cancelled_at"] is not None:
        raise RosterRefused(
            409, "session-cancelled", f"session '{session_id}' was cancelled by the program"
        )
    if s["starts_at"] > now:
        raise RosterRefused(
            422,
            "session-in-future",
            f"session '{session_id}' starts at {s['starts_at'].isoformat()}, after now",
            [("path.session_id", "attendance is recorded once the session has started")],
        )
    duration: int = s["duration_minutes"]
    ends_at: datetime = s["starts_at"] + timedelta(minutes=duration)
    errors: list[tuple[str, str]] = []
    lines: list[_Line] = []
    for i, entry in enumerate(roster.entries):
        problem = entry_problem(entry.status, entry.minutes, duration)
        if problem is not None:
            errors.append((f"body.entries.{i}.minutes", f"{entry.episode_id}: {problem}"))
            continue
        lines.append(
            _Line(
                i,
                entry.episode_id,
                entry.status,
                credited_minutes(entry.status, entry.minutes, duration),
                entry.modality or Modality(s["modality"]),
            )
        )
    ids = [e.episode_id for e in roster.entries]
    seated = {
        r["episode_id"]
        for r in await conn.fetch(
            """SELECT DISTINCT episode_id FROM group_assignments
               WHERE group_id = $1 AND episode_id = ANY($2::text[])
                 AND assigned_at IS NOT NULL AND assigned_at <= $4
                 AND (ended_at IS NULL OR ended_at > $3)""",
            s["group_id"],
            ids,
            s["starts_at"],
            ends_at,
        )
    }
    for i, episode_id in enumerate(ids):
        if episode_id not in seated:
            errors.append(
                (
                    f"body.entries.{i}.episode_id",
                    f"episode '{episode_id}' is not assigned to group '{s['group_id']}' "
                    "for this session",
                )
            )
    if errors:
        raise RosterRefused(422, "invalid-roster", "the roster was not recorded", errors)
    earlier = {
        r["episode_id"]: r
        for r in await conn.fetch(
            """SELECT * FROM attendance WHERE session_id = $1 AND episode_id = ANY($2::text[])
               FOR UPDATE""",
            session_id,
            ids,
        )
    }
    window_closes = ends_at + timedelta(hours=policy.correction_window_hours)
    changed: list[_Line] = []
    for line in lines:
        before = earlier.get(line.episode_id)
        if before is None or _same(before, line):
            continue
        changed.append(line)
        field_name = f"body.entries.{line.index}"
        if now > window_closes:
            errors.append(
                (field_name, f"{line.episode_id}: the correction window closed at {window_closes}")
            )
    if changed and not roster.correction_reason:
        errors.extend(
            (f"body.entries.{c.index}", f"{c.episode_id}: a correction needs correction_reason")
            for c in changed
        )
    if errors:
        status = 409 if any("window closed" in m for _, m in errors) else 422
        slug = "correction-window-closed" if status == 409 else "correction-needs-reason"
        raise RosterRefused(status, slug, "the roster was not recorded", errors)
    result: list[RosterLine] = []
    audit: list[tuple[object, ...]] = []
    current: list[tuple[object, ...]] = []
    for line in lines:
        before = earlier.get(line.episode_id)
        if before is not None and _same(before, line):
            result.append(
                RosterLine(
                    episode_id=line.episode_id,
                    outcome=RosterOutcome.UNCHANGED,
                    revision=before["revision"],
                )
            )
            continue
        revision = 1 if before is None else before["revision"] + 1
        current.append(
            (
                session_id,
                line.episode_id,
                line.status.value,
                line.minutes,
                line.modality.value,
                revision,
                roster.recorded_by,
                now,
            )
        )
        audit.append(
            (
                session_id,
                line.episode_id,
                revision,
                line.status.value,
                line.minutes,
                line.modality.value,
                roster.recorded_by,
                now,
                roster.correction_reason if before is not None else None,
            )
        )
        outcome = RosterOutcome.RECORDED if before is None else RosterOutcome.CORRECTED
        result.append(RosterLine(episode_id=line.episode_id, outcome=outcome, revision=revision))
    await conn.executemany(
        """INSERT INTO attendance (session_id, episode_id, status, minutes, modality,
               revision, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (session_id, episode_id) DO UPDATE SET status = EXCLUDED.status,
               minutes = EXCLUDED.minutes, modality = EXCLUDED.modality,
               revision = EXCLUDED.revision, recorded_by = EXCLUDED.recorded_by,
               recorded_at = EXCLUDED.recorded_at""",
        current,
    )
    await conn.executemany(
        """INSERT INTO attendance_audit (session_id, episode_id, revision, status, minutes,
               modality, recorded_by, recorded_at, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        audit,
    )
    return RosterResult(session_id=session_id, lines=result)


def _same(before: asyncpg.Record, line: _Line) -> bool:
    return bool(
        before["status"] == line.status.value
        and before["minutes"] == line.minutes
        and before["modality"] == line.modality.value
    )


async def episode_attendance(db: Db, episode_id: str) -> list[AttendanceRecord]:
    """The episode's attendance, oldest session first (its history, derived)."""
    rows = await db.fetch(
        """SELECT a.*, s.group_id, s.session_date, s.starts_at FROM attendance a
           JOIN group_sessions s ON s.session_id = a.session_id
           WHERE a.episode_id = $1 ORDER BY s.starts_at""",
        episode_id,
    )
    return [AttendanceRecord.model_validate(dict(r)) for r in rows]


class AuditEntry(BaseModel):
    revision: int
    status: str
    minutes: int
    modality: str
    recorded_by: str
    recorded_at: datetime
    reason: str | None


async def attendance_audit(db: Db, session_id: str, episode_id: str) -> list[AuditEntry]:
    rows = await db.fetch(
        """SELECT revision, status, minutes, modality, recorded_by, recorded_at, reason
           FROM attendance_audit WHERE session_id = $1 AND episode_id = $2 ORDER BY revision""",
        session_id,
        episode_id,
    )
    return [AuditEntry.model_validate(dict(r)) for r in rows]


@dataclass(frozen=True)
class Delivered:
    """What the rosters record for an episode over a period (derived, never typed)."""

    lines: int
    hours: float
    days: int
    sessions: int


async def delivered_between(db: Db, episode_id: str, since: datetime, until: datetime) -> Delivered:
    row = await db.fetchrow(
        """SELECT count(*) AS lines, coalesce(sum(a.minutes), 0) AS minutes,
                  count(DISTINCT s.session_date) FILTER (WHERE a.minutes > 0) AS days,
                  count(*) FILTER (WHERE a.minutes > 0) AS sessions
             FROM attendance a JOIN group_sessions s ON s.session_id = a.session_id
            WHERE a.episode_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3""",
        episode_id,
        since,
        until,
    )
    assert row is not None
    return Delivered(row["lines"], round(row["minutes"] / 60, 2), row["days"], row["sessions"])
