"""Path 2: item 9 > 0 or a high-risk C-SSRS → urgent alert, risk flag, step-up advice."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.recommendation import Flag, RecommendedAction
from rules.transitions import CarePhase
from schemas.submissions import DecisionAction
from tests.workflows.clinic import Clinic, running_worker

HIGH_RISK_CSSRS = [True, True, True, True, False, False]


async def enrolled(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=20)


async def test_item9_on_review_raises_flag_alerts_and_recommends_step_up(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.until_review()
        decision = await clinic.review(8, item9=1)

        assert decision.recommended_action is RecommendedAction.STEP_UP
        assert decision.target_level is LevelOfCare.PHP
        assert decision.urgent
        assert Flag.RISK in decision.flags
        assert "phq9_item9_positive" in decision.reasons
        await clinic.wait(hours=1)
        alerts = [
            n
            for n in adapters.outbox.for_episode(clinic.episode_id)
            if n.template == "safety_alert"
        ]
        assert len(alerts) == 1
        assert alerts[0].urgency.value == "urgent"
        assert alerts[0].recipient.value == "care_team"
        assert (await clinic.state()).flags.count(Flag.RISK) == 1


async def test_continue_on_high_risk_review_needs_override_reason(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.until_review()
        await clinic.review(12, cssrs=HIGH_RISK_CSSRS)

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await clinic.decide(DecisionAction.CONTINUE)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "InvalidSubmission"
        assert "override_reason" in cause.message
        assert Flag.RISK in (await clinic.state()).flags

        accepted = await clinic.decide(
            DecisionAction.CONTINUE, override_reason="C-SSRS full scale: low risk; safety plan"
        )
        assert accepted.phase is CarePhase.IN_TREATMENT
        assert Flag.RISK not in accepted.flags
        await clinic.wait(hours=1)
        decisions = [
            r for b in adapters.store.batches.values() for r in b.reviews if r.kind == "decision"
        ]
        assert decisions[-1].override_reason == "C-SSRS full scale: low risk; safety plan"


async def test_item9_at_intake_flags_but_still_enrolls(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        decision = await clinic.assess(LevelOfCare.IOP, total=15, item9=2)
        assert decision.urgent
        assert Flag.RISK in decision.flags
        assert decision.phase is CarePhase.INSURANCE_VERIFICATION
        await clinic.wait(hours=1)
        assert "safety_alert" in adapters.outbox.templates(clinic.episode_id, "care_team")


async def test_unassessed_risk_escalates_on_durable_timers(ts_env: WorkflowEnvironment) -> None:
    """Issue 14 item 5 on the time-skipping server: the ladder's timers really fire."""
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.until_review()
        await clinic.review(10, item9=1)
        await clinic.wait(hours=3)
        assert "risk_unassessed" not in adapters.outbox.templates(clinic.episode_id, "supervisor")
        await clinic.wait(hours=2)
        supervisor = [
            n
            for n in adapters.outbox.for_episode(clinic.episode_id)
            if n.template == "risk_unassessed" and n.recipient.value == "supervisor"
        ]
        assert len(supervisor) == 1 and supervisor[0].urgency.value == "urgent"
        await clinic.wait(days=1)
        assert (
            adapters.outbox.templates(clinic.episode_id, "care_team").count("risk_unassessed") == 1
        )
        reasons = [r for (_, _, r) in adapters.store.transitions(clinic.handle.id)]
        assert "risk_unassessed_escalated_to_supervisor" in reasons
        assert "risk_unassessed_at_end_of_local_day" in reasons

        await clinic.decide(
            DecisionAction.CONTINUE, override_reason="C-SSRS full scale: low risk; safety plan"
        )
        assert Flag.RISK not in (await clinic.state()).flags
