"""Attended hours against the weekly minimum of the level being delivered."""

from __future__ import annotations

from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy


def below_minimum(
    hours: float, weeks: float, level: LevelOfCare, age_group: AgeGroup, policy: ProgramPolicy
) -> bool:
    """True when the weekly average over the review period is under the level's minimum."""
    minimum = policy.minimum_hours(level, age_group)
    return weeks > 0 and minimum > 0 and hours / weeks < minimum


def plan_required(consecutive_low_weeks: int, policy: ProgramPolicy) -> bool:
    """Two low weeks in a row (by default) means the next decision must carry a plan."""
    return consecutive_low_weeks >= policy.low_attendance_weeks_needing_plan
