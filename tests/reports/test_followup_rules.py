"""rules.outcomes.followup with the follow-up questionnaires: a recorded non-response is
lacking at once, and a score answered after the close is never the index."""

from __future__ import annotations

from datetime import date, timedelta

from rules.outcome_policy import OutcomePolicy
from rules.outcomes import FollowUp, MeasureStatus, Score, followup, index_score

INDEX = date(2026, 1, 10)
POLICY = OutcomePolicy()


def test_non_response_is_lacking_while_the_window_is_still_open() -> None:
    scores = [Score(INDEX, 20)]
    inside = INDEX + timedelta(days=150)
    kind = FollowUp.REMISSION_6_MONTHS
    assert followup(kind, scores, inside, POLICY) is MeasureStatus.PENDING
    assert followup(kind, scores, inside, POLICY, no_response=True) is MeasureStatus.LACKING


def test_a_score_in_the_window_decides_even_with_a_non_response() -> None:
    scores = [Score(INDEX, 20), Score(INDEX + timedelta(days=130), 3)]
    late = INDEX + timedelta(days=400)
    status = followup(FollowUp.REMISSION_6_MONTHS, scores, late, POLICY, no_response=True)
    assert status is MeasureStatus.MET


def test_a_follow_up_score_counts_in_the_window_but_is_never_the_index() -> None:
    after = Score(INDEX + timedelta(days=180), 3, follow_up=True)
    assert followup(FollowUp.REMISSION_6_MONTHS, [Score(INDEX, 20), after], INDEX, POLICY) is (
        MeasureStatus.MET
    )
    assert (
        index_score([Score(INDEX, 4), Score(INDEX + timedelta(days=9), 22, follow_up=True)], POLICY)
        is None
    )
