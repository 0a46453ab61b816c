"""The program report from the care records: one read of the program's episodes that were
open at any time in the period (with their whole transition, PHQ-9 and visit history),
then the pure measures of `rules.outcomes` and `rules.program_measures` on each.

Days are UTC calendar days of the recorded times. Indexes: migration 0700.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from rules.levels import LevelOfCare
from rules.outcome_policy import OutcomePolicy
from rules.outcomes import FollowUp, MeasureStatus, Score, episode_outcome, followup, index_score
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
from schemas.outcomes_report import (
    BreakdownFigure,
    CountFigure,
    LengthOfStayFigure,
    LevelSpread,
    ProgramReport,
    RateFigure,
)
from store.dbtypes import Db

# Returns from external care (the inpatient stay's discharge): FUH's denominator events.
RETURN_EVENTS: tuple[Event, ...] = (
    Event.EXTERNAL_DISCHARGE_NEEDS_AUTH,
    Event.EXTERNAL_DISCHARGE_NO_AUTH,
    Event.EXTERNAL_DISCHARGE_HOME,
)
# Attendance that is a visit (HEDIS counts IOP and PHP visits, in person or telehealth).
VISIT_STATUSES: tuple[str, ...] = ("attended", "partial")

REPORT_SQL = """
SELECT e.episode_id, e.started_at,
    t.ats, t.froms, t.tos, t.events, t.levels,
    r.ons, r.totals,
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
    SELECT array_agg((at AT TIME ZONE 'UTC')::date ORDER BY at, seq, ordinal) AS ons,
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

METHODS = {
    "episodes_started": "Episodes of the program whose start (referral) falls in the period.",
    "episodes_ended": (
        "Episodes whose treatment ended in the period: the first move to aftercare or "
        "closed (discharge, withdrawal, closure, entered in error)."
    ),
    "length_of_stay": (
        "For episodes that ended in the period (not entered in error): days in treatment "
        "at each delivered level, from the move onto the level to the next move, summed "
        "per episode; median and interquartile range (inclusive quartiles) over the "
        "episodes with any time at that level. External care is not a program stay."
    ),
    "endings": (
        "Episodes that ended in the period, by the event that ended treatment: discharge "
        "or a discharge home from external care = completed; withdrawal = against advice; "
        "closed while in external care (inpatient/residential elsewhere, no return) = "
        "stepped up; closed at referral or assessment = referred out; entered in error; "
        "closed before admission (coverage, denial upheld, appeal window) = not admitted."
    ),
    "at_discharge": (
        "Episodes that ended in the period (not entered in error) whose baseline (first "
        "PHQ-9 of the episode) is above {index}: the last PHQ-9 on or before the discharge "
        "day, after the baseline's day, decides; {rule}. With no such score the episode "
        "lacks it and counts in the denominator as not met."
    ),
    "followup": (
        "Episodes (not entered in error) whose index PHQ-9 (the first above {index}) falls "
        "in the period; the last PHQ-9 {first}-{last} days after the index decides "
        "({rule}). No score in the window once it has closed: lacking, counted in the "
        "denominator as not met; a window still open with no score yet: pending, not "
        "counted."
    ),
    "step_ups": (
        "Step-downs (a less intensive delivered level) in the period; numerator: those "
        "followed by a step-up within {days} days. Step-downs less than {days} days ago "
        "with no step-up yet are pending."
    ),
    "fuh": (
        "HEDIS FUH: returns from inpatient (external care) recorded in the period; met by "
        "an attended or partly attended session or a recorded follow-up visit on days "
        "1-{days} after the day the return was recorded (a visit on the day itself does "
        "not count). Computed from the attendance and visit records (the live clocks are "
        "not read); the discharge day is the day the return was recorded."
    ),
    "iet_initiation": (
        "HEDIS IET initiation (substance-use programs): episodes started in the period "
        "with an attended session or recorded visit on days 0-{days} from the start."
    ),
    "iet_engagement": (
        "HEDIS IET engagement: the same episodes with at least {count} more services on "
        "later, distinct days within {days} days of the initiation; an episode not "
        "initiated is not engaged."
    ),
}

SOURCES = (
    "carepath's care records in PostgreSQL (transitions, reviews with PHQ-9 totals, "
    "attendance, follow-up visits), as written by the episodes; days are UTC days."
)


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


# Enum members by stored value: a dict lookup is several times cheaper than `Enum(value)`
# (100,000 episodes x ~6 transitions per report).
_PHASES: dict[str, CarePhase] = {p.value: p for p in CarePhase}
_EVENTS: dict[str, Event] = {e.value: e for e in Event}
_LEVELS: dict[str | None, LevelOfCare | None] = {None: None, **{v.value: v for v in LevelOfCare}}


def _history(row: dict[str, object]) -> EpisodeHistory:
    ats = list(row["ats"] or [])  # type: ignore[call-overload]
    froms = list(row["froms"] or [])  # type: ignore[call-overload]
    tos = list(row["tos"] or [])  # type: ignore[call-overload]
    events = list(row["events"] or [])  # type: ignore[call-overload]
    levels = list(row["levels"] or [])  # type: ignore[call-overload]
    ons = list(row["ons"] or [])  # type: ignore[call-overload]
    totals = list(row["totals"] or [])  # type: ignore[call-overload]
    moves = [
        Move(at, _PHASES[to], _LEVELS[level])
        for at, to, level in zip(ats, tos, levels, strict=True)
    ]
    return EpisodeHistory(
        episode_id=str(row["episode_id"]),
        started_at=row["started_at"],  # type: ignore[arg-type]
        moves=moves,
        events=[
            (at, _PHASES[f], _EVENTS[ev]) for at, f, ev in zip(ats, froms, events, strict=True)
        ],
        scores=[Score(on, int(total)) for on, total in zip(ons, totals, strict=True)],
        visits=list(row["days"] or []),  # type: ignore[call-overload]
    )


async def load_histories(
    db: Db, program_id: str, begin: datetime, end: datetime
) -> list[EpisodeHistory]:
    rows = await db.fetch(REPORT_SQL, program_id, begin, end, list(VISIT_STATUSES))
    return [_history(dict(r)) for r in rows]


class _Tally:
    def __init__(self) -> None:
        self.counts: Counter[MeasureStatus] = Counter()

    def add(self, status: MeasureStatus) -> None:
        self.counts[status] += 1

    def figure(self, label: str, method: str) -> RateFigure:
        c = self.counts
        met, lacking = c[MeasureStatus.MET], c[MeasureStatus.LACKING]
        denominator = met + c[MeasureStatus.NOT_MET] + lacking
        return RateFigure(
            label=label,
            method=method,
            numerator=met,
            denominator=denominator,
            lacking=lacking,
            pending=c[MeasureStatus.PENDING],
            rate=round(met / denominator, 4) if denominator else None,
        )


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[first 00:00 UTC, the day after last 00:00 UTC)."""
    return (
        datetime.combine(first, time(), UTC),
        datetime.combine(last + timedelta(days=1), time(), UTC),
    )


def compose(
    histories: Iterable[EpisodeHistory],
    *,
    program_id: str,
    first: date,
    last: date,
    as_of: datetime,
    policy: OutcomePolicy,
    substance_use: bool,
) -> ProgramReport:
    begin, end = period_bounds(first, last)
    today = _day(as_of)
    started = ended = 0
    endings: Counter[str] = Counter({kind.value: 0 for kind in EndKind})
    stays: dict[LevelOfCare, list[float]] = {}
    response, remission = _Tally(), _Tally()
    follow = {kind: _Tally() for kind in FollowUp}
    step_up, fuh_short, fuh_long = _Tally(), _Tally(), _Tally()
    initiation, engagement = _Tally(), _Tally()

    for h in histories:
        ending = h.ending()
        in_error = ending is not None and ending[1] is EndKind.ENTERED_IN_ERROR
        if begin <= h.started_at < end:
            started += 1
            if substance_use and not in_error:
                init, engaged = iet(_day(h.started_at), h.visits, today, policy)
                initiation.add(init)
                engagement.add(engaged)
        if ending is not None and begin <= ending[0] < end:
            ended += 1
            endings[ending[1].value] += 1
            if not in_error:
                for level, days in days_per_level(h.moves, ending[0]).items():
                    stays.setdefault(level, []).append(days)
                outcome = episode_outcome(h.scores, _day(ending[0]), policy)
                response.add(outcome.response_at_discharge)
                remission.add(outcome.remission_at_discharge)
        if in_error:
            continue
        index = index_score(h.scores, policy)
        if index is not None and first <= index.on <= last:
            for kind, tally in follow.items():
                tally.add(followup(kind, h.scores, today, policy))
        for at, status in step_downs(h.moves, as_of, policy):
            if begin <= at < end:
                step_up.add(status)
        for i, (at, from_phase, event) in enumerate(h.events):
            if from_phase is not CarePhase.EXTERNAL_CARE or event not in RETURN_EVENTS:
                continue
            if not begin <= at < end or _stay_level(h, i) is LevelOfCare.RESIDENTIAL:
                continue
            fuh_short.add(fuh(_day(at), h.visits, policy.fuh_short_days, today))
            fuh_long.add(fuh(_day(at), h.visits, policy.fuh_long_days, today))

    index_text = policy.followup_index_above
    remission_rule = f"remission: PHQ-9 below {policy.remission_below}"
    response_rule = f"response: at least {policy.response_drop_fraction:.0%} below the index"

    def follow_method(window_first: int, window_last: int, rule: str) -> str:
        return METHODS["followup"].format(
            index=index_text, first=window_first, last=window_last, rule=rule
        )

    p = policy
    return ProgramReport(
        program_id=program_id,
        period_from=first,
        period_to=last,
        as_of=as_of,
        substance_use_program=substance_use,
        policy=policy,
        episodes_started=CountFigure(
            label="Episodes started", method=METHODS["episodes_started"], value=started
        ),
        episodes_ended=CountFigure(
            label="Episodes ended", method=METHODS["episodes_ended"], value=ended
        ),
        length_of_stay=LengthOfStayFigure(
            label="Length of stay per level (days)",
            method=METHODS["length_of_stay"],
            levels={
                level.value: _level_spread(stays[level]) for level in LevelOfCare if level in stays
            },
        ),
        endings=BreakdownFigure(
            label="How episodes ended", method=METHODS["endings"], counts=dict(endings)
        ),
        response_at_discharge=response.figure(
            "Response at discharge",
            METHODS["at_discharge"].format(
                index=index_text,
                rule=f"response: at least {p.response_drop_fraction:.0%} below the baseline",
            ),
        ),
        remission_at_discharge=remission.figure(
            "Remission at discharge",
            METHODS["at_discharge"].format(index=index_text, rule=remission_rule),
        ),
        remission_6_months=follow[FollowUp.REMISSION_6_MONTHS].figure(
            "Remission at 6 months (MIPS 411)",
            follow_method(
                p.remission_6_months.first_day, p.remission_6_months.last_day, remission_rule
            ),
        ),
        remission_12_months=follow[FollowUp.REMISSION_12_MONTHS].figure(
            "Remission at 12 months (CMS159 / MIPS 370)",
            follow_method(
                p.remission_12_months.first_day, p.remission_12_months.last_day, remission_rule
            ),
        ),
        response_6_months=follow[FollowUp.RESPONSE_6_MONTHS].figure(
            "Response at 6 months",
            follow_method(
                p.response_6_months.first_day, p.response_6_months.last_day, response_rule
            ),
        ),
        drr_e_followup=follow[FollowUp.DRR_E_FOLLOWUP].figure(
            "Follow-up PHQ-9 at 120-240 days (HEDIS DRR-E)",
            follow_method(
                p.drr_e_followup.first_day,
                p.drr_e_followup.last_day,
                "any PHQ-9 in the window meets it",
            ),
        ),
        step_ups_after_step_down=step_up.figure(
            f"Step-ups within {p.step_up_after_step_down_days} days of a step-down",
            METHODS["step_ups"].format(days=p.step_up_after_step_down_days),
        ),
        fuh_7_days=fuh_short.figure(
            f"Follow-up within {p.fuh_short_days} days of inpatient (HEDIS FUH)",
            METHODS["fuh"].format(days=p.fuh_short_days),
        ),
        fuh_30_days=fuh_long.figure(
            f"Follow-up within {p.fuh_long_days} days of inpatient (HEDIS FUH)",
            METHODS["fuh"].format(days=p.fuh_long_days),
        ),
        iet_initiation=initiation.figure(
            f"Initiation within {p.iet_initiation_days} days (HEDIS IET)",
            METHODS["iet_initiation"].format(days=p.iet_initiation_days),
        )
        if substance_use
        else None,
        iet_engagement=engagement.figure(
            f"Engagement within {p.iet_engagement_days} days (HEDIS IET)",
            METHODS["iet_engagement"].format(
                count=p.iet_engagement_services, days=p.iet_engagement_days
            ),
        )
        if substance_use
        else None,
        sources=SOURCES,
    )


def _stay_level(h: EpisodeHistory, return_index: int) -> LevelOfCare | None:
    """The level recorded for the external stay a return ends (the move into it)."""
    for move in reversed(h.moves[:return_index]):
        if move.to_phase is CarePhase.EXTERNAL_CARE:
            return move.level
    return None


def _level_spread(values: list[float]) -> LevelSpread:
    s = spread(values)
    return LevelSpread(episodes=s.n, median_days=s.median, q1_days=s.q1, q3_days=s.q3)


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
    begin, end = period_bounds(first, last)
    histories = await load_histories(db, program_id, begin, end)
    return compose(
        histories,
        program_id=program_id,
        first=first,
        last=last,
        as_of=as_of,
        policy=policy,
        substance_use=substance_use,
    )
