"""The engine's refusals as the update's validator gives them, before history, on the
time-skipping server: a submission ID reused with different content is ApplicationError
type SubmissionConflict; content the rules refuse is type InvalidSubmission. (Which
submissions the rules refuse is tested on the engine alone.)"""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from schemas.submissions import ClinicianDecision, DecisionAction, ReviewSubmission
from tests.workflows.clinic import Clinic, phq9, running_worker
from workflows.care_episode import CareEpisode


async def test_a_corrected_review_under_a_used_id_is_refused_before_history(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue, member_id="NOAUTH-1")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        review = ReviewSubmission(
            review_id="rev-c", clinician_id="c", phq9=phq9(10), hours_attended=9, units_attended=3
        )
        await clinic.handle.execute_update(CareEpisode.submit_review, review, id="u-1")
        corrected = review.model_copy(update={"phq9": phq9(22)})

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await clinic.handle.execute_update(CareEpisode.submit_review, corrected, id="u-2")

        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "SubmissionConflict"
        assert cause.details[0] == {"action": "submit_review", "submission_id": "rev-c"}
        assert (await clinic.state()).scores.phq9_history == [10]
        history = await clinic.handle.fetch_history()
        accepted = [
            e.workflow_execution_update_accepted_event_attributes.protocol_instance_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert "u-1" in accepted and "u-2" not in accepted


async def test_a_refused_decision_is_an_invalid_submission_before_history(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue, member_id="NOAUTH-2")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        await clinic.review(12, cssrs=[True, True, True, True, False, False])
        decision = ClinicianDecision(
            decision_id="dec-r", clinician_id="c", action=DecisionAction.CONTINUE
        )

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await clinic.handle.execute_update(CareEpisode.decide, decision, id="u-dec")

        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "InvalidSubmission"
        assert "override_reason" in cause.message
        history = await clinic.handle.fetch_history()
        accepted = [
            e.workflow_execution_update_accepted_event_attributes.protocol_instance_id
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ]
        assert "u-dec" not in accepted
