"""Response, remission and deterioration on PHQ-9, measured against the baseline."""

from __future__ import annotations

from enum import StrEnum

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
