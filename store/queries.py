"""Read queries across episodes: census, due lists, expiring authorizations, timeline,
outcomes and the filtered episode list. Each takes a pool (or connection) and returns
the pydantic models in `store.models`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

import asyncpg

from rules.levels import INTENSITY, LevelOfCare
from rules.policy import ProgramPolicy
from rules.transitions import CarePhase
from schemas.records import GRANTING_STATUSES
from store.attendance_timeline import attendance_entries
from store.channels.care_tasks import timeline_entries as care_task_entries
from store.dbtypes import Db
from store.followups import timeline_entries as followup_entries
from store.models import (
    CensusRow,
    EpisodeFilter,
    EpisodeKey,
    EpisodePage,
    EpisodeRow,
    ExpiringAuthorization,
    ProgramOutcomes,
    ReviewsDue,
    TimelineEntry,
)

# Authorization statuses that grant care (the others are requests, denials, appeals).
ACTIVE_AUTHORIZATION_STATUSES: tuple[str, ...] = tuple(s.value for s in GRANTING_STATUSES)
# Closures that are corrections, not care: left out of outcomes.
NOT_CARE_OUTCOMES: tuple[str, ...] = ("entered_in_error",)

_CLOSED = CarePhase.CLOSED.value
_EPISODE_COLUMNS = """episode_id, program_id, phase, outcome, level_authorized,
    level_delivered, started_at, closed_at, next_review_due, risk_flag, risk_unacknowledged,
    baseline_phq9, latest_phq9, updated_at"""


def _intensity_sql(column: str) -> str:
    """`CASE` mapping a level column to its intensity, generated from `rules.levels`."""
    arms = " ".join(f"WHEN '{level.value}' THEN {rank}" for level, rank in INTENSITY.items())
    return f"CASE {column} {arms} END"


def _episode(row: asyncpg.Record) -> EpisodeRow:
    return EpisodeRow.model_validate(dict(row))


# Enum members by stored value: a dict lookup is several times cheaper than `Enum(value)`.
# In `census_counts`, level '' stands for "no delivered level yet" (NULL in `episodes`).
_LEVEL_BY_VALUE: dict[str, LevelOfCare | None] = {
    "": None,
    **{level.value: level for level in LevelOfCare},
}
_PHASE_BY_VALUE: dict[str, CarePhase] = {phase.value: phase for phase in CarePhase}


async def census(db: Db, *, programs: list[str] | None = None) -> list[CensusRow]:
    """Open episodes counted by program x delivered level x phase (in index order).

    Reads `census_counts`, which triggers on `episodes` keep equal to a GROUP BY over the
    open episodes in the same transaction as every write (migration 0003); `level` '' there
    means no delivered level yet. Ordered as the GROUP BY was: program, level (NULL last),
    phase.
    """
    rows = await db.fetch(
        """
        SELECT program_id, level, phase, episodes
        FROM census_counts
        WHERE episodes > 0 AND ($1::text[] IS NULL OR program_id = ANY($1))
        ORDER BY program_id, level = '', level, phase
        """,
        programs,
    )
    # The generated CHECKs on `episodes` already guarantee phase and level values:
    # construct, don't validate (validation was most of this query's time at 100k episodes).
    level_of = _LEVEL_BY_VALUE.__getitem__
    phase_of = _PHASE_BY_VALUE.__getitem__
    construct = CensusRow.model_construct
    return [
        construct(
            program_id=program_id,
            level=level_of(level),
            phase=phase_of(phase),
            episodes=episodes,
        )
        for program_id, level, phase, episodes in rows
    ]


def _start_of_next_day(now: datetime, tz: tzinfo) -> datetime:
    local = now.astimezone(tz)
    return datetime.combine(local.date() + timedelta(days=1), time(), tzinfo=tz)


async def reviews_due(
    db: Db, *, now: datetime, tz: tzinfo = UTC, programs: list[str] | None = None
) -> ReviewsDue:
    """Reviews already past due at `now`, and those still due before midnight in `tz`."""
    rows = await db.fetch(
        f"""
        SELECT {_EPISODE_COLUMNS}
        FROM episodes
        WHERE phase <> $1 AND next_review_due < $2
          AND ($3::text[] IS NULL OR program_id = ANY($3))
        ORDER BY next_review_due, episode_id
        """,
        _CLOSED,
        _start_of_next_day(now, tz),
        programs,
    )
    episodes = [_episode(r) for r in rows]
    return ReviewsDue(
        as_of=now,
        overdue=[e for e in episodes if e.next_review_due is not None and e.next_review_due < now],
        due_today=[
            e for e in episodes if e.next_review_due is not None and e.next_review_due >= now
        ],
    )


async def authorizations_expiring(
    db: Db, *, today: date, within_days: int, programs: list[str] | None = None
) -> list[ExpiringAuthorization]:
    """Active authorizations of open episodes whose last day is within `within_days`."""
    rows = await db.fetch(
        """
        SELECT a.episode_id, e.program_id, a.authorization_number, a.payer_id, a.level,
            a.status, a.units_approved, a.units_used, a.start_date, a.end_date,
            (a.end_date - $1::date) AS days_left
        FROM authorizations a JOIN episodes e ON e.episode_id = a.episode_id
        WHERE a.status = ANY($2) AND a.end_date BETWEEN $1::date AND $1::date + $3::int
          AND e.phase <> $4 AND ($5::text[] IS NULL OR e.program_id = ANY($5))
        ORDER BY a.end_date, a.episode_id, a.authorization_number
        """,
        today,
        list(ACTIVE_AUTHORIZATION_STATUSES),
        within_days,
        _CLOSED,
        programs,
    )
    return [ExpiringAuthorization.model_validate(dict(r)) for r in rows]


async def timeline(db: Db, episode_id: str) -> list[TimelineEntry]:
    """Transitions, reviews, messaging-consent changes, no-shows and attendance corrections,
    billable-day decisions and the 6-/12-month follow-ups of one episode in time order (a
    review before the move it caused)."""
    rows = await db.fetch(
        """
        SELECT kind, at, actor, from_phase, to_phase, event, reason,
            level_delivered AS delivered_level, level_authorized AS authorized_level,
            review_id, review_kind, phq9_total, gad7_total, hours_attended,
            recommended_action, decision, override_reason, reasons
        FROM (
            SELECT 'transition' AS kind, at, actor, from_phase, to_phase, event, reason,
                level_delivered, level_authorized, NULL::text AS review_id,
                NULL::text AS review_kind, NULL::smallint AS phq9_total,
                NULL::smallint AS gad7_total, NULL::float8 AS hours_attended,
                NULL::text AS recommended_action, NULL::text AS decision,
                NULL::text AS override_reason, '{}'::text[] AS reasons, seq, 1 AS rank, ordinal
            FROM transitions WHERE episode_id = $1
            UNION ALL
            -- A decision's reason is the clinician's own (e.g. the attendance plan).
            SELECT 'review', at, clinician_id, NULL, NULL, NULL,
                CASE WHEN kind = 'decision' THEN reasons[1] END, NULL, NULL, review_id,
                kind, phq9_total, gad7_total, hours_attended, recommended_action, decision,
                override_reason, reasons, seq, 0, ordinal
            FROM reviews WHERE episode_id = $1
            UNION ALL
            -- The patient's own STOP / START replies (store/channels/contacts.py).
            SELECT 'messaging', at, 'patient', NULL, NULL,
                CASE WHEN consented THEN 'messaging_consent_restored'
                    ELSE 'messaging_consent_withdrawn' END,
                channel || ' reply ' || keyword, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                NULL, NULL, NULL, '{}'::text[], 0, 2, id::integer
            FROM messaging_consent_events WHERE episode_id = $1
        ) entries
        ORDER BY at, seq, rank, ordinal
        """,
        episode_id,
    )
    entries = [TimelineEntry.model_validate(dict(r)) for r in rows]
    # At their moments (a stable sort keeps the order above): attendance, billing, and
    # the care team's tasks (acknowledgements, call-back tasks).
    later = (
        await attendance_entries(db, episode_id)
        + await care_task_entries(db, episode_id)
        + await followup_entries(db, episode_id)
    )
    return sorted(entries + later, key=lambda e: e.at)


async def outcomes(
    db: Db, *, programs: list[str] | None = None, policy: ProgramPolicy | None = None
) -> list[ProgramOutcomes]:
    """Per program, over closed episodes: median stay, step-down/up rates, PHQ-9 response.

    A step is a change of delivered level between consecutive transitions that name one;
    response is a drop of `policy.response_drop_fraction` from baseline, remission a score
    under `policy.remission_below`, both at discharge (the episode's latest PHQ-9).
    """
    policy = policy or ProgramPolicy()
    rows = await db.fetch(
        f"""
        WITH closed AS (
            SELECT episode_id, program_id, started_at, closed_at, baseline_phq9, latest_phq9
            FROM episodes
            WHERE phase = $1 AND closed_at IS NOT NULL
              AND (outcome IS NULL OR outcome <> ALL($2))
              AND ($3::text[] IS NULL OR program_id = ANY($3))
        ),
        levels AS (
            SELECT t.episode_id, {_intensity_sql("t.level_delivered")} AS now_rank,
                lag({_intensity_sql("t.level_delivered")}) OVER (
                    PARTITION BY t.episode_id ORDER BY t.at, t.seq, t.ordinal
                ) AS before_rank
            FROM transitions t JOIN closed c ON c.episode_id = t.episode_id
            WHERE t.level_delivered IS NOT NULL
        ),
        moves AS (
            SELECT episode_id, bool_or(now_rank < before_rank) AS stepped_down,
                bool_or(now_rank > before_rank) AS stepped_up
            FROM levels GROUP BY episode_id
        ),
        scored AS (
            SELECT c.*, coalesce(m.stepped_down, false) AS stepped_down,
                coalesce(m.stepped_up, false) AS stepped_up,
                (c.baseline_phq9 IS NOT NULL AND c.latest_phq9 IS NOT NULL) AS measured,
                (c.baseline_phq9 > 0
                    AND c.baseline_phq9 - c.latest_phq9 >= c.baseline_phq9 * $4::float8)
                    OR c.latest_phq9 < $5 AS improved
            FROM closed c LEFT JOIN moves m ON m.episode_id = c.episode_id
        )
        SELECT program_id,
            count(*)::int AS closed_episodes,
            percentile_cont(0.5) WITHIN GROUP (
                ORDER BY extract(epoch FROM closed_at - started_at) / 86400.0
            ) AS median_length_of_stay_days,
            (count(*) FILTER (WHERE stepped_down))::float8 / count(*) AS step_down_rate,
            (count(*) FILTER (WHERE stepped_up))::float8 / count(*) AS step_up_rate,
            (count(*) FILTER (WHERE measured))::int AS phq9_measured,
            (count(*) FILTER (WHERE measured AND improved))::float8
                / nullif(count(*) FILTER (WHERE measured), 0)
                AS phq9_response_or_remission_rate
        FROM scored
        GROUP BY program_id
        ORDER BY program_id
        """,
        _CLOSED,
        list(NOT_CARE_OUTCOMES),
        programs,
        policy.response_drop_fraction,
        policy.remission_below,
    )
    return [ProgramOutcomes.model_validate(dict(r)) for r in rows]


# The episode list's order, soonest review first (no review date last), then by ID. One
# expression, so the partial indexes of migration 0600 serve the ORDER BY and the keyset
# condition alike and a page costs the same at any depth.
_LIST_ORDER = "coalesce(e.next_review_due, 'infinity'::timestamptz), e.episode_id"
MAX_PAGE = 500


async def list_episodes(
    db: Db,
    query: EpisodeFilter,
    *,
    now: datetime,
    tz: tzinfo = UTC,
    limit: int = 50,
    after: EpisodeKey | None = None,
    count: bool = False,
) -> EpisodePage:
    """A page of episodes matching every given filter, soonest review first, starting after
    `after` (keyset pagination: stable under concurrent writes, no OFFSET). With `count`,
    every matching episode is counted too: the one cost that grows with the table (630 ms
    at 1,000,000 episodes against 25 ms for a page, BENCHMARKS.md), so only on request."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}")
    where, params = _episode_filter(query, now=now, tz=tz)
    total: int | None = None
    if count:
        condition = " AND ".join(where) or "true"
        total = int(
            await db.fetchval(f"SELECT count(*) FROM episodes e WHERE {condition}", *params)
        )
    if after is not None:
        params.extend([after.next_review_due, after.episode_id])
        n = len(params)
        where.append(
            f"({_LIST_ORDER}) > (coalesce(${n - 1}::timestamptz, 'infinity'::timestamptz),"
            f" ${n}::text)"
        )
    condition = " AND ".join(where) or "true"
    rows = await db.fetch(
        f"""
        SELECT {_EPISODE_COLUMNS} FROM episodes e WHERE {condition}
        ORDER BY {_LIST_ORDER}
        LIMIT ${len(params) + 1}
        """,
        *params,
        limit + 1,
    )
    return EpisodePage(
        items=[_episode(r) for r in rows[:limit]],
        total=total,
        limit=limit,
        more=len(rows) > limit,
    )


def _episode_filter(
    query: EpisodeFilter, *, now: datetime, tz: tzinfo
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if not query.include_closed:
        # A literal, not a parameter: the partial indexes (WHERE phase <> 'closed') are
        # chosen only when the planner sees the same predicate.
        where.append(f"e.phase <> '{_CLOSED}'")
    if query.programs is not None and len(query.programs) == 1:
        # Equality, so the (program_id, order) index serves one program's pages in order.
        where.append(f"e.program_id = {param(query.programs[0])}")
    elif query.programs is not None:
        where.append(f"e.program_id = ANY({param(query.programs)}::text[])")
    if query.phase is not None:
        where.append(f"e.phase = {param(query.phase.value)}")
    if query.level is not None:
        where.append(f"e.level_delivered = {param(query.level.value)}")
    if query.review_due_before is not None:
        where.append(f"e.next_review_due < {param(query.review_due_before)}")
    if query.overdue is True:
        where.append(f"e.next_review_due < {param(now)}")
    elif query.overdue is False:
        where.append(f"(e.next_review_due IS NULL OR e.next_review_due >= {param(now)})")
    if query.risk_flag is not None:
        where.append(f"e.risk_flag = {param(query.risk_flag)}")
    if query.authorization_expiring_within_days is not None:
        today = now.astimezone(tz).date()
        start = param(today)
        where.append(
            f"""EXISTS (SELECT 1 FROM authorizations a WHERE a.episode_id = e.episode_id
                AND a.status = ANY({param(list(ACTIVE_AUTHORIZATION_STATUSES))}::text[])
                AND a.end_date BETWEEN {start}::date
                    AND {start}::date + {param(query.authorization_expiring_within_days)}::int)"""
        )
    return where, params


async def program_of(pool: asyncpg.Pool, episode_id: str) -> str | None:
    """The program an episode belongs to; None for an episode the store does not know."""
    found: str | None = await pool.fetchval(
        "SELECT program_id FROM episodes WHERE episode_id = $1", episode_id
    )
    return found
