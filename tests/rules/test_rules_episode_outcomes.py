"""Outcomes per episode and the follow-up measures, at their window boundaries."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import ValidationError

from rules.outcome_policy import OutcomePolicy, Window
from rules.outcomes import (
    FollowUp,
    MeasureStatus,
    ReliableChange,
    Score,
    episode_outcome,
    followup,
    index_score,
)
from rules.policy import ProgramPolicy

POLICY = OutcomePolicy()
DAY0 = date(2026, 1, 10)
M = MeasureStatus


def on(days: int, total: int) -> Score:
    return Score(DAY0 + timedelta(days=days), total)


def test_baseline_latest_change_and_reliable_change() -> None:
    outcome = episode_outcome([on(20, 9), on(0, 18), on(10, 13)], None, POLICY)
    assert outcome.baseline == on(0, 18)
    assert outcome.latest == on(20, 9)
    assert outcome.change == -9
    assert outcome.reliable_change is ReliableChange.IMPROVED
    assert outcome.response_at_discharge is M.PENDING  # not discharged yet


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        (10, ReliableChange.IMPROVED),  # exactly 5 points down
        (11, ReliableChange.NO_RELIABLE_CHANGE),  # 4 points
        (19, ReliableChange.NO_RELIABLE_CHANGE),
        (20, ReliableChange.WORSENED),  # exactly 5 points up
    ],
)
def test_reliable_change_boundaries(latest: int, expected: ReliableChange) -> None:
    assert episode_outcome([on(0, 15), on(7, latest)], None, POLICY).reliable_change is expected


def test_meaningful_change_is_the_policys() -> None:
    strict = OutcomePolicy.from_program(ProgramPolicy(meaningful_change=3))
    assert episode_outcome([on(0, 15), on(7, 12)], None, strict).reliable_change is (
        ReliableChange.IMPROVED
    )


def test_single_score_has_no_change() -> None:
    outcome = episode_outcome([on(0, 15)], DAY0 + timedelta(days=30), POLICY)
    assert outcome.change is None
    assert outcome.reliable_change is ReliableChange.UNKNOWN
    # Discharged with no score after the baseline: lacking, counted, not dropped.
    assert outcome.response_at_discharge is M.LACKING
    assert outcome.remission_at_discharge is M.LACKING


@pytest.mark.parametrize(
    ("last", "response", "remission"),
    [(10, M.MET, M.NOT_MET), (11, M.NOT_MET, M.NOT_MET), (4, M.MET, M.MET), (5, M.MET, M.NOT_MET)],
)
def test_response_and_remission_at_discharge(
    last: int, response: MeasureStatus, remission: MeasureStatus
) -> None:
    outcome = episode_outcome([on(0, 20), on(14, last)], DAY0 + timedelta(days=14), POLICY)
    assert (outcome.response_at_discharge, outcome.remission_at_discharge) == (response, remission)


def test_score_after_discharge_does_not_count_at_discharge() -> None:
    outcome = episode_outcome([on(0, 20), on(10, 12), on(11, 2)], DAY0 + timedelta(days=10), POLICY)
    assert outcome.remission_at_discharge is M.NOT_MET
    assert outcome.latest == on(11, 2)


def test_baseline_not_above_nine_is_outside_the_denominator() -> None:
    outcome = episode_outcome([on(0, 9), on(14, 2)], DAY0 + timedelta(days=14), POLICY)
    assert outcome.remission_at_discharge is M.NOT_APPLICABLE
    assert episode_outcome([], None, POLICY).baseline is None


def test_index_is_the_first_score_above_nine() -> None:
    assert index_score([on(0, 8), on(7, 10), on(14, 22)], POLICY) == on(7, 10)
    assert index_score([on(0, 9)], POLICY) is None


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (304, M.LACKING),  # one day before 12 months - 60 days: outside
        (305, M.MET),  # first day of the window
        (425, M.MET),  # last day of the window
        (426, M.LACKING),  # one day after
    ],
)
def test_remission_12_months_window_edges(day: int, expected: MeasureStatus) -> None:
    scores = [on(0, 15), on(day, 3)]
    as_of = DAY0 + timedelta(days=500)
    assert followup(FollowUp.REMISSION_12_MONTHS, scores, as_of, POLICY) is expected


def test_12_month_window_open_is_pending_then_lacking() -> None:
    scores = [on(0, 15), on(30, 3)]
    assert followup(FollowUp.REMISSION_12_MONTHS, scores, DAY0 + timedelta(days=425), POLICY) is (
        M.PENDING
    )
    assert followup(FollowUp.REMISSION_12_MONTHS, scores, DAY0 + timedelta(days=426), POLICY) is (
        M.LACKING
    )


def test_last_score_in_window_decides() -> None:
    scores = [on(0, 15), on(320, 3), on(400, 8)]
    as_of = DAY0 + timedelta(days=500)
    assert followup(FollowUp.REMISSION_12_MONTHS, scores, as_of, POLICY) is M.NOT_MET


@pytest.mark.parametrize(
    ("day", "total", "remission", "response"),
    [
        (121, 3, M.LACKING, M.LACKING),  # 182 - 60 = 122 is the first day
        (122, 3, M.MET, M.MET),
        (242, 8, M.NOT_MET, M.MET),  # last day; 8 <= 16 / 2
        (242, 9, M.NOT_MET, M.NOT_MET),
        (243, 3, M.LACKING, M.LACKING),
    ],
)
def test_six_month_measures(
    day: int, total: int, remission: MeasureStatus, response: MeasureStatus
) -> None:
    scores = [on(0, 16), on(day, total)]
    as_of = DAY0 + timedelta(days=400)
    assert followup(FollowUp.REMISSION_6_MONTHS, scores, as_of, POLICY) is remission
    assert followup(FollowUp.RESPONSE_6_MONTHS, scores, as_of, POLICY) is response


@pytest.mark.parametrize(
    ("day", "expected"), [(119, M.LACKING), (120, M.MET), (240, M.MET), (241, M.LACKING)]
)
def test_drr_e_followup_120_to_240_days(day: int, expected: MeasureStatus) -> None:
    scores = [on(0, 12), on(day, 14)]  # any score counts, even a worse one
    assert followup(FollowUp.DRR_E_FOLLOWUP, scores, DAY0 + timedelta(days=300), POLICY) is expected


def test_followup_index_is_the_first_elevated_score() -> None:
    # The index is day 30 (the first > 9): 30 + 122 = 152 is inside the 6-month window.
    scores = [on(0, 7), on(30, 15), on(152, 2)]
    as_of = DAY0 + timedelta(days=400)
    assert followup(FollowUp.REMISSION_6_MONTHS, scores, as_of, POLICY) is M.MET
    assert followup(FollowUp.REMISSION_6_MONTHS, [on(0, 7)], as_of, POLICY) is M.NOT_APPLICABLE


def test_windows_are_policy_numbers() -> None:
    wide = OutcomePolicy(remission_12_months=Window.around(365, 90))
    scores = [on(0, 15), on(280, 3)]
    as_of = DAY0 + timedelta(days=500)
    assert followup(FollowUp.REMISSION_12_MONTHS, scores, as_of, POLICY) is M.LACKING
    assert followup(FollowUp.REMISSION_12_MONTHS, scores, as_of, wide) is M.MET
    with pytest.raises(ValidationError):
        Window(first_day=10, last_day=5)
    with pytest.raises(ValidationError):
        OutcomePolicy(fuh_short_days=30, fuh_long_days=7)
