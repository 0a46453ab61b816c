"""An episode's attendance in its timeline: every no-show and every correction (who, why,
the value before), and each attended day's billable-day decision (billable, or the reason
not), derived from the rosters as the billable-day export derives them."""

from __future__ import annotations

from datetime import date, datetime

from store import billing
from store import groups as groups_store
from store.dbtypes import Db
from store.models import TimelineEntry

# Who decides a billable day: the program's billing rules over the recorded attendance.
BILLING_RULES = "billing-rules"


def _value(status: str, minutes: int) -> str:
    return f"{status} ({minutes} min)"


async def attendance_entries(db: Db, episode_id: str) -> list[TimelineEntry]:
    """No-shows and corrections, then the billable-day decisions, each at its moment."""
    rows = await db.fetch(
        """SELECT a.session_id, a.revision, a.status, a.minutes, a.recorded_by,
                  a.recorded_at, a.reason, s.session_date,
                  p.status AS earlier_status, p.minutes AS earlier_minutes
             FROM attendance_audit a
             JOIN group_sessions s ON s.session_id = a.session_id
             LEFT JOIN attendance_audit p ON p.session_id = a.session_id
                  AND p.episode_id = a.episode_id AND p.revision = a.revision - 1
            WHERE a.episode_id = $1 AND (a.revision > 1 OR a.status = 'no_show')
            ORDER BY a.recorded_at, a.id""",
        episode_id,
    )
    entries = [
        TimelineEntry(
            kind="attendance",
            at=r["recorded_at"],
            actor=r["recorded_by"],
            event="attendance_corrected" if r["revision"] > 1 else "no_show",
            reason=r["reason"],
            session_id=r["session_id"],
            day=r["session_date"],
            value=_value(r["status"], r["minutes"]),
            earlier_value=_value(r["earlier_status"], r["earlier_minutes"])
            if r["earlier_status"] is not None
            else None,
        )
        for r in rows
    ]
    return entries + await _billing_entries(db, episode_id)


async def _billing_entries(db: Db, episode_id: str) -> list[TimelineEntry]:
    days = await db.fetch(
        """SELECT g.program_id, s.session_date, max(a.recorded_at) AS decided_at
             FROM attendance a
             JOIN group_sessions s ON s.session_id = a.session_id
             JOIN care_groups g ON g.group_id = s.group_id
            WHERE a.episode_id = $1 AND a.minutes > 0
            GROUP BY g.program_id, s.session_date""",
        episode_id,
    )
    decided_at: dict[tuple[str, date], datetime] = {
        (r["program_id"], r["session_date"]): r["decided_at"] for r in days
    }
    entries: list[TimelineEntry] = []
    for program in sorted({program for program, _ in decided_at}):
        span = [d for p, d in decided_at if p == program]
        policy = await groups_store.get_policy(db, program)
        for line in await billing.billable_days(db, program, min(span), max(span), policy):
            at = decided_at.get((program, line.day))
            if line.episode_id != episode_id or at is None:
                continue
            code = " / ".join(c for c in (line.hcpcs, line.revenue_code) if c) or "no code"
            entries.append(
                TimelineEntry(
                    kind="billing",
                    at=at,
                    actor=BILLING_RULES,
                    event="billable_day" if line.billable else "day_not_billable",
                    reason=line.reason.value if line.reason else None,
                    delivered_level=line.level,
                    day=line.day,
                    value=f"{code}, {line.units} unit, {line.hours:g} h"
                    + (
                        f", authorization {line.authorization_number}"
                        if line.authorization_number
                        else ""
                    ),
                )
            )
    return entries
