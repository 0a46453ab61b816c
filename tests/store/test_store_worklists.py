"""The workbench's worklist reads agree with the general episode list on the same rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import asyncpg

from store import quality_clocks, queries, worklists
from store.channels import care_tasks
from store.dbtypes import Conn
from store.models import EpisodeFilter
from store.patients import PostgresPatients

NOW = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
TOMORROW = datetime(2026, 3, 11, tzinfo=UTC)
HORIZON = datetime(2026, 3, 18, tzinfo=UTC)


async def _seed(pool: asyncpg.Pool) -> None:
    phases = ("in_treatment", "aftercare", "closed", "authorization")
    rows = []
    for i in range(240):
        due = NOW + timedelta(hours=(i % 60) * 6 - 120) if i % 7 else None
        rows.append(
            (
                f"e-{i:03d}",
                f"care-episode-e-{i:03d}",
                "p1" if i % 3 else "p2",
                phases[i % 4],
                "iop" if phases[i % 4] == "in_treatment" else None,
                NOW - timedelta(days=20),
                due,
                i % 5 == 0,
                NOW,
            )
        )
    await pool.executemany(
        """INSERT INTO episodes (episode_id, workflow_id, program_id, phase, level_delivered,
            started_at, next_review_due, risk_flag, updated_at, last_seq)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)""",
        rows,
    )
    await pool.execute(
        """INSERT INTO authorizations (episode_id, authorization_number, level, status,
            units_approved, units_used, start_date, end_date, recorded_at)
        VALUES ('e-001', 'A1', 'iop', 'approved', 20, 18, '2026-03-01', '2026-04-30', $1),
               ('e-005', 'A5', 'iop', 'approved', 20, 2, '2026-03-01', '2026-03-15', $1),
               ('e-009', 'A9', 'iop', 'approved', 20, 2, '2026-03-01', '2026-05-30', $1),
               ('e-013', NULL, 'iop', 'initial_requested', NULL, NULL, NULL, NULL, $1)""",
        NOW,
    )


async def test_today_lists_count_and_page_like_the_episode_list(pool: asyncpg.Pool) -> None:
    await _seed(pool)
    for programs in (None, ["p1"], ["p2"]):
        found = await worklists.today_lists(
            pool, now=NOW, tomorrow=TOMORROW, horizon_end=HORIZON, programs=programs, limit=10
        )
        same = {
            "risk": EpisodeFilter(programs=programs, risk_flag=True),
            "overdue": EpisodeFilter(programs=programs, overdue=True),
            "due-today": EpisodeFilter(
                programs=programs, review_due_before=TOMORROW, overdue=False
            ),
            "aftercare": EpisodeFilter(programs=programs, phase="aftercare"),
        }
        for name, where in same.items():
            page = await queries.list_episodes(pool, where, now=NOW, limit=10, count=True)
            assert found.counts[name] == page.total, name
            assert found.rows[name] == page.items, name
        week = await queries.list_episodes(
            pool,
            EpisodeFilter(programs=programs, review_due_before=HORIZON, overdue=False),
            now=NOW,
            limit=500,
            count=True,
        )
        assert week.total is not None
        assert found.counts["due-week"] == week.total - found.counts["due-today"]
        skip = found.counts["due-today"]
        assert found.rows["due-week"] == week.items[skip : skip + 10]
        assert found.counts["risk"] > 0 and found.counts["overdue"] > 0


async def test_authorizations_ending_or_low_and_payer_requests(pool: asyncpg.Pool) -> None:
    await _seed(pool)
    soon = await worklists.authorizations_ending_or_low(
        pool, today=date(2026, 3, 10), within_days=14, low_units=3, programs=None, limit=10
    )
    # e-001: 2 units left (low); e-005: ends in 5 days; e-009: neither.
    assert [a.episode_id for a in soon] == ["e-005", "e-001"]
    every = await worklists.authorizations_ending_or_low(
        pool, today=date(2026, 3, 10), within_days=None, low_units=3, programs=None, limit=10
    )
    assert [a.episode_id for a in every] == ["e-005", "e-001", "e-009"]
    pending = await worklists.pending_payer_requests(pool, programs=None, limit=10)
    assert [p.episode_id for p in pending] == ["e-013"]
    assert await worklists.pending_payer_requests(pool, programs=["p2"], limit=10) == []


async def _seed_sessions(pool: asyncpg.Pool) -> None:
    """Two groups in different time zones; sessions on the local 'today' and the day after."""
    for group, program, zone in (("g-ny", "p1", "America/New_York"), ("g-utc", "p2", "UTC")):
        await pool.execute(
            """INSERT INTO care_groups (group_id, program_id, name, level, weekdays, start_time,
                duration_minutes, modality, capacity, facilitator_ref, time_zone, created_at)
            VALUES ($1, $2, $1, 'iop', '{1,2,3,4,5}', '18:00', 180, 'in_person', 12, 'f-1',
                    $3, $4)""",
            group,
            program,
            zone,
            NOW,
        )
    # NOW_LATE is 02:00 UTC on 11 March: still 10 March in New York.
    sessions = [
        ("s-ny-today", "g-ny", date(2026, 3, 10), None),
        ("s-ny-next", "g-ny", date(2026, 3, 11), None),
        ("s-ny-cancelled", "g-ny", date(2026, 3, 10), NOW),
        ("s-utc-today", "g-utc", date(2026, 3, 11), None),
    ]
    for number, (session, group, day, cancelled) in enumerate(sessions):
        await pool.execute(
            """INSERT INTO group_sessions (session_id, group_id, session_date, starts_at,
                duration_minutes, modality, kind, cancelled_at)
            VALUES ($1, $2, $3, $4, 180, 'in_person', 'scheduled', $5)""",
            session,
            group,
            day,
            datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=number),
            cancelled,
        )
    marks = [
        ("s-ny-today", "e-001", "no_show"),  # p1, in treatment: listed
        ("s-ny-today", "e-002", "no_show"),  # closed episode: not listed
        ("s-ny-today", "e-004", "excused"),  # excused is no no-show
        ("s-ny-next", "e-005", "no_show"),  # tomorrow in New York
        ("s-ny-cancelled", "e-008", "no_show"),  # the program cancelled the session
        ("s-utc-today", "e-003", "no_show"),  # p2, today in UTC
    ]
    for session, episode, status in marks:
        await pool.execute(
            """INSERT INTO attendance (session_id, episode_id, status, minutes, modality,
                recorded_by, recorded_at)
            VALUES ($1, $2, $3, 0, 'in_person', 'clinic', $4)""",
            session,
            episode,
            status,
            NOW,
        )


async def test_no_shows_today_count_the_local_day_and_skip_what_is_no_absence(
    pool: asyncpg.Pool,
) -> None:
    await _seed(pool)
    await _seed_sessions(pool)
    late = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)
    everyone, total = await worklists.no_shows_today(pool, now=late, programs=None, limit=10)
    assert [(n.episode_id, n.group_name) for n in everyone] == [
        ("e-003", "g-utc"),
        ("e-001", "g-ny"),
    ]
    assert total == 2
    p1, p1_total = await worklists.no_shows_today(pool, now=late, programs=["p1"], limit=10)
    assert [n.episode_id for n in p1] == ["e-001"] and p1_total == 1
    page, page_total = await worklists.no_shows_today(pool, now=late, programs=None, limit=1)
    assert len(page) == 1 and page_total == 2
    nothing, none_total = await worklists.no_shows_today(pool, now=late, programs=[], limit=10)
    assert nothing == [] and none_total == 0


async def _seed_appeal_and_names(pool: asyncpg.Pool) -> None:
    """An episode in appeal with its denial, and display names for some patients (one in
    each program, one without a name)."""
    await pool.execute(
        """INSERT INTO episodes (episode_id, workflow_id, program_id, phase, started_at,
            risk_flag, updated_at, last_seq)
        VALUES ('e-appeal', 'care-episode-e-appeal', 'p1', 'appeal', $1, false, $1, 0)""",
        NOW - timedelta(days=3),
    )
    await pool.execute(
        """INSERT INTO authorizations (episode_id, level, status, recorded_at)
        VALUES ('e-appeal', 'iop', 'denied', $1)""",
        NOW - timedelta(days=2),
    )
    for episode, program, name in (
        ("e-001", "p1", "Ada One"),
        ("e-003", "p2", "Bo Three"),
        ("e-005", "p1", "Cy Five"),
        ("e-appeal", "p1", "Di Appeal"),
        ("e-010", "p1", None),
        ("e-013", "p1", "Ed Thirteen"),
    ):
        await pool.execute(
            """INSERT INTO patients (patient_key, episode_id, program_id, mrn, display_name)
            VALUES ($1, $2, $3, 'MRN-X', $4)""",
            f"pk-{episode}",
            episode,
            program,
            name,
        )


async def _seed_clocks_and_tasks(pool: asyncpg.Pool) -> None:
    """Quality clocks (open and met) and care-team tasks (open and done) in both programs,
    some for patients the episode lists do not show (one named, one not)."""
    clocks = [
        ("e-001", "fuh_7", "p1", "open", 3, ["2026-03-09"]),
        ("e-001", "fuh_30", "p1", "open", 20, []),
        ("e-clock", "fuh_7", "p1", "open", 1, []),
        ("e-003", "iet_initiation", "p2", "open", 5, []),
        ("e-016", "iet_engagement", "p1", "met", 2, []),
        ("e-nameless", "fuh_7", "p2", "open", 9, []),
    ]
    for episode, measure, program, status, days_left, served in clocks:
        last = date(2026, 3, 11) + timedelta(days=days_left)
        await pool.execute(
            """INSERT INTO quality_clocks (episode_id, clock_id, program_id, measure, status,
                index_date, first_day, last_day, closes_at, alerted_at, services_needed,
                service_days, opened_at, updated_at, workflow_id, seq)
            VALUES ($1, $2, $3, $2, $4, $5, $5, $6, $7, $8, 2, $9::date[], $7, $7, 'w', 1)""",
            episode,
            measure,
            program,
            status,
            date(2026, 3, 1),
            last,
            NOW,
            NOW if days_left < 4 else None,
            [date.fromisoformat(d) for d in served],
        )
    tasks = [
        ("t1", "acknowledgement", "e-001", "p1", "safety_alert", 30, None),
        ("t2", "callback", "e-task", "p1", "phq9_item9", 10, None),
        ("t3", "acknowledgement", "e-003", "p2", "safety_alert", 60, None),
        ("t4", "acknowledgement", "e-005", "p1", "safety_alert", 5, NOW),
        ("t5", "callback", "e-010", "p1", "phq9_item9", 45, None),
    ]
    for task, kind, episode, program, template, minutes, done in tasks:
        await pool.execute(
            """INSERT INTO care_team_tasks (task_id, kind, episode_id, program_id, workflow_id,
                seq, template, opened_at, first_minutes, repeat_minutes, done_at, done_by,
                ack_response)
            VALUES ($1, $2, $3, $4, 'w', 1, $5, $6, $7, 15, $8, $9, $10)""",
            task,
            kind,
            episode,
            program,
            template,
            NOW - timedelta(hours=1),
            minutes,
            done,
            None if done is None else "clin-1",
            None if done is None else "reached_patient",
        )
    for episode, program, name in (("e-clock", "p1", "Flo Clock"), ("e-task", "p1", "Gus Task")):
        await pool.execute(
            """INSERT INTO patients (patient_key, episode_id, program_id, mrn, display_name)
            VALUES ($1, $2, $3, 'MRN-X', $4)""",
            f"pk-{episode}",
            episode,
            program,
            name,
        )


async def test_the_today_page_statement_reads_what_each_list_reads(pool: asyncpg.Pool) -> None:
    """`today_page` (one statement) against the lists' own functions, list by list, for
    every program, each program and none; the names are those of the listed patients
    within the programs, and the program choices those with open episodes."""
    await _seed(pool)
    await _seed_sessions(pool)
    await _seed_appeal_and_names(pool)
    await _seed_clocks_and_tasks(pool)
    late = datetime(2026, 3, 11, 2, 0, tzinfo=UTC)
    today = date(2026, 3, 11)
    seen: list[worklists.TodayPage] = []
    for programs in (None, ["p1"], ["p2"], []):
        for limit in (3, 25):
            page = await worklists.today_page(
                pool,
                now=late,
                tomorrow=TOMORROW,
                horizon_end=HORIZON,
                today=today,
                authorization_days=14,
                low_units=3,
                programs=programs,
                limit=limit,
                program_choices=programs is None,
            )
            lists = await worklists.today_lists(
                pool,
                now=late,
                tomorrow=TOMORROW,
                horizon_end=HORIZON,
                programs=programs,
                limit=limit,
            )
            assert page.lists == lists
            assert page.authorizations == await worklists.authorizations_ending_or_low(
                pool, today=today, within_days=14, low_units=3, programs=programs, limit=limit
            )
            assert page.payer_requests == await worklists.pending_payer_requests(
                pool, programs=programs, limit=limit
            )
            assert page.appeals == await worklists.open_appeals(
                pool, programs=programs, limit=limit
            )
            assert (page.no_shows, page.no_shows_total) == await worklists.no_shows_today(
                pool, now=late, programs=programs, limit=limit
            )
            clocks = await quality_clocks.open_clocks(pool, programs=programs, limit=limit)
            assert (page.quality_clocks, page.quality_clocks_total) == clocks
            tasks = await care_tasks.open_tasks_page(pool, programs=programs, limit=limit)
            assert (page.care_tasks, page.care_tasks_total) == tasks
            listed = {
                *(e.episode_id for rows in lists.rows.values() for e in rows),
                *(a.episode_id for a in page.authorizations),
                *(r.episode_id for r in page.payer_requests),
                *(d.episode_id for d in page.appeals),
                *(n.episode_id for n in page.no_shows),
                *(c.episode_id for c in page.quality_clocks),
                *(t.episode_id for t in page.care_tasks),
            }
            named = await PostgresPatients(pool).display_names(sorted(listed), programs)
            assert page.names == named
            assert page.program_choices == (["p1", "p2"] if programs is None else None)
            seen.append(page)
    # The seeds reach every list (every program, a page of 3): the comparisons above
    # compared something, and a page was cut short.
    first = seen[0]
    assert first.lists.counts["risk"] > len(first.lists.rows["risk"]) == 3
    assert first.authorizations and first.payer_requests and first.appeals
    assert first.no_shows and first.names
    assert first.quality_clocks_total > len(first.quality_clocks) == 3
    assert first.care_tasks_total > len(first.care_tasks) == 3
    assert {"Flo Clock", "Gus Task"} <= set(seen[1].names.values())


async def test_the_today_statement_runs_on_one_generic_plan_and_leaves_nothing_set(
    pool: asyncpg.Pool,
) -> None:
    """Planned once per connection (no custom plan, however many calls), in a transaction
    of its own whose settings end with it; inside a caller's transaction, it joins it."""
    await _seed(pool)

    async def read(conn: Conn) -> worklists.TodayPage:
        return await worklists.today_page(
            conn,
            now=NOW,
            tomorrow=TOMORROW,
            horizon_end=HORIZON,
            today=NOW.date(),
            authorization_days=14,
            low_units=3,
            programs=None,
            limit=5,
            program_choices=False,
        )

    async with pool.acquire() as conn:
        pages = [await read(conn) for _ in range(8)]  # PostgreSQL tries 5 custom plans first
        assert all(page == pages[0] for page in pages) and pages[0].lists.rows["overdue"]
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
        assert await conn.fetchval("SHOW enable_bitmapscan") == "on"
        plans = await conn.fetchrow(
            """SELECT generic_plans, custom_plans FROM pg_prepared_statements
            WHERE statement LIKE 'WITH "today list:risk"%'"""
        )
        assert plans is not None
        assert (plans["generic_plans"], plans["custom_plans"]) == (8, 0)
        async with conn.transaction():
            assert await read(conn) == pages[0]
            assert conn.is_in_transaction()
        assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
