"""Path 1: assessment → authorization → IOP → improving reviews → OP → discharge → closed."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.recommendation import RecommendedAction
from rules.transitions import CarePhase
from schemas.submissions import DecisionAction
from tests.workflows.clinic import Clinic, running_worker


async def test_happy_path_from_assessment_to_closed(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        decision = await clinic.assess(LevelOfCare.IOP, total=18)
        assert decision.recommended_action is RecommendedAction.ENROLL
        assert decision.phase is CarePhase.INSURANCE_VERIFICATION

        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.phase is CarePhase.AUTHORIZATION
        assert state.pending_payer_request is not None

        enrolled = await clinic.approve(units=20)
        assert enrolled.phase is CarePhase.IN_TREATMENT
        assert enrolled.delivered_level is LevelOfCare.IOP
        state = await clinic.state()
        assert state.authorized_level is LevelOfCare.IOP
        assert state.authorization is not None and state.authorization.units_left == 20

        recommendations = []
        for score in (16, 13, 9, 7):
            await clinic.until_review()
            recommendations.append(await clinic.review(score, hours=10, units=3))
        assert [r.recommended_action for r in recommendations] == [
            RecommendedAction.CONTINUE,
            RecommendedAction.CONTINUE,
            RecommendedAction.CONTINUE,
            RecommendedAction.STEP_DOWN,
        ]
        assert recommendations[-1].target_level is LevelOfCare.OP

        stepped = await clinic.decide(DecisionAction.STEP_DOWN, LevelOfCare.OP)
        assert stepped.phase is CarePhase.IN_TREATMENT
        assert stepped.delivered_level is LevelOfCare.OP
        state = await clinic.state()
        assert state.next_review_due is not None
        assert (state.next_review_due - state.updated_at).days == 28

        for score in (5, 4):
            await clinic.until_review(28)
            last = await clinic.review(score, hours=2, units=1)
        assert last.recommended_action is RecommendedAction.DISCHARGE

        discharged = await clinic.decide(DecisionAction.DISCHARGE)
        assert discharged.phase is CarePhase.AFTERCARE

        await clinic.wait(days=91)
        result = await clinic.handle.result()
        assert result.outcome == "completed"
        state = await clinic.state()
        assert state.phase is CarePhase.CLOSED
        assert state.aftercare_checkins_done == 4

        care_team = adapters.outbox.templates(clinic.episode_id, "care_team")
        assert care_team.count("aftercare_checkin") == 4
        patient = adapters.outbox.for_episode(clinic.episode_id)
        assert all(
            n.template == "new_message" and n.params == {}
            for n in patient
            if n.recipient.value == "patient"
        )
        reasons = [r for (_, _, r) in adapters.store.transitions(clinic.handle.id)]
        assert reasons[:3] == [
            "referral_received",
            "program_level_indicated",
            "prior_authorization_requested",
        ]
        assert reasons[-1] == "completed"
