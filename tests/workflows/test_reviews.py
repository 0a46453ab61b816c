"""Paths 6 and 7, and the guard rails: overdue reviews, duplicates, attendance, bad input."""

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
from tests.workflows.test_safety import enrolled


async def test_overdue_review_reminds_then_escalates(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.wait(days=7, hours=1)
        state = await clinic.state()
        assert state.review_status is ReviewStatus.DUE
        assert "new_message" in adapters.outbox.templates(clinic.episode_id, "patient")
        await clinic.wait(hours=24)
        state = await clinic.state()
        assert state.review_status is ReviewStatus.OVERDUE
        assert Flag.REVIEW_OVERDUE in state.flags
        assert (
            adapters.outbox.templates(clinic.episode_id, "care_team").count("review_overdue") == 1
        )
        assert "review_escalated" not in adapters.outbox.templates(clinic.episode_id, "supervisor")
        await clinic.wait(hours=48)
        state = await clinic.state()
        assert Flag.REVIEW_ESCALATED in state.flags
        assert adapters.outbox.templates(clinic.episode_id, "supervisor") == ["review_escalated"]

        late = await clinic.review(12)
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


async def test_same_review_id_under_another_update_id_is_a_marked_duplicate(
    ts_env: WorkflowEnvironment,
) -> None:
    from schemas.submissions import ReviewSubmission
    from tests.workflows.clinic import phq9
    from workflows.care_episode import CareEpisode

    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        review = ReviewSubmission(
            review_id="rev-x", clinician_id="c", phq9=phq9(10), hours_attended=9, units_attended=3
        )
        await clinic.handle.execute_update(CareEpisode.submit_review, review, id="a")
        again = await clinic.handle.execute_update(CareEpisode.submit_review, review, id="b")
        assert again.duplicate
        assert (await clinic.state()).scores.phq9_history == [10]


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


async def test_two_low_attendance_weeks_require_a_plan(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue, age_group=AgeGroup.ADOLESCENT)
        await enrolled(clinic)
        await clinic.until_review()
        ok = await clinic.review(14, hours=6.5)  # adolescents: 6 h/week minimum
        assert Flag.LOW_ATTENDANCE not in ok.flags
        await clinic.until_review()
        once = await clinic.review(14, hours=4)
        assert Flag.LOW_ATTENDANCE in once.flags
        assert Flag.ATTENDANCE_PLAN_REQUIRED not in once.flags
        await clinic.until_review()
        twice = await clinic.review(14, hours=3)
        assert Flag.ATTENDANCE_PLAN_REQUIRED in twice.flags

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await clinic.decide(DecisionAction.CONTINUE)
        assert isinstance(refused.value.cause, ApplicationError)
        assert "plan" in refused.value.cause.message
        planned = await clinic.decide(
            DecisionAction.CONTINUE, reason="transport arranged; schedule moved to evenings"
        )
        assert Flag.ATTENDANCE_PLAN_REQUIRED not in planned.flags


async def test_adult_iop_minimum_is_nine_hours(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.until_review()
        low = await clinic.review(14, hours=8.5)
        assert Flag.LOW_ATTENDANCE in low.flags
        state = await clinic.state()
        assert state.consecutive_low_attendance_weeks == 1
        assert state.delivered_level is LevelOfCare.IOP
