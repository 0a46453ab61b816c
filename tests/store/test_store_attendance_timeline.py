"""Issue 10 item 9 on real PostgreSQL: the episode's timeline shows each no-show, each
attendance correction (who, why, the value before) and each day's billable-day decision."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import asyncpg

from rules.attendance_policy import AttendancePolicy
from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.groups import GroupSpec, Roster, RosterEntry
from store import attendance, groups, queries
from store.postgres import PostgresRecordStore
from tests.store.store_builders import batch, snapshot

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
EP = "ep-timeline"


async def _roster(
    pool: asyncpg.Pool, session_id: str, entry: RosterEntry, by: str, at: datetime, **kw: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await attendance.record_roster(
            conn,
            session_id,
            Roster(recorded_by=by, entries=[entry], **kw),
            policy=AttendancePolicy(),
            now=at,
        )


async def test_no_shows_corrections_and_billable_days_are_in_the_timeline(
    pool: asyncpg.Pool,
) -> None:
    await PostgresRecordStore(pool).apply(
        batch(1, snapshot(EP, phase=CarePhase.IN_TREATMENT, delivered_level=LevelOfCare.IOP))
    )
    spec = GroupSpec(
        group_id="grp-t",
        program_id="prog-a",
        name="Skills",
        level=LevelOfCare.IOP,
        weekdays=[1, 3],
        start_time=time(9),
        duration_minutes=180,
        capacity=10,
        facilitator_ref="fac-1",
    )
    async with pool.acquire() as conn, conn.transaction():
        await groups.create_group(conn, spec, now=T0, ahead_days=7)
        await groups.assign(conn, "grp-t", EP, LevelOfCare.IOP, wait_if_full=False, now=T0)
    monday, wednesday = await groups.list_sessions(
        pool, "grp-t", date(2026, 3, 2), date(2026, 3, 4)
    )

    no_show = RosterEntry(episode_id=EP, status="no_show")
    await _roster(pool, monday.session_id, no_show, "clin-1", T0 + timedelta(hours=5))
    came = RosterEntry(episode_id=EP, status="attended")
    fixed_at = T0 + timedelta(hours=6)
    await _roster(
        pool, monday.session_id, came, "clin-2", fixed_at, correction_reason="signed in late"
    )
    wednesday_at = T0 + timedelta(days=2, hours=5)
    await _roster(pool, wednesday.session_id, no_show, "clin-1", wednesday_at)

    lines = [e for e in await queries.timeline(pool, EP) if e.kind in ("attendance", "billing")]
    got = [(e.kind, e.event, e.actor, e.at, e.value, e.earlier_value, e.reason) for e in lines]
    assert got[:2] == [
        ("attendance", "no_show", "clin-1", T0 + timedelta(hours=5), "no_show (0 min)", None, None),
        (
            "attendance",
            "attendance_corrected",
            "clin-2",
            fixed_at,
            "attended (180 min)",
            "no_show (0 min)",
            "signed in late",
        ),
    ]
    [billed] = [e for e in lines if e.kind == "billing"]
    assert (billed.day, billed.at, billed.actor) == (date(2026, 3, 2), fixed_at, "billing-rules")
    assert billed.event in ("billable_day", "day_not_billable")
    assert (billed.reason is None) == (billed.event == "billable_day")
    assert "3 h" in (billed.value or "")
    assert got[-1][:3] == ("attendance", "no_show", "clin-1")
    assert [e.at for e in lines] == sorted(e.at for e in lines)
