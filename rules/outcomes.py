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
