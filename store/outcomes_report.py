"""The program report from the care records, computed in PostgreSQL: one statement over
the program's episodes open at any time in the period returns the counts per measure and
status, and the length-of-stay quartiles (percentile_cont); `store.outcomes_figures` turns
them into the figures. Nothing is read per episode into Python.

The measures are those of `rules.outcomes` and `rules.program_measures` (the Python
computation the tests compare this with: tests/reports/python_report.py). Days are UTC
calendar days of the recorded times. Indexes: migrations 0700, 0710.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from rules.levels import INTENSITY, LevelOfCare
from rules.outcome_policy import OutcomePolicy, Window
from rules.outcomes import FollowUp, MeasureStatus
from rules.program_measures import ENDING_PHASES, EndKind, Spread, end_kind
from rules.transitions import CarePhase, Event
from schemas.outcomes_report import ProgramReport
from store.dbtypes import Db
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

# Returns from external care (the inpatient stay's discharge): FUH's denominator events.
RETURN_EVENTS: tuple[Event, ...] = (
    Event.EXTERNAL_DISCHARGE_NEEDS_AUTH,
    Event.EXTERNAL_DISCHARGE_NO_AUTH,
    Event.EXTERNAL_DISCHARGE_HOME,
)
# Attendance that is a visit (HEDIS counts IOP and PHP visits, in person or telehealth).
VISIT_STATUSES: tuple[str, ...] = ("attended", "partial")

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
moves AS MATERIALIZED (
    SELECT t.episode_id, t.at, t.from_phase, t.to_phase, t.event, t.level_delivered AS level,
        row_number() OVER w AS n, lead(t.at) OVER w AS next_at
    FROM cohort c JOIN transitions t ON t.episode_id = c.episode_id
    WINDOW w AS (PARTITION BY t.episode_id ORDER BY t.at, t.seq, t.ordinal)
),
ends AS (
    SELECT DISTINCT ON (episode_id) episode_id, n, at, from_phase, event
    FROM moves WHERE to_phase = ANY(:ending_phases::text[])
    ORDER BY episode_id, n
),
eps AS MATERIALIZED (
    SELECT c.episode_id, c.started_on, c.started_in_period,
        e.n AS end_n, e.at AS ended_at, (e.at AT TIME ZONE :tz::text)::date AS ended_on,
        e.from_phase AS end_from, e.event AS end_event,
        coalesce(e.event = ANY(:error_events::text[]), false) AS in_error,
        coalesce(e.at >= :begin_at::timestamptz AND e.at < :end_at::timestamptz, false)
            AS ended_in_period
    FROM cohort c LEFT JOIN ends e ON e.episode_id = c.episode_id
),
scores AS MATERIALIZED (
    SELECT r.episode_id, (r.at AT TIME ZONE :tz::text)::date AS day, r.phq9_total AS total,
        row_number() OVER (PARTITION BY r.episode_id ORDER BY r.at, r.seq, r.ordinal) AS n
    FROM cohort c JOIN reviews r ON r.episode_id = c.episode_id
    WHERE r.phq9_total IS NOT NULL
),
discharge AS (
    SELECT b.total AS baseline,
        (array_agg(s.total ORDER BY s.n DESC)
            FILTER (WHERE s.n > 1 AND s.day > b.day AND s.day <= e.ended_on))[1] AS last
    FROM eps e
    JOIN scores b ON b.episode_id = e.episode_id AND b.n = 1
    LEFT JOIN scores s ON s.episode_id = e.episode_id
    WHERE e.ended_in_period AND NOT e.in_error AND b.total > :index_above::int
    GROUP BY e.episode_id, b.total
),
index_scores AS (
    SELECT DISTINCT ON (s.episode_id) s.episode_id, s.n, s.day, s.total
    FROM scores s JOIN eps e ON e.episode_id = s.episode_id AND NOT e.in_error
    WHERE s.total > :index_above::int
    ORDER BY s.episode_id, s.n
),
windows AS (
    SELECT * FROM unnest(:fu_kinds::text[], :fu_rules::text[], :fu_firsts::int[],
        :fu_lasts::int[]) AS w(kind, rule, first_day, last_day)
),
followups AS (
    SELECT w.kind, w.rule, w.last_day, i.day AS index_on, i.total AS index_total,
        (array_agg(s.total ORDER BY s.n DESC) FILTER (WHERE s.n IS NOT NULL))[1] AS last
    FROM index_scores i CROSS JOIN windows w
    LEFT JOIN scores s ON s.episode_id = i.episode_id AND s.n <> i.n
        AND s.day - i.day BETWEEN w.first_day AND w.last_day
    WHERE i.day BETWEEN :first_day::date AND :last_day::date
    GROUP BY i.episode_id, i.day, i.total, w.kind, w.rule, w.last_day
),
intensities AS (
    SELECT * FROM unnest(:levels::text[], :ranks::int[]) AS k(level, rank)
),
leveled AS (
    SELECT m.episode_id, m.n, m.at, m.level,
        lag(m.level) OVER (PARTITION BY m.episode_id ORDER BY m.n) AS before
    FROM moves m JOIN eps e ON e.episode_id = m.episode_id AND NOT e.in_error
    WHERE m.level IS NOT NULL
),
changes AS MATERIALIZED (
    SELECT l.episode_id, l.n, l.at, k.rank,
        lag(k.rank) OVER (PARTITION BY l.episode_id ORDER BY l.n) AS before_rank
    FROM leveled l JOIN intensities k ON k.level = l.level
    WHERE l.before IS DISTINCT FROM l.level
),
step_downs AS (
    SELECT d.at, EXISTS (
            SELECT 1 FROM changes u
            WHERE u.episode_id = d.episode_id AND u.n > d.n AND u.rank > d.rank
              AND u.at <= d.at + make_interval(secs => :step_up_s::float8)
        ) AS stepped_up
    FROM changes d
    WHERE d.rank < d.before_rank AND d.at >= :begin_at::timestamptz AND d.at < :end_at::timestamptz
),
stays AS (
    SELECT m.level, m.episode_id,
        (sum(extract(epoch FROM least(m.next_at, e.ended_at) - m.at)) / 86400)::float8 AS days
    FROM eps e JOIN moves m ON m.episode_id = e.episode_id AND m.n < e.end_n
    WHERE e.ended_in_period AND NOT e.in_error AND m.to_phase = :in_treatment::text
      AND m.level IS NOT NULL AND least(m.next_at, e.ended_at) > m.at
    GROUP BY m.level, m.episode_id
),
visits AS MATERIALIZED (
    SELECT a.episode_id, s.session_date AS day
    FROM cohort c JOIN attendance a ON a.episode_id = c.episode_id
    JOIN group_sessions s ON s.session_id = a.session_id
    WHERE a.status = ANY(:visit_statuses::text[])
    UNION
    SELECT r.episode_id, r.visit_date
    FROM cohort c JOIN reviews r ON r.episode_id = c.episode_id
    WHERE r.kind = 'followup_visit' AND r.visit_date IS NOT NULL
),
returns AS (
    SELECT DISTINCT ON (m.episode_id, m.n) m.episode_id, m.n,
        (m.at AT TIME ZONE :tz::text)::date AS day, x.level AS stay_level
    FROM moves m JOIN eps e ON e.episode_id = m.episode_id AND NOT e.in_error
    LEFT JOIN moves x ON x.episode_id = m.episode_id AND x.n < m.n
        AND x.to_phase = :external_care::text
    WHERE m.from_phase = :external_care::text AND m.event = ANY(:return_events::text[])
      AND m.at >= :begin_at::timestamptz AND m.at < :end_at::timestamptz
    ORDER BY m.episode_id, m.n, x.n DESC
),
fuh AS (
    SELECT r.day, min(v.day - r.day) AS first_gap
    FROM returns r
    LEFT JOIN visits v ON v.episode_id = r.episode_id
        AND v.day - r.day BETWEEN 1 AND greatest(:fuh_short::int, :fuh_long::int)
    WHERE r.stay_level IS DISTINCT FROM :residential::text
    GROUP BY r.episode_id, r.n, r.day
),
fuh_windows AS (
    SELECT * FROM unnest(ARRAY[:fuh_short_name::text, :fuh_long_name::text]::text[],
        ARRAY[:fuh_short::int, :fuh_long]::int[]) AS f(figure, days)
),
iet_starts AS (
    SELECT e.episode_id, e.started_on,
        min(v.day) FILTER (WHERE v.day - e.started_on <= :iet_initiation::int) AS initiated_on
    FROM eps e LEFT JOIN visits v ON v.episode_id = e.episode_id AND v.day >= e.started_on
    WHERE :substance_use::bool AND e.started_in_period AND NOT e.in_error
    GROUP BY e.episode_id, e.started_on
),
iet AS (
    SELECT i.started_on, i.initiated_on, count(v.day) AS more
    FROM iet_starts i
    LEFT JOIN visits v ON v.episode_id = i.episode_id
        AND v.day - i.initiated_on BETWEEN 1 AND :iet_engagement::int
    GROUP BY i.episode_id, i.started_on, i.initiated_on
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
                CASE WHEN :today::date - index_on > last_day THEN 'lacking' ELSE 'pending' END
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
    SELECT w.figure,
        CASE WHEN f.first_gap <= w.days THEN 'met'
             WHEN :today::date - f.day <= w.days THEN 'pending' ELSE 'not_met' END
    FROM fuh f CROSS JOIN fuh_windows w
    UNION ALL
    SELECT :iet_initiation_name::text,
        CASE WHEN initiated_on IS NOT NULL THEN 'met'
             WHEN :today::date - started_on <= :iet_initiation::int THEN 'pending'
             ELSE 'not_met' END
    FROM iet
    UNION ALL
    SELECT :iet_engagement_name::text,
        CASE WHEN initiated_on IS NULL THEN
                CASE WHEN :today::date - started_on <= :iet_initiation::int THEN 'pending'
                     ELSE 'not_met' END
             WHEN more >= :iet_services::int THEN 'met'
             WHEN :today::date - initiated_on <= :iet_engagement::int THEN 'pending'
             ELSE 'not_met' END
    FROM iet
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

_PARAM = re.compile(r"(?<!:):([a-z_]+)")


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
    """[first 00:00, the day after last 00:00) on the UTC calendar."""
    del tz
    return (
        datetime.combine(first, time(), UTC),
        datetime.combine(last + timedelta(days=1), time(), UTC),
    )


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
        "today": as_of.astimezone(UTC).date(),
        "tz": tz,
        "ending_phases": [p.value for p in ENDING_PHASES],
        "error_events": [e.value for e in ERROR_EVENTS],
        "in_treatment": CarePhase.IN_TREATMENT.value,
        "external_care": CarePhase.EXTERNAL_CARE.value,
        "residential": LevelOfCare.RESIDENTIAL.value,
        "return_events": [e.value for e in RETURN_EVENTS],
        "visit_statuses": list(VISIT_STATUSES),
        "levels": [level.value for level in INTENSITY],
        "ranks": list(INTENSITY.values()),
        "index_above": policy.followup_index_above,
        "remission_below": policy.remission_below,
        "response_drop": policy.response_drop_fraction,
        "fu_kinds": [k.value for k in kinds],
        "fu_rules": [FOLLOWUP_RULES[k] for k in kinds],
        "fu_firsts": [followup_window(k, policy).first_day for k in kinds],
        "fu_lasts": [followup_window(k, policy).last_day for k in kinds],
        "step_up_s": float(policy.step_up_after_step_down_days * 86400),
        "fuh_short": policy.fuh_short_days,
        "fuh_long": policy.fuh_long_days,
        "iet_initiation": policy.iet_initiation_days,
        "iet_engagement": policy.iet_engagement_days,
        "iet_services": policy.iet_engagement_services,
        "substance_use": substance_use,
        "rule_any": FollowUpRule.ANY,
        "rule_response": FollowUpRule.RESPONSE,
        "response_name": RESPONSE_AT_DISCHARGE,
        "remission_name": REMISSION_AT_DISCHARGE,
        "step_ups_name": STEP_UPS,
        "fuh_short_name": FUH_SHORT,
        "fuh_long_name": FUH_LONG,
        "iet_initiation_name": IET_INITIATION,
        "iet_engagement_name": IET_ENGAGEMENT,
    }


def _spread(n: int, quartiles: list[float]) -> Spread:
    q1, median, q3 = (round(q, 1) for q in quartiles)
    return Spread(n, median, q1, q3)


async def report_tallies(db: Db, parameters: Mapping[str, object]) -> Tallies:
    sql, args = bind(REPORT_SQL, parameters)
    rows = await db.fetch(sql, *args)
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
) -> ProgramReport:
    parameters = report_parameters(
        program_id, first, last, as_of=as_of, policy=policy, substance_use=substance_use
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
    )
