"""Repeated and conflicting submissions, for every kind (engine, no Temporal).

Same ID + same content is a retry: the first answer, marked duplicate, nothing changes.
Same ID + different content is a SubmissionConflict, refused before anything changes.
IDs are unique per episode *and* kind.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel

from rules.levels import LevelOfCare
from rules.transitions import Action, CarePhase
from schemas.episode import Coverage
from schemas.submissions import (
    AssessmentSubmission,
    ClinicianDecision,
    CoverageSubmission,
    DecisionAction,
    EpisodeEvent,
    EpisodeEventKind,
    LevelDetermination,
    ReviewSubmission,
)
from tests.workflows.clinic import phq9
from tests.workflows.engine_cases import Case
from workflows.engine import SubmissionConflict

Prepared = tuple[Case, Action, BaseModel, BaseModel]


def _assessment() -> Prepared:
    case = Case.new()
    first = AssessmentSubmission(
        assessment_id="a-1",
        clinician_id="clin-1",
        phq9=phq9(10),
        determination=LevelDetermination(instrument="LOCUS", level=LevelOfCare.IOP, rationale="r"),
    )
    return case, Action.SUBMIT_ASSESSMENT, first, first.model_copy(update={"phq9": phq9(22)})


def _coverage() -> Prepared:
    case = Case.new(coverage=False)
    case.assess()
    assert case.state.phase is CarePhase.FINANCIAL_COUNSELING
    first = CoverageSubmission(
        submission_id="c-1", recorded_by="fc-1", coverage=Coverage(payer_id="P", member_id="M2")
    )
    changed = first.model_copy(update={"coverage": Coverage(payer_id="P", member_id="M3")})
    return case, Action.SUBMIT_COVERAGE, first, changed


def _authorization() -> Prepared:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    case.payer(request)
    first = case.approval(units=20)
    return case, Action.RECORD_AUTHORIZATION, first, first.model_copy(update={"units": 12})


def _review() -> Prepared:
    case = Case.new()
    case.enrolled()
    first = ReviewSubmission(
        review_id="r-1", clinician_id="clin-1", phq9=phq9(10), hours_attended=9, units_attended=3
    )
    return case, Action.SUBMIT_REVIEW, first, first.model_copy(update={"phq9": phq9(22)})


def _decision() -> Prepared:
    case = Case.new()
    case.enrolled()
    first = ClinicianDecision(
        decision_id="d-1", clinician_id="clin-1", action=DecisionAction.CONTINUE, reason="plan a"
    )
    return case, Action.DECIDE, first, first.model_copy(update={"reason": "plan b"})


def _event() -> Prepared:
    case = Case.new()
    case.enrolled()
    first = EpisodeEvent(
        event_id="e-1", reported_by="ehr-1", kind=EpisodeEventKind.WITHDRAWN, reason="moved"
    )
    return case, Action.REPORT_EVENT, first, first.model_copy(update={"reason": "moved away"})


KINDS: dict[str, Callable[[], Prepared]] = {
    "assessment": _assessment,
    "coverage": _coverage,
    "authorization": _authorization,
    "review": _review,
    "decision": _decision,
    "event": _event,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_same_id_same_content_is_a_duplicate_with_the_first_answer(kind: str) -> None:
    case, action, first, _ = KINDS[kind]()
    answer = case.submit(action, first)
    assert not answer.duplicate
    before = case.state.model_copy(deep=True)

    again = case.submit(action, first.model_copy(deep=True))

    assert again.duplicate
    assert again.model_copy(update={"duplicate": False}) == answer
    assert case.state == before


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_same_id_different_content_is_a_conflict_that_changes_nothing(kind: str) -> None:
    case, action, first, changed = KINDS[kind]()
    case.submit(action, first)
    case.commands()
    before = case.state.model_copy(deep=True)

    with pytest.raises(SubmissionConflict) as refused:
        case.engine.validate(action, changed)
    assert "different content" in str(refused.value)
    with pytest.raises(SubmissionConflict):
        case.engine.answer(action, changed, case.now)
    assert case.state == before


def test_a_decision_id_equal_to_an_earlier_review_id_is_a_new_decision() -> None:
    case = Case.new()
    case.enrolled()
    case.review(12, review_id="shared-1")
    recorded = len(case.state.reviews)

    decision = case.decide(DecisionAction.STEP_DOWN, LevelOfCare.OP, decision_id="shared-1")

    assert not decision.duplicate
    assert case.state.delivered_level is LevelOfCare.OP
    kinds = [r.kind for r in case.state.reviews[recorded:]]
    assert kinds == ["decision"]


def test_a_legacy_answer_kept_by_bare_id_still_answers_a_retry() -> None:
    """State carried from before recent_answers: the old answer comes back, not applied twice."""
    case = Case.new()
    case.enrolled()
    answer = case.review(12, review_id="old-1")
    case.state.recent_results["old-1"] = answer
    del case.state.recent_answers["submit_review:old-1"]
    history = list(case.state.phq9_history)

    again = case.review(12, review_id="old-1")

    assert again.duplicate
    assert case.state.phq9_history == history
