"""Scoring of the public-domain measures: PHQ-9, GAD-7 and the C-SSRS screener."""

from __future__ import annotations

from enum import StrEnum

PHQ9_LOINC_PANEL = "44249-1"
PHQ9_LOINC_ITEM9 = "44260-8"
PHQ9_LOINC_TOTAL = "44261-6"


class Severity(StrEnum):
    MINIMAL = "minimal"
    MILD = "mild"
    MODERATE = "moderate"
    MODERATELY_SEVERE = "moderately_severe"
    SEVERE = "severe"


def _check_items(items: list[int], count: int, name: str) -> None:
    if len(items) != count:
        raise ValueError(f"{name} needs {count} items, got {len(items)}")
    for i, v in enumerate(items, start=1):
        if not 0 <= v <= 3:
            raise ValueError(f"{name} item {i} must be 0-3, got {v}")


def phq9_total(items: list[int]) -> int:
    _check_items(items, 9, "PHQ-9")
    return sum(items)


def phq9_severity(total: int) -> Severity:
    """Bands 0-4, 5-9, 10-14, 15-19, 20-27."""
    if total < 5:
        return Severity.MINIMAL
    if total < 10:
        return Severity.MILD
    if total < 15:
        return Severity.MODERATE
    if total < 20:
        return Severity.MODERATELY_SEVERE
    return Severity.SEVERE


def phq9_self_harm(items: list[int]) -> bool:
    """Item 9 > 0 needs a same-day safety assessment, whatever the total."""
    _check_items(items, 9, "PHQ-9")
    return items[8] > 0


def gad7_total(items: list[int]) -> int:
    _check_items(items, 7, "GAD-7")
    return sum(items)


def gad7_severity(total: int) -> Severity:
    """Bands at 5 / 10 / 15 (no 'moderately severe' band)."""
    if total < 5:
        return Severity.MINIMAL
    if total < 10:
        return Severity.MILD
    if total < 15:
        return Severity.MODERATE
    return Severity.SEVERE


def cssrs_high_risk(answers: list[bool], *, behaviour_past_3_months: bool | None = None) -> bool:
    """C-SSRS screener: 'yes' to Q4 or Q5, or suicidal behaviour in 3 months (Q6)."""
    if len(answers) != 6:
        raise ValueError(f"C-SSRS screener needs 6 answers, got {len(answers)}")
    recent_behaviour = answers[5] if behaviour_past_3_months is None else behaviour_past_3_months
    return answers[3] or answers[4] or (answers[5] and recent_behaviour)
