"""The program report from the care records, computed in PostgreSQL: one statement over
the program's episodes open at any time in the period returns the counts per measure and
status, and the length-of-stay quartiles (percentile_cont); `store.outcomes_figures` turns
them into the figures. Nothing is read per episode into Python.

The PHQ-9 measures, endings, stays and step-ups are those of `rules.outcomes` and
`rules.program_measures` (the Python computation the tests compare this with:
tests/reports/python_report.py); the follow-up windows also count the 6- and 12-month
questionnaires answered after the episode closed (`followup_measures`, migration 0310), a
recorded non-response as lacking. HEDIS FUH and IET are read from the engine's live
quality clocks (`quality_clocks`, migration 0900), not recomputed. Days are the program's
local calendar days (its IANA zone). Indexes: migrations 0700, 0710, 0900, 0310.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time
from typing import Final

import asyncpg

from rules import localtime
from rules.levels import INTENSITY, LevelOfCare
from rules.outcome_policy import OutcomePolicy, Window
from rules.outcomes import FollowUp, MeasureStatus
from rules.program_measures import ENDING_PHASES, EndKind, Spread, end_kind
from rules.transitions import CarePhase, Event
from schemas.outcomes_report import ProgramReport
from schemas.quality import ClockStatus, QualityMeasure
from store.dbtypes import Conn, Db
from store.outcomes_figures import (
    FUH_LONG,
    FUH_SHORT,
    IET_ENGAGEMENT,
    IET_INITIATION,
    REMISSION_AT_DISCHARGE,
    RESPONSE_AT_DISCHARGE,
    STEP_UPS,
    Tallies,
    assemble,
)

# A clock's state -> the measure's status. An open clock whose last day has passed (its
# close not recorded yet) is not met; one the episode's closure ended before its window
# closed lacks the record (in the denominator, not met).
CLOCK_RESULTS: Final[dict[ClockStatus, MeasureStatus]] = {
    ClockStatus.OPEN: MeasureStatus.PENDING,
    ClockStatus.MET: MeasureStatus.MET,
    ClockStatus.MISSED: MeasureStatus.NOT_MET,
    ClockStatus.ENDED: MeasureStatus.LACKING,
}
FUH_FIGURES: Final[dict[QualityMeasure, str]] = {
    QualityMeasure.FUH_7: FUH_SHORT,
    QualityMeasure.FUH_30: FUH_LONG,
}
# Which follow-up questionnaire (followup_measures.due_kind) answers which window.
FOLLOWUP_DUE_KINDS: Final[dict[FollowUp, str | None]] = {
    FollowUp.REMISSION_12_MONTHS: "12_month",
    FollowUp.REMISSION_6_MONTHS: "6_month",
    FollowUp.RESPONSE_6_MONTHS: "6_month",
    FollowUp.DRR_E_FOLLOWUP: None,
}

# The events whose ending is "entered in error" (the episode is left out of the measures),
# from `end_kind`; checked here to depend on the event alone, as the query assumes.
ERROR_EVENTS: Final = tuple(
    e for e in Event if end_kind(e, CarePhase.IN_TREATMENT) is EndKind.ENTERED_IN_ERROR
)
assert all(
    (end_kind(e, p) is EndKind.ENTERED_IN_ERROR) == (e in ERROR_EVENTS)
    for e in Event
    for p in CarePhase
), "entered-in-error must not depend on the phase the episode ended from"


class FollowupStatus:
    """The `followup_measures` values the report reads (migration 0310)."""

    ANSWERED = "answered"
    NO_RESPONSE = "no_response"
    PHQ9 = "phq9"


class FollowUpRule:
    """How the last score in a follow-up window decides (the query's `rule` column)."""

    ANY = "any"  # DRR-E: a score in the window meets it
    RESPONSE = "response"
    REMISSION = "remission"


FOLLOWUP_RULES: Final[dict[FollowUp, str]] = {
    FollowUp.REMISSION_12_MONTHS: FollowUpRule.REMISSION,
    FollowUp.REMISSION_6_MONTHS: FollowUpRule.REMISSION,
    FollowUp.RESPONSE_6_MONTHS: FollowUpRule.RESPONSE,
    FollowUp.DRR_E_FOLLOWUP: FollowUpRule.ANY,
}


def followup_window(kind: FollowUp, policy: OutcomePolicy) -> Window:
    return {
        FollowUp.REMISSION_12_MONTHS: policy.remission_12_months,
        FollowUp.REMISSION_6_MONTHS: policy.remission_6_months,
        FollowUp.RESPONSE_6_MONTHS: policy.response_6_months,
        FollowUp.DRR_E_FOLLOWUP: policy.drr_e_followup,
    }[kind]


# One statement; `:name` parameters (bound to $n by `_bind`). Each CTE is one measure's
# rows; the final SELECT has one row per (figure, status) count, per ending (event, from
# phase), and per level's stay quartiles. Orders inside an episode are (at, seq, ordinal),
# as the records were written.
REPORT_SQL = """
WITH cohort AS MATERIALIZED (
    SELECT episode_id, started_at, (started_at AT TIME ZONE :tz::text)::date AS started_on,
        started_at >= :begin_at::timestamptz AND started_at < :end_at::timestamptz
            AS started_in_period
    FROM episodes
    WHERE program_id = :program::text AND started_at < :end_at::timestamptz
      AND (closed_at IS NULL OR closed_at >= :begin_at::timestamptz)
),
ends AS MATERIALIZED (
    SELECT DISTINCT ON (t.episode_id) t.episode_id, t.at, t.seq, t.ordinal, t.from_phase,
        t.event
    FROM transitions t
    WHERE t.to_phase = ANY(:ending_phases::text[])
      AND t.episode_id IN (SELECT episode_id FROM cohort)
    ORDER BY t.episode_id, t.at, t.seq, t.ordinal
),
eps AS MATERIALIZED (
    SELECT c.episode_id, c.started_on, c.started_in_period,
        e.at AS ended_at, e.seq AS end_seq, e.ordinal AS end_ordinal,
        (e.at AT TIME ZONE :tz::text)::date AS ended_on,
        e.from_phase AS end_from, e.event AS end_event,
        coalesce(e.event = ANY(:error_events::text[]), false) AS in_error,
        coalesce(e.at >= :begin_at::timestamptz AND e.at < :end_at::timestamptz, false)
            AS ended_in_period
    FROM cohort c LEFT JOIN ends e ON e.episode_id = c.episode_id
),
errors AS (
    SELECT episode_id FROM eps WHERE in_error
),
scores AS MATERIALIZED (
    -- Every PHQ-9 of the cohort in order (n), each row carrying its episode's first score
    -- (the baseline) and its index score (the first review score above the threshold),
    -- so the measures below aggregate per episode without joining scores to scores.
    SELECT episode_id, day, total, n, index_n,
        max(day) FILTER (WHERE n = index_n) OVER e AS index_day,
        max(total) FILTER (WHERE n = index_n) OVER e AS index_total,
        max(day) FILTER (WHERE n = 1) OVER e AS first_day,
        max(total) FILTER (WHERE n = 1) OVER e AS first_total
    FROM (
        SELECT numbered.*,
            min(n) FILTER (WHERE total > :index_above::int AND NOT follow_up) OVER e
                AS index_n
        FROM (
            SELECT episode_id, (at AT TIME ZONE :tz::text)::date AS day, total, follow_up,
                row_number() OVER (
                    PARTITION BY episode_id ORDER BY at, follow_up, seq, ordinal
                ) AS n
            FROM (
                SELECT r.episode_id, r.at, r.phq9_total AS total, false AS follow_up,
                    r.seq, r.ordinal
                FROM reviews r
                WHERE r.phq9_total IS NOT NULL
                  AND r.episode_id IN (SELECT episode_id FROM cohort)
                UNION ALL
                SELECT f.episode_id, f.answered_at, f.total, true, 0, 0
                FROM followup_measures f
                WHERE f.status = :answered::text AND f.instrument = :phq9::text
                  AND f.episode_id IN (SELECT episode_id FROM cohort)
            ) u
        ) numbered
        WINDOW e AS (PARTITION BY episode_id)
    ) indexed
    WINDOW e AS (PARTITION BY episode_id)
),
no_responses AS (
    SELECT DISTINCT f.episode_id, f.due_kind
    FROM cohort c JOIN followup_measures f ON f.episode_id = c.episode_id
    WHERE f.status = :no_response::text AND f.instrument = :phq9::text
),
discharge AS (
    SELECT s.first_total AS baseline,
        (array_agg(s.total ORDER BY s.n DESC)
            FILTER (WHERE s.n > 1 AND s.day > s.first_day AND s.day <= e.ended_on))[1]
            AS last
    FROM eps e JOIN scores s ON s.episode_id = e.episode_id
    WHERE e.ended_in_period AND NOT e.in_error AND s.first_total > :index_above::int
    GROUP BY e.episode_id, s.first_total
),
windows AS (
    SELECT * FROM unnest(:fu_kinds::text[], :fu_rules::text[], :fu_firsts::int[],
        :fu_lasts::int[], :fu_due_kinds::text[])
        WITH ORDINALITY AS w(kind, rule, first_day, last_day, due_kind, position)
),
followup_lasts AS (
    -- One row per index episode in the period: the last score in each follow-up window
    -- (one FILTER per window of `windows`, in its order: `_window_lasts`).
    SELECT s.episode_id, s.index_day AS index_on, s.index_total, ARRAY[{lasts}] AS lasts
    FROM scores s
    WHERE s.index_n IS NOT NULL
      AND s.index_day BETWEEN :first_day::date AND :last_day::date
      AND s.episode_id NOT IN (SELECT episode_id FROM errors)
    GROUP BY s.episode_id, s.index_day, s.index_total
),
followups AS (
    SELECT w.kind, w.rule, w.last_day, f.index_on, f.index_total, f.lasts[w.position] AS last,
        x.episode_id IS NOT NULL AS no_response
    FROM followup_lasts f
    CROSS JOIN windows w
    LEFT JOIN no_responses x ON x.episode_id = f.episode_id AND x.due_kind = w.due_kind
),
leveled AS (
    -- One pass over the moves that name a level, in the records' order: the level before
    -- each (the previous move with a level).
    SELECT t.episode_id, t.at, t.seq, t.ordinal, t.level_delivered AS level,
        lag(t.level_delivered) OVER (
            PARTITION BY t.episode_id ORDER BY t.at, t.seq, t.ordinal
        ) AS before
    FROM transitions t
    WHERE t.level_delivered IS NOT NULL
      AND t.episode_id IN (SELECT episode_id FROM cohort)
      AND t.episode_id NOT IN (SELECT episode_id FROM errors)
),
changes AS (
    -- Each change of level, its intensity, the one before, and the most intensive level
    -- changed to within the step-up days after it (later moves at the same instant
    -- included, earlier ones not): window frames in the same order, no self-join.
    SELECT episode_id, at, rank, lag(rank) OVER w AS before_rank,
        greatest(
            max(rank) OVER (
                PARTITION BY episode_id ORDER BY at
                RANGE BETWEEN CURRENT ROW
                    AND make_interval(secs => :step_up_s::float8) FOLLOWING
                EXCLUDE GROUP
            ),
            max(rank) OVER (
                PARTITION BY episode_id, at ORDER BY seq, ordinal
                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
            )
        ) AS later_max
    FROM (
        SELECT l.episode_id, l.at, l.seq, l.ordinal,
            (:ranks::int[])[array_position(:levels::text[], l.level)] AS rank
        FROM leveled l WHERE l.before IS DISTINCT FROM l.level
    ) l
    WINDOW w AS (PARTITION BY episode_id ORDER BY at, seq, ordinal)
),
step_downs AS (
    SELECT at, coalesce(later_max > rank, false) AS stepped_up
    FROM changes
    WHERE rank < before_rank AND at >= :begin_at::timestamptz AND at < :end_at::timestamptz
),
stays AS (
    SELECT m.level, m.episode_id,
        (sum(extract(epoch FROM least(m.next_at, m.ended_at) - m.at)) / 86400)::float8 AS days
    FROM (
        SELECT t.episode_id, t.at, t.seq, t.ordinal, t.to_phase, t.level_delivered AS level,
            lead(t.at) OVER (PARTITION BY t.episode_id ORDER BY t.at, t.seq, t.ordinal)
                AS next_at,
            e.ended_at, e.end_seq, e.end_ordinal
        FROM eps e JOIN transitions t ON t.episode_id = e.episode_id
        WHERE e.ended_in_period AND NOT e.in_error
    ) m
    WHERE (m.at, m.seq, m.ordinal) < (m.ended_at, m.end_seq, m.end_ordinal)
      AND m.to_phase = :in_treatment::text AND m.level IS NOT NULL
      AND least(m.next_at, m.ended_at) > m.at
    GROUP BY m.level, m.episode_id
),
clock_results AS (
    SELECT * FROM unnest(:clock_states::text[], :clock_results::text[]) AS r(state, result)
),
clocks AS (
    SELECT q.episode_id, q.measure, q.index_date, q.met_on,
        CASE WHEN r.result = :pending::text AND :today::date > q.last_day
             THEN :not_met::text ELSE r.result END AS result
    FROM quality_clocks q
    JOIN clock_results r ON r.state = q.status
    LEFT JOIN eps e ON e.episode_id = q.episode_id
    WHERE q.program_id = :program::text AND NOT coalesce(e.in_error, false)
      AND q.measure = ANY(:clock_measures::text[])
),
iet AS (
    SELECT i.result AS initiation,
        CASE WHEN i.result <> :met::text THEN i.result
             ELSE coalesce(g.result, :pending::text) END AS engagement
    FROM clocks i
    LEFT JOIN clocks g ON g.episode_id = i.episode_id AND g.measure = :iet_engagement_measure::text
        AND g.index_date = i.met_on
    WHERE :substance_use::bool AND i.measure = :iet_initiation_measure::text
      AND i.index_date BETWEEN :first_day::date AND :last_day::date
),
statuses AS (
    SELECT :response_name::text AS figure,
        CASE WHEN last IS NULL THEN 'lacking'
             WHEN baseline > 0 AND (baseline - last) >= baseline * :response_drop::float8 THEN 'met'
             ELSE 'not_met' END AS status
    FROM discharge
    UNION ALL
    SELECT :remission_name::text,
        CASE WHEN last IS NULL THEN 'lacking'
             WHEN last < :remission_below::int THEN 'met' ELSE 'not_met' END
    FROM discharge
    UNION ALL
    SELECT kind,
        CASE WHEN last IS NULL THEN
                CASE WHEN no_response OR :today::date - index_on > last_day THEN 'lacking'
                     ELSE 'pending' END
             WHEN rule = :rule_any::text THEN 'met'
             WHEN rule = :rule_response::text THEN
                CASE WHEN index_total > 0
                      AND (index_total - last) >= index_total * :response_drop::float8
                     THEN 'met' ELSE 'not_met' END
             WHEN last < :remission_below::int THEN 'met' ELSE 'not_met' END
    FROM followups
    UNION ALL
    SELECT :step_ups_name::text,
        CASE WHEN stepped_up THEN 'met'
             WHEN at >= :as_of::timestamptz - make_interval(secs => :step_up_s::float8)
                THEN 'pending'
             ELSE 'not_met' END
    FROM step_downs
    UNION ALL
    SELECT f.figure, q.result
    FROM clocks q JOIN unnest(:fuh_measures::text[], :fuh_figures::text[])
        AS f(measure, figure) ON f.measure = q.measure
    WHERE q.index_date BETWEEN :first_day::date AND :last_day::date
    UNION ALL
    SELECT :iet_initiation_name::text, initiation FROM iet
    UNION ALL
    SELECT :iet_engagement_name::text, engagement FROM iet
)
SELECT 'rate' AS part, figure AS a, status AS b, count(*) AS n,
    NULL::float8[] AS quartiles
FROM statuses GROUP BY figure, status
UNION ALL
SELECT 'ending', end_event, end_from, count(*), NULL
FROM eps WHERE ended_in_period GROUP BY end_event, end_from
UNION ALL
SELECT 'stay', level, NULL, count(*),
    percentile_cont(ARRAY[0.25, 0.5, 0.75]::float8[]) WITHIN GROUP (ORDER BY days)
FROM stays GROUP BY level
UNION ALL
SELECT 'started', NULL, NULL, count(*), NULL FROM eps WHERE started_in_period
"""


def _window_lasts(count: int) -> str:
    """The last score in each follow-up window, one FILTER per window (1-based, the
    order of the `fu_*` parameters)."""
    return ", ".join(
        f"(array_agg(s.total ORDER BY s.n DESC) FILTER (WHERE s.n <> s.index_n"
        f" AND s.day - s.index_day"
        f" BETWEEN (:fu_firsts::int[])[{k}] AND (:fu_lasts::int[])[{k}]))[1]"
        for k in range(1, count + 1)
    )


REPORT_SQL = REPORT_SQL.replace("{lasts}", _window_lasts(len(FollowUp)))

_PARAM = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def bind(sql: str, values: Mapping[str, object]) -> tuple[str, list[object]]:
    """`:name` parameters as asyncpg's `$n`, and the values in that order."""
    order: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for :{name}")
        return f"${order.setdefault(name, len(order) + 1)}"

    text = _PARAM.sub(number, sql)
    return text, [values[name] for name in order]


def period_bounds(first: date, last: date, tz: str = "UTC") -> tuple[datetime, datetime]:
    """[first's local midnight, the local midnight after last) in the zone `tz`."""
    begin = datetime.combine(first, time(), tzinfo=localtime.zone(tz)).astimezone(UTC)
    return begin, localtime.local_midnight_after(last, tz)


def report_parameters(
    program_id: str,
    first: date,
    last: date,
    *,
    as_of: datetime,
    policy: OutcomePolicy,
    substance_use: bool,
    tz: str = "UTC",
) -> dict[str, object]:
    begin, end = period_bounds(first, last, tz)
    kinds = list(FollowUp)
    return {
        "program": program_id,
        "begin_at": begin,
        "end_at": end,
        "first_day": first,
        "last_day": last,
        "as_of": as_of,
        "today": localtime.local_date(as_of, tz),
        "tz": tz,
        "ending_phases": [p.value for p in ENDING_PHASES],
        "error_events": [e.value for e in ERROR_EVENTS],
        "in_treatment": CarePhase.IN_TREATMENT.value,
        "answered": FollowupStatus.ANSWERED,
        "no_response": FollowupStatus.NO_RESPONSE,
        "phq9": FollowupStatus.PHQ9,
        "clock_states": [c.value for c in CLOCK_RESULTS],
        "clock_results": [r.value for r in CLOCK_RESULTS.values()],
        "clock_measures": [m.value for m in QualityMeasure],
        "fuh_measures": [m.value for m in FUH_FIGURES],
        "fuh_figures": list(FUH_FIGURES.values()),
        "iet_initiation_measure": QualityMeasure.IET_INITIATION.value,
        "iet_engagement_measure": QualityMeasure.IET_ENGAGEMENT.value,
        "met": MeasureStatus.MET.value,
        "not_met": MeasureStatus.NOT_MET.value,
        "pending": MeasureStatus.PENDING.value,
        "levels": [level.value for level in INTENSITY],
        "ranks": list(INTENSITY.values()),
        "index_above": policy.followup_index_above,
        "remission_below": policy.remission_below,
        "response_drop": policy.response_drop_fraction,
        "fu_kinds": [k.value for k in kinds],
        "fu_rules": [FOLLOWUP_RULES[k] for k in kinds],
        "fu_firsts": [followup_window(k, policy).first_day for k in kinds],
        "fu_lasts": [followup_window(k, policy).last_day for k in kinds],
        "fu_due_kinds": [FOLLOWUP_DUE_KINDS[k] for k in kinds],
        "step_up_s": float(policy.step_up_after_step_down_days * 86400),
        "substance_use": substance_use,
        "rule_any": FollowUpRule.ANY,
        "rule_response": FollowUpRule.RESPONSE,
        "response_name": RESPONSE_AT_DISCHARGE,
        "remission_name": REMISSION_AT_DISCHARGE,
        "step_ups_name": STEP_UPS,
        "iet_initiation_name": IET_INITIATION,
        "iet_engagement_name": IET_ENGAGEMENT,
    }


def _spread(n: int, quartiles: list[float]) -> Spread:
    q1, median, q3 = (round(q, 1) for q in quartiles)
    return Spread(n, median, q1, q3)


# The statement sorts and hashes a few hundred thousand narrow rows for a large program:
# enough memory for that in its own read-only transaction (SET LOCAL ends with it), so
# nothing spills to disk.
REPORT_WORK_MEM: Final = "64MB"


@asynccontextmanager
async def _connection(db: Db) -> AsyncIterator[Conn]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


async def report_settings(conn: Conn) -> None:
    """The report statement's planner settings, for the transaction it runs in."""
    await conn.execute(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
    # Hash and merge joins only: the CTEs' row estimates are guesses, and a nested loop
    # over a CTE the planner thinks is small is quadratic in the program's size. The
    # price: a small program in a large database scans whole tables (linear).
    await conn.execute("SET LOCAL enable_nestloop = off")


async def report_tallies(db: Db, parameters: Mapping[str, object]) -> Tallies:
    sql, args = bind(REPORT_SQL, parameters)
    async with _connection(db) as conn, conn.transaction(readonly=True):
        await report_settings(conn)
        rows = await conn.fetch(sql, *args)
    t = Tallies()
    endings: Counter[EndKind] = Counter()
    for r in rows:
        part, n = r["part"], int(r["n"])
        if part == "rate":
            t.add(r["a"], MeasureStatus(r["b"]), n)
        elif part == "ending":
            endings[end_kind(Event(r["a"]), CarePhase(r["b"]))] += n
        elif part == "stay":
            t.stays[LevelOfCare(r["a"])] = _spread(n, list(r["quartiles"]))
        elif part == "started":
            t.started = n
    t.endings = endings
    t.ended = sum(endings.values())
    return t


async def program_report(
    db: Db,
    program_id: str,
    first: date,
    last: date,
    *,
    as_of: datetime,
    policy: OutcomePolicy,
    substance_use: bool,
    time_zone: str = "UTC",
) -> ProgramReport:
    """The report on the program's local calendar (`time_zone`, an IANA zone)."""
    parameters = report_parameters(
        program_id,
        first,
        last,
        as_of=as_of,
        policy=policy,
        substance_use=substance_use,
        tz=time_zone,
    )
    tallies = await report_tallies(db, parameters)
    return assemble(
        tallies,
        program_id=program_id,
        first=first,
        last=last,
        as_of=as_of,
        policy=policy,
        substance_use=substance_use,
        time_zone=time_zone,
    )
