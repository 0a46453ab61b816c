"""Billable-day lines, derived from attendance each time they are read (so a correction
re-derives them): one line per episode-day attended, billable or with the reason not."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel

from rules.attendance_policy import AttendancePolicy
from rules.attendance_week import (
    BillableDecision,
    DayAttendance,
    Grant,
    NotBillable,
    authorizing_grants,
    grant_covering,
)
from rules.attendance_week import (
    billable_days as decide_days,
)
from rules.levels import LevelOfCare
from schemas.records import GRANTING_STATUSES, AuthorizationStatus
from store.dbtypes import Db

# An approval stands while its extension is asked for or after the extension is denied.
GRANT_STANDS = [
    s.value
    for s in (
        *GRANTING_STATUSES,
        AuthorizationStatus.CONCURRENT_REVIEW_REQUESTED,
        AuthorizationStatus.EXTENSION_DENIED,
    )
]


class BillableDay(BaseModel):
    day: date
    episode_id: str
    level: LevelOfCare
    hcpcs: str | None
    revenue_code: str | None
    units: int
    authorization_number: str | None
    hours: float
    billable: bool
    reason: NotBillable | None


async def grants_for(db: Db, episode_ids: Sequence[str]) -> dict[tuple[str, str], list[Grant]]:
    """Every standing approval per (episode, level) with its dates and units, the earliest
    period first (an extension approved from a later day comes after the grant it
    extends); the last one is the current authorization."""
    rows = await db.fetch(
        """SELECT episode_id, level, authorization_number, start_date, end_date,
                  units_approved, unit_type
             FROM authorizations
            WHERE episode_id = ANY($1::text[]) AND status = ANY($2::text[])
              AND start_date IS NOT NULL AND end_date IS NOT NULL AND units_approved IS NOT NULL
            ORDER BY episode_id, level, start_date, id""",
        list(episode_ids),
        GRANT_STANDS,
    )
    found: dict[tuple[str, str], list[Grant]] = {}
    for r in rows:
        found.setdefault((r["episode_id"], r["level"]), []).append(
            Grant(
                authorization_number=r["authorization_number"] or "",
                start_date=r["start_date"],
                end_date=r["end_date"],
                units_approved=r["units_approved"],
                counts_days=r["unit_type"] == "days",
            )
        )
    return found


def current_grant(grants: Sequence[Grant]) -> Grant | None:
    """The authorization in force now: the latest period."""
    return grants[-1] if grants else None


async def billable_days(
    db: Db, program_id: str, first: date, last: date, policy: AttendancePolicy
) -> list[BillableDay]:
    rows = await db.fetch(
        """SELECT a.episode_id, g.level, s.session_date, a.minutes
             FROM attendance a
             JOIN group_sessions s ON s.session_id = a.session_id
             JOIN care_groups g ON g.group_id = s.group_id
            WHERE g.program_id = $1 AND s.session_date <= $2 AND a.minutes > 0
            ORDER BY a.episode_id, g.level, s.starts_at""",
        program_id,
        last,
    )
    grants = await grants_for(db, sorted({r["episode_id"] for r in rows}))
    by_track: dict[tuple[str, str], list[tuple[date, int]]] = defaultdict(list)
    for r in rows:
        by_track[(r["episode_id"], r["level"])].append((r["session_date"], r["minutes"]))
    lines: list[BillableDay] = []
    for (episode_id, level_value), sessions in sorted(by_track.items()):
        level = LevelOfCare(level_value)
        track_grants = grants.get((episode_id, level_value), [])
        new_days = [i == 0 or sessions[i - 1][0] != d for i, (d, _) in enumerate(sessions)]
        by = authorizing_grants(
            [(d, n) for (d, _), n in zip(sessions, new_days, strict=True)], track_grants
        )
        minutes: dict[date, int] = defaultdict(int)
        authorized: dict[date, bool] = {}
        number: dict[date, str | None] = {}
        for (day, m), grant in zip(sessions, by, strict=True):
            minutes[day] += m
            authorized[day] = authorized.get(day, True) and grant is not None
            if day not in number:
                # The day's authorization; a day outside every grant's dates names the
                # current one.
                named = grant or grant_covering(track_grants, day) or current_grant(track_grants)
                number[day] = named.authorization_number if named else None
        code = policy.billing.get(level)
        decided: list[BillableDecision] = decide_days(
            [DayAttendance(d, minutes[d], authorized[d]) for d in sorted(minutes)], code
        )
        for decision in decided:
            if not first <= decision.day <= last:
                continue
            lines.append(
                BillableDay(
                    day=decision.day,
                    episode_id=episode_id,
                    level=level,
                    hcpcs=code.hcpcs if code else None,
                    revenue_code=code.revenue_code if code else None,
                    units=1 if decision.billable else 0,
                    authorization_number=number[decision.day],
                    hours=decision.hours,
                    billable=decision.billable,
                    reason=decision.reason,
                )
            )
    lines.sort(key=lambda line: (line.day, line.episode_id))
    return lines


COLUMNS = list(BillableDay.model_fields)


# A cell starting so is a formula to a spreadsheet (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A value as a CSV cell; free text that a spreadsheet would run as a formula gets a
    leading apostrophe (numbers are written as they are)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(lines: Sequence[BillableDay]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for line in lines:
        data = line.model_dump(mode="json")
        writer.writerow([_cell(data[c]) for c in COLUMNS])
    return out.getvalue()
