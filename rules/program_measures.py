"""Pure pieces of the program report: how an episode ended, time at each level,
step-ups after step-downs, HEDIS FUH and IET, and quartiles. No I/O."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from rules.levels import INTENSITY, LevelOfCare
from rules.outcome_policy import OutcomePolicy
from rules.outcomes import MeasureStatus
from rules.transitions import CarePhase, Event


class EndKind(StrEnum):
    COMPLETED = "completed"
    AGAINST_ADVICE = "against_advice"
    STEPPED_UP = "stepped_up"
    REFERRED_OUT = "referred_out"
    ENTERED_IN_ERROR = "entered_in_error"
    NOT_ADMITTED = "not_admitted"


# The event that ended treatment (first move to aftercare or closed) → how it ended.
# Closed from external care (the patient stepped up to inpatient/residential elsewhere
# and did not come back) is a step-up; referred out at assessment is a referral.
END_KINDS: Final[dict[Event, EndKind]] = {
    Event.DISCHARGE: EndKind.COMPLETED,
    Event.EXTERNAL_DISCHARGE_HOME: EndKind.COMPLETED,
    Event.AFTERCARE_COMPLETED: EndKind.COMPLETED,
    Event.WITHDRAWN: EndKind.AGAINST_ADVICE,
    Event.REFERRAL_CLOSED: EndKind.STEPPED_UP,
    Event.EXTERNAL_WAIT_EXPIRED: EndKind.STEPPED_UP,
    Event.ASSESSED_EXTERNAL_CLOSE: EndKind.REFERRED_OUT,
    Event.ENTERED_IN_ERROR: EndKind.ENTERED_IN_ERROR,
    Event.FINANCIAL_HOLD_EXPIRED: EndKind.NOT_ADMITTED,
    Event.APPEAL_UPHELD: EndKind.NOT_ADMITTED,
    Event.APPEAL_WINDOW_CLOSED: EndKind.NOT_ADMITTED,
}
ENDING_PHASES: Final = frozenset({CarePhase.AFTERCARE, CarePhase.CLOSED})


def end_kind(event: Event, from_phase: CarePhase) -> EndKind:
    """How the episode ended, from the transition that ended treatment."""
    if event is Event.REFERRAL_CLOSED and from_phase is not CarePhase.EXTERNAL_CARE:
        return EndKind.REFERRED_OUT
    return END_KINDS.get(event, EndKind.NOT_ADMITTED)


@dataclass(frozen=True)
class Move:
    """One transition as the report needs it: when, to which phase, the delivered level."""

    at: datetime
    to_phase: CarePhase
    level: LevelOfCare | None


def days_per_level(moves: Sequence[Move], until: datetime) -> dict[LevelOfCare, float]:
    """Days spent at each delivered level while in treatment, up to the end of treatment
    (first move to aftercare or closed) or `until`, whichever comes first."""
    spent: dict[LevelOfCare, float] = {}
    ordered = sorted(moves, key=lambda m: m.at)
    for here, after in zip(ordered, [*ordered[1:], None], strict=True):
        if here.to_phase in ENDING_PHASES:
            break
        end = until if after is None else min(after.at, until)
        if here.level is None or here.to_phase is not CarePhase.IN_TREATMENT or end <= here.at:
            continue
        spent[here.level] = spent.get(here.level, 0.0) + (end - here.at).total_seconds() / 86400
    return spent


def step_downs(
    moves: Sequence[Move], as_of: datetime, policy: OutcomePolicy
) -> list[tuple[datetime, MeasureStatus]]:
    """Each step-down (a less intensive delivered level) and whether a step-up followed
    within `step_up_after_step_down_days`: MET (it did), NOT_MET (the days passed without
    one), PENDING (the days have not passed yet)."""
    changes: list[tuple[datetime, LevelOfCare]] = []
    for move in sorted(moves, key=lambda m: m.at):
        if move.level is not None and (not changes or changes[-1][1] is not move.level):
            changes.append((move.at, move.level))
    limit = timedelta(days=policy.step_up_after_step_down_days)
    found: list[tuple[datetime, MeasureStatus]] = []
    for i in range(1, len(changes)):
        at, level = changes[i]
        if INTENSITY[level] >= INTENSITY[changes[i - 1][1]]:
            continue
        status = MeasureStatus.PENDING if as_of - at <= limit else MeasureStatus.NOT_MET
        for later_at, later in changes[i + 1 :]:
            if later_at - at > limit:
                break
            if INTENSITY[later] > INTENSITY[level]:
                status = MeasureStatus.MET
                break
        found.append((at, status))
    return found


def fuh(
    discharged_on: date, visits: Iterable[date], within_days: int, as_of: date
) -> MeasureStatus:
    """HEDIS FUH: a visit on days 1..N after the discharge day (day 0 does not count).

    No visit: NOT_MET once the window has passed, PENDING while it is open.
    """
    if any(1 <= (visit - discharged_on).days <= within_days for visit in visits):
        return MeasureStatus.MET
    if (as_of - discharged_on).days <= within_days:
        return MeasureStatus.PENDING
    return MeasureStatus.NOT_MET


def iet(
    started_on: date, services: Iterable[date], as_of: date, policy: OutcomePolicy
) -> tuple[MeasureStatus, MeasureStatus]:
    """HEDIS IET (initiation, engagement) for a new substance-use episode.

    Initiation: a service on days 0..14 from the episode's start. Engagement: at least 2
    more services on distinct later days within 34 days of the initiation day.
    """
    days = sorted({d for d in services if d >= started_on})
    first = next((d for d in days if (d - started_on).days <= policy.iet_initiation_days), None)
    if first is None:
        open_ = (as_of - started_on).days <= policy.iet_initiation_days
        status = MeasureStatus.PENDING if open_ else MeasureStatus.NOT_MET
        return status, status
    more = [d for d in days if 0 < (d - first).days <= policy.iet_engagement_days]
    if len(more) >= policy.iet_engagement_services:
        return MeasureStatus.MET, MeasureStatus.MET
    open_ = (as_of - first).days <= policy.iet_engagement_days
    return MeasureStatus.MET, MeasureStatus.PENDING if open_ else MeasureStatus.NOT_MET


@dataclass(frozen=True)
class Spread:
    n: int
    median: float | None
    q1: float | None
    q3: float | None


def spread(values: Sequence[float]) -> Spread:
    """Median and interquartile range (inclusive quartiles: with one value all are it)."""
    if not values:
        return Spread(0, None, None, None)
    if len(values) == 1:
        only = round(values[0], 1)
        return Spread(1, only, only, only)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Spread(len(values), round(median, 1), round(q1, 1), round(q3, 1))
