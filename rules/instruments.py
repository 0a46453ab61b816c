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


class CssrsRisk(StrEnum):
    """The C-SSRS screener's triage (Columbia's risk identification)."""

    NONE = "none"
    LOW = "low"
    MODERATE = "moderate"
    HIGH = "high"


# The tiers that open the risk flag: moderate and high need a same-day safety assessment.
CSSRS_RISK_TIERS: frozenset[CssrsRisk] = frozenset({CssrsRisk.MODERATE, CssrsRisk.HIGH})


def cssrs_contradiction(answers: list[bool], behaviour_past_3_months: bool | None) -> str | None:
    """Why a screen cannot be scored as given, or None when it is consistent."""
    if len(answers) != 6:
        return f"C-SSRS screener needs 6 answers, got {len(answers)}"
    if behaviour_past_3_months and not answers[5]:
        return "behaviour_past_3_months is true but Q6 (suicidal behaviour) was answered no"
    return None


def cssrs_risk(answers: list[bool], *, behaviour_past_3_months: bool | None = None) -> CssrsRisk:
    """Columbia's triage of the six screener answers.

    High: Q4 (intent) or Q5 (plan), or behaviour (Q6) in the past 3 months — an unknown
    recency counts as recent. Moderate: Q3 (thoughts with a method) or behaviour longer
    ago. Low: Q1 (wish to be dead) or Q2 (thoughts of killing oneself) only.
    """
    problem = cssrs_contradiction(answers, behaviour_past_3_months)
    if problem is not None:
        raise ValueError(problem)
    wish, thoughts, method, intent, plan, behaviour = answers
    recent = behaviour and behaviour_past_3_months is not False
    if intent or plan or recent:
        return CssrsRisk.HIGH
    if method or behaviour:
        return CssrsRisk.MODERATE
    if wish or thoughts:
        return CssrsRisk.LOW
    return CssrsRisk.NONE


def cssrs_high_risk(answers: list[bool], *, behaviour_past_3_months: bool | None = None) -> bool:
    """C-SSRS screener: 'yes' to Q4 or Q5, or suicidal behaviour in 3 months (Q6)."""
    return cssrs_risk(answers, behaviour_past_3_months=behaviour_past_3_months) is CssrsRisk.HIGH
