"""The program report computed in Python, episode by episode, with the pure measures of
`rules.outcomes` and `rules.program_measures`: how the report was computed before its
measures moved into SQL (store/outcomes_report.py), with the follow-up questionnaires and
the quality clocks (FUH, IET) read as the SQL path reads them. Kept as the oracle the SQL path is
compared with (tests/reports/test_report_sql_matches_python.py); not used by the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from rules.levels import LevelOfCare
from rules.localtime import local_date
from rules.outcome_policy import OutcomePolicy
from rules.outcomes import (
    FollowUp,
    MeasureStatus,
    Score,
    episode_outcome,
    followup,
    index_score,
)
from rules.program_measures import (
    ENDING_PHASES,
    EndKind,
    Move,
    days_per_level,
    end_kind,
    spread,
    step_downs,
)
from rules.transitions import CarePhase, Event
from schemas.outcomes_report import ProgramReport
from schemas.quality import ClockStatus, QualityMeasure
from store.dbtypes import Db
from store.outcomes_figures import (
    IET_ENGAGEMENT,
    IET_INITIATION,
    REMISSION_AT_DISCHARGE,
    RESPONSE_AT_DISCHARGE,
    STEP_UPS,
    Tallies,
    assemble,
)
from store.outcomes_report import (
    CLOCK_RESULTS,
    FOLLOWUP_DUE_KINDS,
    FUH_FIGURES,
    period_bounds,
)

HISTORY_SQL = """
SELECT e.episode_id, e.started_at,
    t.ats, t.froms, t.tos, t.events, t.levels,
    r.ats AS score_ats, r.totals,
    f.ats AS followup_ats, f.totals AS followup_totals, f.silent
FROM episodes e
LEFT JOIN LATERAL (
    SELECT array_agg(at ORDER BY at, seq, ordinal) AS ats,
        array_agg(from_phase ORDER BY at, seq, ordinal) AS froms,
        array_agg(to_phase ORDER BY at, seq, ordinal) AS tos,
        array_agg(event ORDER BY at, seq, ordinal) AS events,
        array_agg(level_delivered ORDER BY at, seq, ordinal) AS levels
    FROM transitions WHERE episode_id = e.episode_id
) t ON true
LEFT JOIN LATERAL (
    SELECT array_agg(at ORDER BY at, seq, ordinal) AS ats,
        array_agg(phq9_total ORDER BY at, seq, ordinal) AS totals
    FROM reviews WHERE episode_id = e.episode_id AND phq9_total IS NOT NULL
) r ON true
LEFT JOIN LATERAL (
    SELECT array_agg(answered_at) FILTER (WHERE status = 'answered') AS ats,
        array_agg(total) FILTER (WHERE status = 'answered') AS totals,
        array_agg(due_kind) FILTER (WHERE status = 'no_response') AS silent
    FROM followup_measures WHERE episode_id = e.episode_id AND instrument = 'phq9'
) f ON true
WHERE e.program_id = $1 AND e.started_at < $3
  AND (e.closed_at IS NULL OR e.closed_at >= $2)
"""

CLOCKS_SQL = """
SELECT episode_id, measure, status, index_date, last_day, met_on
FROM quality_clocks WHERE program_id = $1
"""


@dataclass(frozen=True)
class EpisodeHistory:
    episode_id: str
    started_at: datetime
    moves: list[Move]
    events: list[tuple[datetime, CarePhase, Event]]
    scores: list[Score]
    silent: frozenset[str]  # follow-up questionnaires recorded as not answered

    def ending(self) -> tuple[datetime, EndKind] | None:
        for (at, from_phase, event), move in zip(self.events, self.moves, strict=True):
            if move.to_phase in ENDING_PHASES:
                return at, end_kind(event, from_phase)
        return None


def _history(row: Mapping[str, Any], tz: str) -> EpisodeHistory:
    def items(name: str) -> list[Any]:
        return list(row[name] or [])

    ats, froms, tos, events, levels = (
        items(n) for n in ("ats", "froms", "tos", "events", "levels")
    )
    return EpisodeHistory(
        episode_id=str(row["episode_id"]),
        started_at=row["started_at"],
        moves=[
            Move(at, CarePhase(to), None if level is None else LevelOfCare(level))
            for at, to, level in zip(ats, tos, levels, strict=True)
        ],
        events=[
            (at, CarePhase(f), Event(ev)) for at, f, ev in zip(ats, froms, events, strict=True)
        ],
        scores=[
            entry[2]
            for entry in sorted(
                [
                    *(
                        (at, False, Score(local_date(at, tz), int(total)))
                        for at, total in zip(items("score_ats"), items("totals"), strict=True)
                    ),
                    *(
                        (at, True, Score(local_date(at, tz), int(total), follow_up=True))
                        for at, total in zip(
                            items("followup_ats"), items("followup_totals"), strict=True
                        )
                    ),
                ],
                key=lambda entry: (entry[0], entry[1]),
            )
        ],
        silent=frozenset(items("silent")),
    )


async def load_histories(
    db: Db, program_id: str, begin: datetime, end: datetime, tz: str = "UTC"
) -> list[EpisodeHistory]:
    rows = await db.fetch(HISTORY_SQL, program_id, begin, end)
    return [_history(dict(r), tz) for r in rows]


@dataclass(frozen=True)
class ClockRow:
    episode_id: str
    measure: QualityMeasure
    status: ClockStatus
    index_date: date
    last_day: date
    met_on: date | None


async def load_clocks(db: Db, program_id: str) -> list[ClockRow]:
    rows = await db.fetch(CLOCKS_SQL, program_id)
    return [
        ClockRow(
            r["episode_id"],
            QualityMeasure(r["measure"]),
            ClockStatus(r["status"]),
            r["index_date"],
            r["last_day"],
            r["met_on"],
        )
        for r in rows
    ]


def clock_result(clock: ClockRow, today: date) -> MeasureStatus:
    result = CLOCK_RESULTS[clock.status]
    if result is MeasureStatus.PENDING and today > clock.last_day:
        return MeasureStatus.NOT_MET
    return result


def tally(
    histories: list[EpisodeHistory],
    clocks: list[ClockRow],
    *,
    first: date,
    last: date,
    as_of: datetime,
    policy: OutcomePolicy,
    substance_use: bool,
    tz: str = "UTC",
) -> Tallies:
    begin, end = period_bounds(first, last, tz)
    today = local_date(as_of, tz)
    t = Tallies()
    stays: dict[LevelOfCare, list[float]] = {}
    in_error: set[str] = set()
    for h in histories:
        ending = h.ending()
        if ending is not None and ending[1] is EndKind.ENTERED_IN_ERROR:
            in_error.add(h.episode_id)
        if begin <= h.started_at < end:
            t.started += 1
        if ending is not None and begin <= ending[0] < end:
            t.ended += 1
            t.endings[ending[1]] += 1
            if h.episode_id not in in_error:
                for level, days in days_per_level(h.moves, ending[0]).items():
                    stays.setdefault(level, []).append(days)
                outcome = episode_outcome(h.scores, local_date(ending[0], tz), policy)
                t.add(RESPONSE_AT_DISCHARGE, outcome.response_at_discharge)
                t.add(REMISSION_AT_DISCHARGE, outcome.remission_at_discharge)
        if h.episode_id in in_error:
            continue
        index = index_score(h.scores, policy)
        if index is not None and first <= index.on <= last:
            for kind in FollowUp:
                silent = FOLLOWUP_DUE_KINDS[kind] in h.silent
                t.add(kind.value, followup(kind, h.scores, today, policy, no_response=silent))
        for at, status in step_downs(h.moves, as_of, policy):
            if begin <= at < end:
                t.add(STEP_UPS, status)
    t.stays = {level: spread(values) for level, values in stays.items()}
    counted = [c for c in clocks if c.episode_id not in in_error]
    for c in counted:
        if c.measure in FUH_FIGURES and first <= c.index_date <= last:
            t.add(FUH_FIGURES[c.measure], clock_result(c, today))
    if substance_use:
        for c in counted:
            if c.measure is not QualityMeasure.IET_INITIATION:
                continue
            if not first <= c.index_date <= last:
                continue
            initiation = clock_result(c, today)
            engagement = initiation
            if initiation is MeasureStatus.MET:
                found = [
                    g
                    for g in counted
                    if g.episode_id == c.episode_id
                    and g.measure is QualityMeasure.IET_ENGAGEMENT
                    and g.index_date == c.met_on
                ]
                engagement = clock_result(found[0], today) if found else MeasureStatus.PENDING
            t.add(IET_INITIATION, initiation)
            t.add(IET_ENGAGEMENT, engagement)
    return t


async def python_report(
    db: Db,
    program_id: str,
    first: date,
    last: date,
    *,
    as_of: datetime,
    policy: OutcomePolicy,
    substance_use: bool,
    tz: str = "UTC",
) -> ProgramReport:
    begin, end = period_bounds(first, last, tz)
    histories = await load_histories(db, program_id, begin, end, tz)
    tallies = tally(
        histories,
        await load_clocks(db, program_id),
        first=first,
        last=last,
        as_of=as_of,
        policy=policy,
        substance_use=substance_use,
        tz=tz,
    )
    return assemble(
        tallies,
        program_id=program_id,
        first=first,
        last=last,
        as_of=as_of,
        policy=policy,
        substance_use=substance_use,
        time_zone=tz,
    )
