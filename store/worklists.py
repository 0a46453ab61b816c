"""Worklist reads for the workbench's Today and utilization-review pages, beside the
general queries in `store.queries` (census, due reviews, expiring authorizations).

Each returns rows for open episodes in the given programs (None = all), most urgent
first; deadlines that depend on policy are computed by the caller from `rules/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel, ConfigDict, TypeAdapter

from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.quality import ClockStatus
from schemas.records import GRANTING_STATUSES, AuthorizationStatus
from store.channels import care_tasks
from store.dbtypes import Db
from store.models import EpisodeRow
from store.quality_clocks import OpenClockLine

_CLOSED = CarePhase.CLOSED.value
_GRANTING = [s.value for s in GRANTING_STATUSES]
_REQUESTS = [
    AuthorizationStatus.INITIAL_REQUESTED.value,
    AuthorizationStatus.CONCURRENT_REVIEW_REQUESTED.value,
]
_DENIALS = [AuthorizationStatus.DENIED.value, AuthorizationStatus.EXTENSION_DENIED.value]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthorizationLine(_Row):
    """An active authorization that ends soon or has few units left."""

    episode_id: str
    program_id: str
    authorization_number: str | None
    level: LevelOfCare
    unit_type: str | None
    units_approved: int
    units_used: int
    units_left: int
    start_date: date | None
    end_date: date
    days_left: int


class PayerRequestLine(_Row):
    """The latest request to a payer on an episode, still without an answer."""

    episode_id: str
    program_id: str
    level: LevelOfCare
    status: AuthorizationStatus
    requested_at: datetime


class DenialLine(_Row):
    """An episode waiting in appeal, with the denial that opened it."""

    episode_id: str
    program_id: str
    level: LevelOfCare
    status: AuthorizationStatus
    denied_at: datetime


async def authorizations_ending_or_low(
    db: Db,
    *,
    today: date,
    within_days: int | None,
    low_units: int,
    programs: list[str] | None,
    limit: int,
) -> list[AuthorizationLine]:
    """Active authorizations ending within `within_days` (None: any end date), or with
    <= `low_units` left; soonest end first, then fewest units left."""
    rows = await db.fetch(
        """
        SELECT a.episode_id, e.program_id, a.authorization_number, a.level, a.unit_type,
            a.units_approved, coalesce(a.units_used, 0) AS units_used,
            greatest(a.units_approved - coalesce(a.units_used, 0), 0) AS units_left,
            a.start_date, a.end_date, (a.end_date - $1::date) AS days_left
        FROM authorizations a JOIN episodes e ON e.episode_id = a.episode_id
        WHERE a.status = ANY($2) AND e.phase <> $3
          AND a.end_date >= $1::date AND a.units_approved IS NOT NULL
          AND ($4::int IS NULL OR a.end_date <= $1::date + $4::int
               OR a.units_approved - coalesce(a.units_used, 0) <= $5)
          AND ($6::text[] IS NULL OR e.program_id = ANY($6))
        ORDER BY a.end_date, units_left, a.episode_id
        LIMIT $7
        """,
        today,
        _GRANTING,
        _CLOSED,
        within_days,
        low_units,
        programs,
        limit,
    )
    return [AuthorizationLine.model_validate(dict(r)) for r in rows]


async def pending_payer_requests(
    db: Db, *, programs: list[str] | None, limit: int
) -> list[PayerRequestLine]:
    """Open episodes whose latest authorization row is a request (oldest first)."""
    rows = await db.fetch(
        """
        SELECT episode_id, program_id, level, status, recorded_at AS requested_at FROM (
            SELECT DISTINCT ON (a.episode_id) a.episode_id, e.program_id, a.level,
                a.status, a.recorded_at
            FROM authorizations a JOIN episodes e ON e.episode_id = a.episode_id
            WHERE e.phase <> $1 AND ($2::text[] IS NULL OR e.program_id = ANY($2))
            ORDER BY a.episode_id, a.recorded_at DESC, a.id DESC
        ) latest
        WHERE status = ANY($3)
        ORDER BY recorded_at, episode_id
        LIMIT $4
        """,
        _CLOSED,
        programs,
        _REQUESTS,
        limit,
    )
    return [PayerRequestLine.model_validate(dict(r)) for r in rows]


async def open_appeals(db: Db, *, programs: list[str] | None, limit: int) -> list[DenialLine]:
    """Episodes in the appeal phase with their latest denial (oldest denial first)."""
    rows = await db.fetch(
        """
        SELECT episode_id, program_id, level, status, denied_at FROM (
            SELECT DISTINCT ON (a.episode_id) a.episode_id, e.program_id, a.level,
                a.status, a.recorded_at AS denied_at
            FROM authorizations a JOIN episodes e ON e.episode_id = a.episode_id
            WHERE e.phase = $1 AND a.status = ANY($2)
              AND ($3::text[] IS NULL OR e.program_id = ANY($3))
            ORDER BY a.episode_id, a.recorded_at DESC, a.id DESC
        ) latest
        ORDER BY denied_at, episode_id
        LIMIT $4
        """,
        CarePhase.APPEAL.value,
        _DENIALS,
        programs,
        limit,
    )
    return [DenialLine.model_validate(dict(r)) for r in rows]


class NoShowLine(_Row):
    """A patient marked absent (no-show) at a group session held today."""

    episode_id: str
    program_id: str
    group_name: str
    starts_at: datetime
    recorded_at: datetime


async def no_shows_today(
    db: Db, *, now: datetime, programs: list[str] | None, limit: int
) -> tuple[list[NoShowLine], int]:
    """No-shows at sessions held today in each group's own time zone, latest session first,
    with their count. A cancelled session is no one's absence; closed episodes drop out.

    Served by `care_groups_program` (0400) for named programs, then `group_sessions_day`
    and the attendance primary key; one statement for the page and the count.
    """
    args: list[object] = [now]
    scope = ""
    if programs is not None:
        args.append(programs)
        scope = f"AND g.program_id = ANY(${len(args)}::text[])"
    rows = await db.fetch(
        f"""SELECT a.episode_id, g.program_id, g.name AS group_name, s.starts_at,
                   a.recorded_at, count(*) OVER ()::int AS total
            FROM care_groups g
            JOIN group_sessions s ON s.group_id = g.group_id
                 AND s.session_date = ($1::timestamptz AT TIME ZONE g.time_zone)::date
                 AND s.cancelled_at IS NULL
            JOIN attendance a ON a.session_id = s.session_id AND a.status = 'no_show'
            JOIN episodes e ON e.episode_id = a.episode_id AND e.phase <> '{_CLOSED}'
            WHERE true {scope}
            ORDER BY s.starts_at DESC, a.episode_id
            LIMIT ${len(args) + 1}""",
        *args,
        limit,
    )
    total = rows[0]["total"] if rows else 0
    lines = [NoShowLine.model_validate({k: v for k, v in r.items() if k != "total"}) for r in rows]
    return lines, total


class TodayLists(_Row):
    """Today's episode worklists: each list's first rows (soonest review first) and its
    count, read in two queries however many episodes the programs hold."""

    rows: dict[str, list[EpisodeRow]]
    counts: dict[str, int]


# The lists, each one condition on open episodes ($1 now, $2 start of tomorrow, $3 end of
# the review horizon). The episode list (`store.queries.list_episodes`) filters the same way.
TODAY_LISTS: dict[str, str] = {
    "risk": "risk_flag",
    "overdue": "next_review_due < $1",
    "due-today": "next_review_due >= $1 AND next_review_due < $2",
    "due-week": "next_review_due >= $2 AND next_review_due < $3",
    "aftercare": f"phase = '{CarePhase.AFTERCARE.value}'",
}
# The row's fields as columns; the levels' columns keep their database names.
_COLUMN_OF = {"authorized_level": "level_authorized", "delivered_level": "level_delivered"}
_ROW_COLUMNS = ", ".join(
    f"{_COLUMN_OF[name]} AS {name}" if name in _COLUMN_OF else name
    for name in EpisodeRow.model_fields
)


async def today_lists(
    db: Db,
    *,
    now: datetime,
    tomorrow: datetime,
    horizon_end: datetime,
    programs: list[str] | None,
    limit: int,
) -> TodayLists:
    """Each list's first `limit` rows and its count, in two statements.

    For every program (None) the partial indexes of migration 0201 serve each list in
    order; for named programs `episodes_open_review_due` (0002) does.
    """
    args: list[object] = [now, tomorrow, horizon_end]
    scope = f"phase <> '{_CLOSED}'"
    if programs is not None:
        args.append(programs)
        scope += f" AND program_id = ANY(${len(args)}::text[])"
    counts_sql = ", ".join(
        f'(SELECT count(*) FROM episodes WHERE {scope} AND {condition})::int AS "{name}"'
        for name, condition in TODAY_LISTS.items()
    )
    pages_sql = " UNION ALL ".join(
        f"""(SELECT '{name}' AS list, {_ROW_COLUMNS} FROM episodes
            WHERE {scope} AND {condition}
            ORDER BY next_review_due NULLS LAST, episode_id LIMIT ${len(args) + 1})"""
        for name, condition in TODAY_LISTS.items()
    )
    counted = await db.fetchrow(f"SELECT {counts_sql}", *args)
    found = await db.fetch(pages_sql, *args, limit)
    rows: dict[str, list[EpisodeRow]] = {name: [] for name in TODAY_LISTS}
    for row in found:
        values = dict(row)
        rows[values.pop("list")].append(EpisodeRow.model_validate(values))
    assert counted is not None
    return TodayLists(rows=rows, counts={name: counted[name] for name in TODAY_LISTS})


class TodayPage(_Row):
    """Everything the Today page reads, from one statement: the episode lists and their
    counts, the authorization, payer and appeal lists, today's no-shows, the open quality
    clocks and care-team tasks with their counts, the patients' display names for every
    row, and (for a person who sees every program) the programs to choose from."""

    lists: TodayLists
    authorizations: list[AuthorizationLine]
    payer_requests: list[PayerRequestLine]
    appeals: list[DenialLine]
    no_shows: list[NoShowLine]
    no_shows_total: int
    quality_clocks: list[OpenClockLine]
    quality_clocks_total: int
    care_tasks: list[care_tasks.CareTeamTask]
    care_tasks_total: int
    names: dict[str, str]
    program_choices: list[str] | None


@dataclass(frozen=True)
class _Page:
    """One list of the Today statement: its rows' SQL, their columns (in the SELECT's
    order: each row comes back as an anonymous record, decoded by position) and the
    order the array keeps."""

    sql: str
    columns: tuple[str, ...]
    order: str


_EPISODE_COLUMNS = tuple(EpisodeRow.model_fields)

# Parameters: $1 now, $2 start of tomorrow, $3 end of the review horizon, $4 limit, $5
# today, $6 authorization horizon in days (NULL: any end date), $7 low units, $8 granting
# statuses, $9 request statuses, $10 denial statuses, $11 the programs when named.
# {scope}: the open episodes (alias e) of the programs; {group_scope}: their groups;
# {program_scope}: a table's own program_id in the programs.
_TASK_FIELDS = (
    "task_id",
    "kind",
    "episode_id",
    "program_id",
    "message_id",
    "template",
    "opened_at",
    "due_at",
    "escalations_done",
    "next_escalation_at",
    "done_at",
    "done_by",
    "callback_outcome",
    "ack_response",
)
_TODAY_PAGES: dict[str, _Page] = {
    **{
        f"list:{name}": _Page(
            f"""SELECT {_ROW_COLUMNS} FROM episodes e WHERE {{scope}} AND {condition}
                ORDER BY next_review_due NULLS LAST, episode_id LIMIT $4""",
            _EPISODE_COLUMNS,
            "next_review_due NULLS LAST, episode_id",
        )
        for name, condition in TODAY_LISTS.items()
    },
    "authorizations": _Page(
        """SELECT a.episode_id, e.program_id, a.authorization_number, a.level, a.unit_type,
            a.units_approved, coalesce(a.units_used, 0) AS units_used,
            greatest(a.units_approved - coalesce(a.units_used, 0), 0) AS units_left,
            a.start_date, a.end_date, (a.end_date - $5::date) AS days_left
        FROM authorizations a JOIN episodes e ON e.episode_id = a.episode_id
        WHERE a.status = ANY($8::text[]) AND {scope}
          AND a.end_date >= $5::date AND a.units_approved IS NOT NULL
          AND ($6::int IS NULL OR a.end_date <= $5::date + $6::int
               OR a.units_approved - coalesce(a.units_used, 0) <= $7::int)
        ORDER BY a.end_date, units_left, a.episode_id
        LIMIT $4""",
        tuple(AuthorizationLine.model_fields),
        "end_date, units_left, episode_id",
    ),
    "payer_requests": _Page(
        """SELECT episode_id, program_id, level, status, recorded_at AS requested_at FROM (
            SELECT DISTINCT ON (a.episode_id) a.episode_id, e.program_id, a.level,
                a.status, a.recorded_at
            FROM authorizations a JOIN episodes e ON e.episode_id = a.episode_id
            WHERE {scope}
            ORDER BY a.episode_id, a.recorded_at DESC, a.id DESC
        ) latest
        WHERE status = ANY($9::text[])
        ORDER BY recorded_at, episode_id
        LIMIT $4""",
        tuple(PayerRequestLine.model_fields),
        "requested_at, episode_id",
    ),
    "appeals": _Page(
        f"""SELECT episode_id, program_id, level, status, denied_at FROM (
            SELECT DISTINCT ON (a.episode_id) a.episode_id, e.program_id, a.level,
                a.status, a.recorded_at AS denied_at
            FROM authorizations a JOIN episodes e ON e.episode_id = a.episode_id
            WHERE {{scope}} AND e.phase = '{CarePhase.APPEAL.value}'
              AND a.status = ANY($10::text[])
            ORDER BY a.episode_id, a.recorded_at DESC, a.id DESC
        ) latest
        ORDER BY denied_at, episode_id
        LIMIT $4""",
        tuple(DenialLine.model_fields),
        "denied_at, episode_id",
    ),
    "no_shows": _Page(
        f"""SELECT a.episode_id, g.program_id, g.name AS group_name, s.starts_at,
               a.recorded_at, count(*) OVER ()::int AS total
        FROM care_groups g
        JOIN group_sessions s ON s.group_id = g.group_id
             AND s.session_date = ($1::timestamptz AT TIME ZONE g.time_zone)::date
             AND s.cancelled_at IS NULL
        JOIN attendance a ON a.session_id = s.session_id AND a.status = 'no_show'
        JOIN episodes e ON e.episode_id = a.episode_id AND e.phase <> '{_CLOSED}'
        WHERE true {{group_scope}}
        ORDER BY s.starts_at DESC, a.episode_id
        LIMIT $4""",
        (*NoShowLine.model_fields, "total"),
        "starts_at DESC, episode_id",
    ),
    # As store.quality_clocks.open_clocks and store.channels.care_tasks.open_tasks_page.
    "quality_clocks": _Page(
        f"""SELECT episode_id, program_id, measure, index_date, last_day, services_needed,
            cardinality(service_days) AS services_counted, alerted_at IS NOT NULL AS alerted,
            count(*) OVER ()::int AS total, clock_id
        FROM quality_clocks WHERE status = '{ClockStatus.OPEN.value}' {{program_scope}}
        ORDER BY last_day, episode_id, clock_id
        LIMIT $4""",
        (*OpenClockLine.model_fields, "total", "clock_id"),
        "last_day, episode_id, clock_id",
    ),
    "care_tasks": _Page(
        f"""SELECT {care_tasks.TASK_COLUMNS}, count(*) OVER ()::int AS total
        FROM care_team_tasks WHERE done_at IS NULL {{program_scope}}
        ORDER BY opened_at + make_interval(secs => first_minutes * 60), task_id
        LIMIT $4""",
        (*_TASK_FIELDS, "total"),
        "due_at, task_id",
    ),
}


def _today_sql(named_programs: bool, choices: bool) -> str:
    """The Today statement, for every program or for named ones ($11), with or without
    the program choices: one text per case, so each keeps its own prepared plan (the
    partial indexes of 0201 serve the every-program case)."""
    named = " AND e.program_id = ANY($11::text[])" if named_programs else ""
    scopes = {
        "scope": f"e.phase <> '{_CLOSED}'{named}",
        "group_scope": "AND g.program_id = ANY($11::text[])" if named_programs else "",
        "program_scope": "AND program_id = ANY($11::text[])" if named_programs else "",
    }
    # Each list's CTE is named "today <list>": never a table's name, which it would hide.
    ctes = ",\n".join(
        f'"today {name}" AS ({page.sql.format(**scopes)})' for name, page in _TODAY_PAGES.items()
    )
    pages = ",\n".join(
        f'ARRAY(SELECT x FROM "today {name}" x ORDER BY {page.order}) AS "{name}"'
        for name, page in _TODAY_PAGES.items()
    )
    # The counts from today_counts (0730), kept by triggers: the risk and aftercare
    # counts are sums of its rows, and every due list is a difference of "due before t"
    # (t = $1 now, $2 tomorrow, $3 the horizon's end): the rows of the days before t's
    # UTC day, plus t's own day's open episodes due before t (episodes_open_due_order;
    # nothing to read when t is a midnight).
    count_scope = "AND program_id = ANY($11::text[])" if named_programs else ""
    before = {"now": "$1", "tomorrow": "$2", "horizon": "$3"}
    due_before = ",\n".join(
        f"""coalesce(sum(episodes) FILTER (
                WHERE due_day < ({t}::timestamptz AT TIME ZONE 'UTC')::date), 0)
            + (SELECT count(*) FROM episodes e WHERE {scopes["scope"]}
                AND e.next_review_due
                    >= ({t}::timestamptz AT TIME ZONE 'UTC')::date::timestamp AT TIME ZONE 'UTC'
                AND e.next_review_due < {t}) AS "due before {name}\""""
        for name, t in before.items()
    )
    ctes += f""",
"today counts" AS (SELECT
    coalesce(sum(episodes) FILTER (WHERE risk), 0)::int AS "count:risk",
    coalesce(sum(episodes) FILTER (WHERE aftercare), 0)::int AS "count:aftercare",
    {due_before}
    FROM today_counts WHERE true {count_scope})"""
    counted = """c."count:risk", c."due before now"::int AS "count:overdue",
    greatest(c."due before tomorrow" - c."due before now", 0)::int AS "count:due-today",
    greatest(c."due before horizon" - c."due before tomorrow", 0)::int AS "count:due-week",
    c."count:aftercare\""""
    listed = " UNION ".join(f'SELECT episode_id FROM "today {name}"' for name in _TODAY_PAGES)
    patients_scope = "AND p.program_id = ANY($11::text[])" if named_programs else ""
    names = f"""ARRAY(SELECT ROW(p.episode_id, p.display_name) FROM patients p
        WHERE p.episode_id IN ({listed}) AND p.display_name IS NOT NULL {patients_scope})
        AS names"""
    programs = (
        """ARRAY(SELECT DISTINCT program_id FROM census_counts WHERE episodes > 0
            ORDER BY program_id) AS program_choices"""
        if choices
        else "NULL::text[] AS program_choices"
    )
    return f'WITH {ctes}\nSELECT {pages},\n{counted},\n{names},\n{programs}\nFROM "today counts" c'


# The Today statement's plan, settled once per connection: PostgreSQL would otherwise plan
# it afresh on every call (a custom plan: ~1.7-2.8 ms at 10,000 episodes, more than it
# runs for), and, on a table not yet analyzed (just after a bulk load), estimate a few
# dozen rows per list and choose a bitmap scan and a sort of every episode in range
# (~2 ms each for the week's and aftercare lists) over the index already in list order.
# Each list is a page read in index order, so neither choice is ever better here.
# SET LOCAL: for this transaction only, nothing stays on the pooled connection.
_TODAY_PLANNER = "SET LOCAL plan_cache_mode = force_generic_plan; SET LOCAL enable_bitmapscan = off"


async def _planned_once(db: Db, sql: str, args: list[object]) -> asyncpg.Record:
    """The Today statement's one row, read with `_TODAY_PLANNER`'s settings: BEGIN and the
    settings in one message, the statement, COMMIT (three round trips). Inside a caller's
    transaction the settings hold for the rest of it."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _planned_once(conn, sql, args)
    if db.is_in_transaction():
        await db.execute(_TODAY_PLANNER)
        row = await db.fetchrow(sql, *args)
    else:
        await db.execute(f"BEGIN; {_TODAY_PLANNER}")
        try:
            row = await db.fetchrow(sql, *args)
        except Exception:
            # (Cancelled mid-statement, the pool rolls back on release: asyncpg always does.)
            if not db.is_closed() and db.is_in_transaction():
                await db.execute("ROLLBACK")
            raise
        await db.execute("COMMIT")
    assert row is not None
    return row


# A list's rows validated in one call (about 60 % of the time of one call per row).
_EPISODE_LIST = TypeAdapter(list[EpisodeRow])

# Columns a list reads for its count or its order, not part of its rows.
_NOT_SHOWN = frozenset({"total", "clock_id"})


def _rows(record: asyncpg.Record, name: str) -> list[dict[str, Any]]:
    columns = _TODAY_PAGES[name].columns
    return [dict(zip(columns, values, strict=True)) for values in record[name]]


async def today_page(
    db: Db,
    *,
    now: datetime,
    tomorrow: datetime,
    horizon_end: datetime,
    today: date,
    authorization_days: int | None,
    low_units: int,
    programs: list[str] | None,
    limit: int,
    program_choices: bool,
) -> TodayPage:
    """The Today page's reads in one statement: each list as its own function (above,
    store.quality_clocks.open_clocks, store.channels.care_tasks.open_tasks_page) reads it,
    in the same order, the counts as `today_lists` counts them (from `today_counts`,
    0730), and the display names of every patient listed (within `programs`).
    `program_choices`: also the programs with open episodes (for a person who sees every
    program). The statement runs in a transaction of its own with `_TODAY_PLANNER`'s
    settings (three short round trips, cheaper than planning it on every call)."""
    args: list[object] = [
        now,
        tomorrow,
        horizon_end,
        limit,
        today,
        authorization_days,
        low_units,
        _GRANTING,
        _REQUESTS,
        _DENIALS,
    ]
    if programs is not None:
        args.append(programs)
    row = await _planned_once(db, _today_sql(programs is not None, program_choices), args)
    no_shows = _rows(row, "no_shows")
    clocks = _rows(row, "quality_clocks")
    tasks = _rows(row, "care_tasks")
    choices = row["program_choices"]
    return TodayPage(
        lists=TodayLists(
            rows={
                name: _EPISODE_LIST.validate_python(_rows(row, f"list:{name}"))
                for name in TODAY_LISTS
            },
            counts={name: row[f"count:{name}"] for name in TODAY_LISTS},
        ),
        authorizations=[AuthorizationLine.model_validate(r) for r in _rows(row, "authorizations")],
        payer_requests=[PayerRequestLine.model_validate(r) for r in _rows(row, "payer_requests")],
        appeals=[DenialLine.model_validate(r) for r in _rows(row, "appeals")],
        no_shows=[
            NoShowLine.model_validate({k: v for k, v in r.items() if k != "total"})
            for r in no_shows
        ],
        no_shows_total=no_shows[0]["total"] if no_shows else 0,
        quality_clocks=[
            OpenClockLine.model_validate({k: v for k, v in r.items() if k not in _NOT_SHOWN})
            for r in clocks
        ],
        quality_clocks_total=clocks[0]["total"] if clocks else 0,
        care_tasks=[
            care_tasks.task_from_row({k: v for k, v in r.items() if k != "total"}) for r in tasks
        ],
        care_tasks_total=tasks[0]["total"] if tasks else 0,
        names=dict(row["names"]),
        program_choices=None if choices is None else list(choices),
    )
