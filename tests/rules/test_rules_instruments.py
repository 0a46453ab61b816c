"""PHQ-9, GAD-7 and C-SSRS scoring, at every band boundary."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from rules.instruments import (
    PHQ9_LOINC_ITEM9,
    PHQ9_LOINC_PANEL,
    PHQ9_LOINC_TOTAL,
    CssrsRisk,
    Severity,
    cssrs_high_risk,
    cssrs_risk,
    gad7_severity,
    gad7_total,
    phq9_self_harm,
    phq9_severity,
    phq9_total,
)
from schemas.submissions import CssrsScreen

SEVERITY_ORDER = [
    Severity.MINIMAL,
    Severity.MILD,
    Severity.MODERATE,
    Severity.MODERATELY_SEVERE,
    Severity.SEVERE,
]

phq9_items = st.lists(st.integers(min_value=0, max_value=3), min_size=9, max_size=9)


def test_loinc_codes_match_the_published_panel() -> None:
    assert (PHQ9_LOINC_PANEL, PHQ9_LOINC_ITEM9, PHQ9_LOINC_TOTAL) == (
        "44249-1",
        "44260-8",
        "44261-6",
    )


def test_phq9_total_sums_the_items() -> None:
    assert phq9_total([0, 1, 2, 3, 0, 1, 2, 3, 0]) == 12
    assert phq9_total([3] * 9) == 27
    assert phq9_total([0] * 9) == 0


@pytest.mark.parametrize("items", [[0] * 8, [0] * 10, []])
def test_phq9_rejects_the_wrong_number_of_items(items: list[int]) -> None:
    with pytest.raises(ValueError, match="PHQ-9 needs 9 items"):
        phq9_total(items)


@pytest.mark.parametrize("bad", [-1, 4])
def test_phq9_rejects_item_scores_outside_0_to_3(bad: int) -> None:
    items = [0] * 9
    items[4] = bad
    with pytest.raises(ValueError, match="item 5 must be 0-3"):
        phq9_total(items)


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, Severity.MINIMAL),
        (4, Severity.MINIMAL),
        (5, Severity.MILD),
        (9, Severity.MILD),
        (10, Severity.MODERATE),
        (14, Severity.MODERATE),
        (15, Severity.MODERATELY_SEVERE),
        (19, Severity.MODERATELY_SEVERE),
        (20, Severity.SEVERE),
        (27, Severity.SEVERE),
    ],
)
def test_phq9_bands_at_every_boundary(total: int, band: Severity) -> None:
    assert phq9_severity(total) is band


@given(phq9_items)
def test_phq9_total_is_always_within_0_to_27(items: list[int]) -> None:
    assert 0 <= phq9_total(items) <= 27


@given(st.integers(min_value=0, max_value=27), st.integers(min_value=0, max_value=27))
def test_phq9_severity_never_falls_as_the_total_rises(a: int, b: int) -> None:
    low, high = sorted((a, b))
    assert SEVERITY_ORDER.index(phq9_severity(low)) <= SEVERITY_ORDER.index(phq9_severity(high))


@given(phq9_items)
def test_item9_alone_decides_self_harm_whatever_the_total(items: list[int]) -> None:
    assert phq9_self_harm(items) is (items[8] > 0)


def test_item9_positive_with_a_minimal_total_still_flags_self_harm() -> None:
    items = [0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert phq9_severity(phq9_total(items)) is Severity.MINIMAL
    assert phq9_self_harm(items) is True


def test_severe_total_without_item9_is_not_self_harm() -> None:
    assert phq9_self_harm([3, 3, 3, 3, 3, 3, 3, 3, 0]) is False


def test_self_harm_validates_the_items_too() -> None:
    with pytest.raises(ValueError):
        phq9_self_harm([1] * 8)


def test_gad7_total_and_validation() -> None:
    assert gad7_total([3] * 7) == 21
    assert gad7_total([0, 1, 2, 3, 0, 1, 2]) == 9
    with pytest.raises(ValueError, match="GAD-7 needs 7 items"):
        gad7_total([0] * 9)
    with pytest.raises(ValueError, match="GAD-7 item 1 must be 0-3"):
        gad7_total([5, 0, 0, 0, 0, 0, 0])


@pytest.mark.parametrize(
    ("total", "band"),
    [
        (0, Severity.MINIMAL),
        (4, Severity.MINIMAL),
        (5, Severity.MILD),
        (9, Severity.MILD),
        (10, Severity.MODERATE),
        (14, Severity.MODERATE),
        (15, Severity.SEVERE),
        (21, Severity.SEVERE),
    ],
)
def test_gad7_bands_at_5_10_15(total: int, band: Severity) -> None:
    assert gad7_severity(total) is band


@given(st.integers(min_value=0, max_value=21))
def test_gad7_has_no_moderately_severe_band(total: int) -> None:
    assert gad7_severity(total) is not Severity.MODERATELY_SEVERE


def _cssrs(*yes: int) -> list[bool]:
    """Screener answers with the given 1-based questions answered 'yes'."""
    return [q in yes for q in range(1, 7)]


def test_cssrs_all_no_is_not_high_risk() -> None:
    assert cssrs_high_risk(_cssrs()) is False


@pytest.mark.parametrize("question", [1, 2, 3])
def test_cssrs_ideation_without_intent_or_plan_is_not_high_risk(question: int) -> None:
    assert not cssrs_high_risk(_cssrs(question))


@pytest.mark.parametrize("question", [4, 5])
@pytest.mark.parametrize("qualifier", [None, False])
def test_cssrs_intent_or_plan_is_high_risk_whatever_the_behaviour_qualifier(
    question: int, qualifier: bool | None
) -> None:
    assert cssrs_high_risk(_cssrs(question), behaviour_past_3_months=qualifier)


def test_cssrs_q6_yes_without_the_qualifier_is_treated_as_recent() -> None:
    assert cssrs_high_risk(_cssrs(6)) is True


def test_cssrs_q6_yes_within_3_months_is_high_risk() -> None:
    assert cssrs_high_risk(_cssrs(6), behaviour_past_3_months=True) is True


def test_cssrs_q6_yes_but_longer_ago_than_3_months_is_not_high_risk() -> None:
    assert cssrs_high_risk(_cssrs(6), behaviour_past_3_months=False) is False


def test_cssrs_recent_qualifier_without_q6_behaviour_is_refused_as_contradictory() -> None:
    with pytest.raises(ValueError, match="Q6"):
        cssrs_high_risk(_cssrs(1, 2), behaviour_past_3_months=True)
    with pytest.raises(ValidationError, match="Q6"):
        CssrsScreen(answers=_cssrs(4), behaviour_past_3_months=True)


@pytest.mark.parametrize(
    ("yes", "recent", "tier"),
    [
        ((), None, CssrsRisk.NONE),
        ((1,), None, CssrsRisk.LOW),
        ((1, 2), None, CssrsRisk.LOW),
        ((1, 2, 3), None, CssrsRisk.MODERATE),
        ((6,), False, CssrsRisk.MODERATE),
        ((1, 2, 3, 6), False, CssrsRisk.MODERATE),
        ((1, 2, 3, 4), None, CssrsRisk.HIGH),
        ((1, 2, 5), None, CssrsRisk.HIGH),
        ((6,), True, CssrsRisk.HIGH),
        ((6,), None, CssrsRisk.HIGH),
    ],
)
def test_cssrs_is_triaged_none_low_moderate_high(
    yes: tuple[int, ...], recent: bool | None, tier: CssrsRisk
) -> None:
    assert cssrs_risk(_cssrs(*yes), behaviour_past_3_months=recent) is tier


@pytest.mark.parametrize("count", [0, 5, 7])
def test_cssrs_needs_six_answers(count: int) -> None:
    with pytest.raises(ValueError, match="6 answers"):
        cssrs_high_risk([False] * count)
