"""The program report computed in Python, episode by episode, with the pure measures of
`rules.outcomes` and `rules.program_measures`: how the report was computed before its
measures moved into SQL (store/outcomes_report.py). Kept as the oracle the SQL path is
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
from rules.outcomes import FollowUp, Score, episode_outcome, followup, index_score
from rules.program_measures import (
    ENDING_PHASES,
    EndKind,
    Move,
    days_per_level,
    end_kind,
    fuh,
    iet,
    spread,
    step_downs,
)
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
from store.outcomes_report import RETURN_EVENTS, VISIT_STATUSES, period_bounds

HISTORY_SQL = """
SELECT e.episode_id, e.started_at,
    t.ats, t.froms, t.tos, t.events, t.levels,
    r.ats AS score_ats, r.totals,
    v.days
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
    SELECT array_agg(day) AS days FROM (
        SELECT s.session_date AS day
        FROM attendance a JOIN group_sessions s ON s.session_id = a.session_id
        WHERE a.episode_id = e.episode_id AND a.status = ANY($4::text[])
        UNION
        SELECT visit_date FROM reviews
        WHERE episode_id = e.episode_id AND kind = 'followup_visit' AND visit_date IS NOT NULL
    ) visits
) v ON true
WHERE e.program_id = $1 AND e.started_at < $3
  AND (e.closed_at IS NULL OR e.closed_at >= $2)
"""


@dataclass(frozen=True)
class EpisodeHistory:
    episode_id: str
    started_at: datetime
    moves: list[Move]
    events: list[tuple[datetime, CarePhase, Event]]
    scores: list[Score]
    visits: list[date]

    def ending(self) -> tuple[datetime, EndKind] | None:
        for (at, from_phase, event), move in zip(self.events, self.moves, strict=True):
            if move.to_phase in ENDING_PHASES:
                return at, end_kind(event, from_phase)
        return None

    def stay_level(self, return_index: int) -> LevelOfCare | None:
        """The level recorded for the external stay a return ends (the move into it)."""
        for m in reversed(self.moves[:return_index]):
            if m.to_phase is CarePhase.EXTERNAL_CARE:
                return m.level
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
            Score(local_date(at, tz), int(total))
            for at, total in zip(items("score_ats"), items("totals"), strict=True)
        ],
        visits=items("days"),
    )


async def load_histories(
    db: Db, program_id: str, begin: datetime, end: datetime, tz: str = "UTC"
) -> list[EpisodeHistory]:
    rows = await db.fetch(HISTORY_SQL, program_id, begin, end, list(VISIT_STATUSES))
    return [_history(dict(r), tz) for r in rows]


def tally(
    histories: list[EpisodeHistory],
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
    for h in histories:
        ending = h.ending()
        in_error = ending is not None and ending[1] is EndKind.ENTERED_IN_ERROR
        if begin <= h.started_at < end:
            t.started += 1
            if substance_use and not in_error:
                init, engaged = iet(local_date(h.started_at, tz), h.visits, today, policy)
                t.add(IET_INITIATION, init)
                t.add(IET_ENGAGEMENT, engaged)
        if ending is not None and begin <= ending[0] < end:
            t.ended += 1
            t.endings[ending[1]] += 1
            if not in_error:
                for level, days in days_per_level(h.moves, ending[0]).items():
                    stays.setdefault(level, []).append(days)
                outcome = episode_outcome(h.scores, local_date(ending[0], tz), policy)
                t.add(RESPONSE_AT_DISCHARGE, outcome.response_at_discharge)
                t.add(REMISSION_AT_DISCHARGE, outcome.remission_at_discharge)
        if in_error:
            continue
        index = index_score(h.scores, policy)
        if index is not None and first <= index.on <= last:
            for kind in FollowUp:
                t.add(kind.value, followup(kind, h.scores, today, policy))
        for at, status in step_downs(h.moves, as_of, policy):
            if begin <= at < end:
                t.add(STEP_UPS, status)
        for i, (at, from_phase, event) in enumerate(h.events):
            if from_phase is not CarePhase.EXTERNAL_CARE or event not in RETURN_EVENTS:
                continue
            if not begin <= at < end or h.stay_level(i) is LevelOfCare.RESIDENTIAL:
                continue
            day = local_date(at, tz)
            t.add(FUH_SHORT, fuh(day, h.visits, policy.fuh_short_days, today))
            t.add(FUH_LONG, fuh(day, h.visits, policy.fuh_long_days, today))
    t.stays = {level: spread(values) for level, values in stays.items()}
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
    )
