"""Paths 6 and 7, and the guard rails: overdue reviews, duplicates, attendance, bad input.

The rules run on the engine with the workflow's loop played by hand
(tests/workflows/engine_loop.py); what only the workflow does stays on the time-skipping
server: one update ID answered once, refusals before history, a malformed payload."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from rules.levels import AgeGroup, LevelOfCare
from rules.recommendation import Flag
from rules.schedule import ReviewStatus
from rules.transitions import CarePhase
from schemas.submissions import DecisionAction
from tests.workflows.clinic import Clinic, running_worker
from tests.workflows.engine_loop import LoopCase
from workflows.engine import InvalidSubmission


async def enrolled(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=20)


def test_overdue_review_reminds_then_escalates() -> None:
    case = LoopCase.admit()
    case.enrolled()
    case.wait(days=7, hours=1)
    assert case.view().review_status is ReviewStatus.DUE
    assert "new_message" in case.sent("patient")
    case.wait(hours=24)
    state = case.view()
    assert state.review_status is ReviewStatus.OVERDUE
    assert Flag.REVIEW_OVERDUE in state.flags
    assert case.sent("care_team").count("review_overdue") == 1
    assert "review_escalated" not in case.sent("supervisor")
    case.wait(hours=48)
    assert Flag.REVIEW_ESCALATED in case.view().flags
    assert case.sent("supervisor") == ["review_escalated"]

    late = case.review(12)
    assert Flag.REVIEW_OVERDUE not in late.flags
    assert Flag.REVIEW_ESCALATED not in late.flags


async def test_same_review_id_twice_gets_same_answer_and_applies_once(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.until_review()
        first = await clinic.review(12, units=3, review_id="rev-fixed-1")
        second = await clinic.review(12, units=3, review_id="rev-fixed-1")
        assert second.recommended_action == first.recommended_action
        assert second.reasons == first.reasons
        state = await clinic.state()
        assert state.scores.phq9_history == [12]
        assert state.authorization is not None and state.authorization.units_used == 3
        await clinic.wait(hours=1)
        stored = [
            r.review_id
            for b in adapters.store.batches.values()
            for r in b.reviews
            if r.kind == "review"
        ]
        assert stored == ["rev-fixed-1"]
        burn_down = [
            (a.status.value, a.units_used)
            for b in adapters.store.batches.values()
            for a in b.authorizations
            if a.authorization_number
        ]
        assert burn_down == [("approved", 0), ("approved", 3)]


def test_same_review_id_again_is_a_marked_duplicate_applied_once() -> None:
    """Under another update ID the workflow passes the review to the engine again."""
    case = LoopCase.admit()
    case.enrolled()
    first = case.review(10, review_id="rev-x")
    again = case.review(10, review_id="rev-x")
    assert again.duplicate and not first.duplicate
    assert again.recommended_action == first.recommended_action
    state = case.view()
    assert state.scores.phq9_history == [10]
    assert state.authorization is not None and state.authorization.units_used == 3


async def test_action_the_phase_does_not_allow_is_rejected_before_history(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await clinic.review(10)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "TransitionNotAllowed"
        assert "submit_assessment" in cause.message
        assert cause.details[0]["allowed_actions"] == [
            "submit_assessment",
            "report_event",
            "acknowledge_alert",
        ]

        history = await clinic.handle.fetch_history()
        kinds = {e.event_type for e in history.events}
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED not in kinds
        assert (await clinic.state()).phase is CarePhase.ASSESSMENT


async def test_malformed_review_is_rejected_and_changes_nothing(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        bad = {
            "review_id": "rev-bad",
            "clinician_id": "c",
            "phq9": {"items": [4, 0, 0, 0, 0, 0, 0, 0, 0]},
            "hours_attended": 9,
            "units_attended": 3,
        }
        with pytest.raises(WorkflowUpdateFailedError):
            await clinic.handle.execute_update("submit_review", bad)
        history = await clinic.handle.fetch_history()
        kinds = {e.event_type for e in history.events}
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED in kinds  # enrolment's
        accepted = [
            e
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert all(
            e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
            != "rev-bad"
            for e in accepted
        )
        assert (await clinic.state()).scores.phq9_history == []


def test_two_low_attendance_weeks_require_a_plan() -> None:
    case = LoopCase.admit(age_group=AgeGroup.ADOLESCENT)
    case.enrolled()
    case.until_review()
    ok = case.review(14, hours=6.5)  # adolescents: 6 h/week minimum
    assert Flag.LOW_ATTENDANCE not in ok.flags
    case.until_review()
    once = case.review(14, hours=4)
    assert Flag.LOW_ATTENDANCE in once.flags
    assert Flag.ATTENDANCE_PLAN_REQUIRED not in once.flags
    case.until_review()
    twice = case.review(14, hours=3)
    assert Flag.ATTENDANCE_PLAN_REQUIRED in twice.flags

    with pytest.raises(InvalidSubmission, match="plan"):
        case.decide(DecisionAction.CONTINUE)
    planned = case.decide(
        DecisionAction.CONTINUE, reason="transport arranged; schedule moved to evenings"
    )
    assert Flag.ATTENDANCE_PLAN_REQUIRED not in planned.flags


def test_adult_iop_minimum_is_nine_hours() -> None:
    case = LoopCase.admit()
    case.enrolled()
    case.until_review()
    low = case.review(14, hours=8.5)
    assert Flag.LOW_ATTENDANCE in low.flags
    state = case.view()
    assert state.consecutive_low_attendance_weeks == 1
    assert state.delivered_level is LevelOfCare.IOP
