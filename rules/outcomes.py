"""Response, remission and deterioration on PHQ-9, measured against the baseline."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from rules.outcome_policy import OutcomePolicy
from rules.policy import ProgramPolicy


class Trend(StrEnum):
    IMPROVING = "improving"
    STABLE = "stable"
    WORSENING = "worsening"
    UNKNOWN = "unknown"


def is_response(baseline: int, current: int, policy: ProgramPolicy) -> bool:
    """A drop of at least `response_drop_fraction` (50 %) from a non-zero baseline."""
    return baseline > 0 and (baseline - current) >= baseline * policy.response_drop_fraction


def is_remission(current: int, policy: ProgramPolicy) -> bool:
    return current < policy.remission_below


def is_deterioration(baseline: int, current: int, policy: ProgramPolicy) -> bool:
    """A clinically meaningful rise (>= 5 points by default) over the baseline."""
    return current - baseline >= policy.meaningful_change


def deterioration(index: int, earlier: list[int], current: int, policy: ProgramPolicy) -> list[str]:
    """Which comparisons show a meaningful rise: over the index, the best, the previous.

    `index` is the score at entry to the current level, `earlier` the scores since.
    """
    found: list[str] = []
    scores = [index, *earlier]
    if current - index >= policy.meaningful_change:
        found.append("phq9_worse_than_index")
    if current - min(scores) >= policy.meaningful_change:
        found.append("phq9_worse_than_best")
    if current - scores[-1] >= policy.meaningful_change:
        found.append("phq9_worse_than_previous")
    return found


def outcome_rules_apply(index: int, policy: ProgramPolicy) -> bool:
    """Response and remission mean something only after an index score of 10 or more."""
    return index >= policy.outcome_index_min_phq9


def discharge_ready(current: int, policy: ProgramPolicy) -> bool:
    """Discharge needs remission, or at least a score under `discharge_below_phq9` (10)."""
    return is_remission(current, policy) or current < policy.discharge_below_phq9


def sustained_discharge_ready(recent: list[int], policy: ProgramPolicy) -> bool:
    """Discharge-ready (remission, or under 10) on the last N consecutive reviews."""
    needed = policy.consecutive_reviews_for_step_down
    return len(recent) >= needed and all(discharge_ready(s, policy) for s in recent[-needed:])


def trend(history: list[int], policy: ProgramPolicy) -> Trend:
    """Latest score against the first, by the meaningful-change rule (5 points)."""
    if len(history) < 2:
        return Trend.UNKNOWN
    change = history[-1] - history[0]
    if change <= -policy.meaningful_change:
        return Trend.IMPROVING
    if change >= policy.meaningful_change:
        return Trend.WORSENING
    return Trend.STABLE


def sustained_improvement(baseline: int, recent: list[int], policy: ProgramPolicy) -> bool:
    """Response or remission holds on the last N consecutive reviews (N from policy)."""
    needed = policy.consecutive_reviews_for_step_down
    if len(recent) < needed:
        return False
    return all(
        is_response(baseline, score, policy) or is_remission(score, policy)
        for score in recent[-needed:]
    )


# --- Outcomes per episode and the follow-up measures (issue 13) -------------------------


class MeasureStatus(StrEnum):
    """Where one episode stands on one measure.

    MET / NOT_MET: a score decided it. LACKING: the window closed with no score (counted
    in the denominator, as not met, never dropped). PENDING: the window is still open with
    no score yet (reported apart: the episode cannot be judged yet). NOT_APPLICABLE: the
    episode is outside the measure's denominator (no index score above the threshold).
    """

    MET = "met"
    NOT_MET = "not_met"
    LACKING = "lacking"
    PENDING = "pending"
    NOT_APPLICABLE = "not_applicable"


class ReliableChange(StrEnum):
    IMPROVED = "improved"
    WORSENED = "worsened"
    NO_RELIABLE_CHANGE = "no_reliable_change"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Score:
    """One PHQ-9 (or GAD-7) total on the day it was taken."""

    on: date
    total: int
    # Answered after the episode closed (a 6- or 12-month follow-up questionnaire): it
    # counts in the follow-up windows, never as the index.
    follow_up: bool = False


@dataclass(frozen=True)
class EpisodeOutcome:
    baseline: Score | None
    latest: Score | None
    change: int | None
    reliable_change: ReliableChange
    response_at_discharge: MeasureStatus
    remission_at_discharge: MeasureStatus


def _ordered(scores: Iterable[Score]) -> list[Score]:
    return sorted(scores, key=lambda s: s.on)


def responded(baseline: int, current: int, policy: OutcomePolicy) -> bool:
    return baseline > 0 and (baseline - current) >= baseline * policy.response_drop_fraction


def remitted(current: int, policy: OutcomePolicy) -> bool:
    return current < policy.remission_below


def reliable_change(baseline: int, latest: int, policy: OutcomePolicy) -> ReliableChange:
    """A change of at least the meaningful-change points (5 by default), either way."""
    if latest - baseline <= -policy.meaningful_change:
        return ReliableChange.IMPROVED
    if latest - baseline >= policy.meaningful_change:
        return ReliableChange.WORSENED
    return ReliableChange.NO_RELIABLE_CHANGE


def episode_outcome(
    scores: Iterable[Score], discharged_on: date | None, policy: OutcomePolicy
) -> EpisodeOutcome:
    """Baseline (the first score), latest, change and the measures at discharge.

    At discharge the last score on or before the discharge day counts, if it came after
    the baseline's day; an episode whose baseline is not above `followup_index_above` (9)
    is outside the response/remission denominators; one discharged with no later score
    LACKS them; one not discharged yet is PENDING.
    """
    ordered = _ordered(scores)
    if not ordered:
        na = MeasureStatus.NOT_APPLICABLE
        return EpisodeOutcome(None, None, None, ReliableChange.UNKNOWN, na, na)
    baseline, latest = ordered[0], ordered[-1]
    change = latest.total - baseline.total if len(ordered) > 1 else None
    trend = (
        reliable_change(baseline.total, latest.total, policy)
        if change is not None
        else ReliableChange.UNKNOWN
    )
    if baseline.total <= policy.followup_index_above:
        response = remission = MeasureStatus.NOT_APPLICABLE
    elif discharged_on is None:
        response = remission = MeasureStatus.PENDING
    else:
        later = [s for s in ordered[1:] if baseline.on < s.on <= discharged_on]
        if not later:
            response = remission = MeasureStatus.LACKING
        else:
            last = later[-1].total
            response = _status(responded(baseline.total, last, policy))
            remission = _status(remitted(last, policy))
    return EpisodeOutcome(baseline, latest, change, trend, response, remission)


def _status(met: bool) -> MeasureStatus:
    return MeasureStatus.MET if met else MeasureStatus.NOT_MET


def index_score(scores: Iterable[Score], policy: OutcomePolicy) -> Score | None:
    """The first score above `followup_index_above` (PHQ-9 > 9): the measures' index."""
    for score in _ordered(scores):
        if score.total > policy.followup_index_above and not score.follow_up:
            return score
    return None


class FollowUp(StrEnum):
    REMISSION_12_MONTHS = "remission_12_months"
    REMISSION_6_MONTHS = "remission_6_months"
    RESPONSE_6_MONTHS = "response_6_months"
    DRR_E_FOLLOWUP = "drr_e_followup"


def followup(
    kind: FollowUp,
    scores: Iterable[Score],
    as_of: date,
    policy: OutcomePolicy,
    *,
    no_response: bool = False,
) -> MeasureStatus:
    """One follow-up measure from the index PHQ-9 > 9: the last score in its window decides.

    No score in the window: LACKING once the window's last day has passed (`as_of` after
    it), or once the patient's non-response to the follow-up questionnaire is recorded
    (`no_response`), PENDING before. DRR-E asks only for a follow-up score in its window.
    """
    ordered = _ordered(scores)
    index = index_score(ordered, policy)
    if index is None:
        return MeasureStatus.NOT_APPLICABLE
    window = {
        FollowUp.REMISSION_12_MONTHS: policy.remission_12_months,
        FollowUp.REMISSION_6_MONTHS: policy.remission_6_months,
        FollowUp.RESPONSE_6_MONTHS: policy.response_6_months,
        FollowUp.DRR_E_FOLLOWUP: policy.drr_e_followup,
    }[kind]
    inside = [s for s in ordered if s is not index and window.holds((s.on - index.on).days)]
    if not inside:
        closed = no_response or (as_of - index.on).days > window.last_day
        return MeasureStatus.LACKING if closed else MeasureStatus.PENDING
    last = inside[-1].total
    if kind is FollowUp.DRR_E_FOLLOWUP:
        return MeasureStatus.MET
    if kind is FollowUp.RESPONSE_6_MONTHS:
        return _status(responded(index.total, last, policy))
    return _status(remitted(last, policy))
