"""The contract from the API to the workflow, checked where it could drift (no server).

One table (`UPDATES`) maps each action to the update that carries it; the names those
updates are registered under are what running episodes and recorded histories use; the
refusals travel as ApplicationErrors named after the engine's exception classes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from unittest.mock import patch

import pytest
from temporalio import workflow
from temporalio.client import WorkflowUpdateFailedError

from api.episodes_client import EpisodeClient
from api.problems import ApiProblem
from rules.levels import LevelOfCare
from rules.transitions import Action, CarePhase, TransitionNotAllowed
from schemas.submissions import (
    AssessmentSubmission,
    LevelDetermination,
    Phq9,
    ReviewSubmission,
    Submission,
)
from tests.workflows.engine_cases import Case
from workflows.care_episode import UPDATES, CareEpisode, _refusal
from workflows.engine import HANDLERS, EpisodeEngine
from workflows.engine_core import InvalidSubmission, SubmissionConflict

HISTORIES = Path(__file__).parents[1] / "replay" / "histories"
# The names the updates were registered under when the recorded histories were made.
# Renaming one would strand every running episode's retries and break replay.
REGISTERED = {
    "submit_assessment",
    "submit_coverage",
    "record_authorization",
    "submit_review",
    "decide",
    "report_event",
    "record_attendance",
    "submit_patient_measure",
    "acknowledge_alert",
}
DEFINITION = workflow._Definition.must_from_class(CareEpisode)


def test_every_action_has_its_update() -> None:
    assert set(UPDATES) == set(Action)


def test_every_update_in_the_table_is_a_registered_update_of_care_episode() -> None:
    for update in UPDATES.values():
        name = update._defn.name
        assert name is not None
        assert DEFINITION.updates[name].fn is update._defn.fn
    assert {u._defn.name for u in UPDATES.values()} == set(DEFINITION.updates)


def test_the_registered_names_stay_the_ones_running_episodes_use() -> None:
    assert set(DEFINITION.updates) == REGISTERED
    assert set(DEFINITION.queries) == {"state"}  # the public contract (DESIGN §2)


def test_every_update_in_a_recorded_history_is_still_registered() -> None:
    seen: set[str] = set()
    for path in sorted(HISTORIES.glob("*.json")):
        for event in json.loads(path.read_text())["events"]:
            accepted = event.get("workflowExecutionUpdateAcceptedEventAttributes")
            if accepted:
                seen.add(accepted["acceptedRequest"]["input"]["name"])
    assert seen, "no update found in the recorded histories"
    assert seen <= set(DEFINITION.updates)


def test_each_update_takes_one_submission_of_its_own_kind() -> None:
    kinds = []
    for update in UPDATES.values():
        arg_types = update._defn.arg_types
        assert arg_types is not None and len(arg_types) == 1
        [kind] = arg_types
        assert issubclass(kind, Submission)
        kinds.append(kind)
    assert len(set(kinds)) == len(kinds)


def test_a_submission_kind_must_name_real_text_fields() -> None:
    with pytest.raises(TypeError, match="not a text field"):

        class Typo(Submission):
            id_field = "reviewid"
            actor_field = "clinician_id"
            review_id: str
            clinician_id: str

    with pytest.raises(TypeError, match="actor_field or fixed_actor"):

        class Nobody(Submission):
            id_field = "review_id"
            actor_field = None
            review_id: str


REFUSED = [
    (TransitionNotAllowed(CarePhase.CLOSED, "submit_review", []), 409, "transition-not-allowed"),
    (SubmissionConflict(Action.SUBMIT_REVIEW, "r-1"), 409, "submission-conflict"),
    (InvalidSubmission("no"), 422, "invalid-submission"),
]


@pytest.mark.parametrize(("error", "status", "slug"), REFUSED)
def test_the_api_reads_each_refusal_the_workflow_sends(
    error: Exception, status: int, slug: str
) -> None:
    sent = _refusal(error)
    assert sent.type == type(error).__name__
    with pytest.raises(ApiProblem) as answered:
        EpisodeClient._raise_update_failure(WorkflowUpdateFailedError(sent))
    assert (answered.value.status, answered.value.slug) == (status, slug)


def test_every_action_has_one_handler_for_the_submission_its_update_takes() -> None:
    assert set(HANDLERS) == set(Action)
    for action, update in UPDATES.items():
        assert update._defn.arg_types == [HANDLERS[action].kind]


def test_a_submission_is_resolved_once_when_validated_then_answered() -> None:
    """The validator resolves, the handler applies what was resolved (no second check);
    without a validator (a replay) the handler resolves it itself, once."""
    case = Case.new()
    case.enrolled()
    real = HANDLERS[Action.SUBMIT_REVIEW]
    calls: list[str] = []

    def counted(engine: EpisodeEngine, sub: ReviewSubmission) -> object:
        calls.append(sub.review_id)
        return real.resolve(engine, sub)

    with patch.dict(HANDLERS, {Action.SUBMIT_REVIEW: replace(real, resolve=counted)}):
        case.review(review_id="validated")  # validate, then answer
        case.engine.answer(Action.SUBMIT_REVIEW, review("replayed"), case.now)
        again = case.review(review_id="validated")  # a retry: the first answer, unresolved
    assert calls == ["validated", "replayed"]
    assert again.duplicate


def test_a_refusal_changes_nothing_and_a_resolution_is_not_reused_for_another() -> None:
    case = Case.new()
    case.enrolled()
    before = case.state.model_copy(deep=True)
    with pytest.raises(TransitionNotAllowed):
        case.engine.validate(Action.SUBMIT_ASSESSMENT, case_assessment())
    assert case.state == before
    case.engine.validate(Action.SUBMIT_REVIEW, review("first"))
    decision = case.engine.answer(Action.SUBMIT_REVIEW, review("second"), case.now)
    assert decision.submission_id == "second"
    assert [r.review_id for r in case.state.reviews][-1:] == ["second"]


def review(review_id: str) -> ReviewSubmission:
    return ReviewSubmission(
        review_id=review_id, clinician_id="clin-1", hours_attended=10, units_attended=3
    )


def case_assessment() -> AssessmentSubmission:
    return AssessmentSubmission(
        assessment_id="late",
        clinician_id="clin-1",
        phq9=Phq9(items=[1] * 9),
        determination=LevelDetermination(instrument="LOCUS", level=LevelOfCare.IOP, rationale="x"),
    )
