"""Paths 3 and 4: step up and back; refer out to inpatient and return; not for IOP."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.recommendation import Flag, RecommendedAction
from rules.transitions import Action, CarePhase
from schemas.submissions import DecisionAction, EpisodeEventKind
from tests.workflows.clinic import Clinic, running_worker
from tests.workflows.test_safety import HIGH_RISK_CSSRS, enrolled


async def test_iop_to_php_needs_new_authorization_and_back(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.until_review()
        worse = await clinic.review(22)
        assert worse.recommended_action is RecommendedAction.STEP_UP
        assert worse.target_level is LevelOfCare.PHP

        asked = await clinic.decide(DecisionAction.STEP_UP, LevelOfCare.PHP, expedited=True)
        assert asked.phase is CarePhase.IN_TREATMENT  # at IOP while the payer decides
        assert asked.delivered_level is LevelOfCare.IOP
        await clinic.wait(hours=1)
        pending = (await clinic.state()).pending_payer_request
        assert pending is not None and pending.expedited and pending.decision_due_at is not None
        assert (pending.decision_due_at - pending.submitted_at).total_seconds() == 72 * 3600

        php = await clinic.approve(units=10, level=LevelOfCare.PHP)
        assert php.phase is CarePhase.IN_TREATMENT
        assert php.delivered_level is LevelOfCare.PHP
        state = await clinic.state()
        assert state.authorized_level is LevelOfCare.PHP

        await clinic.until_review()
        low = await clinic.review(20, hours=12, units=3)
        assert "attendance_below_minimum" in low.reasons  # PHP minimum is 20 h/week
        for score in (8, 6):  # baseline 16: response is 8 or less
            await clinic.until_review()
            better = await clinic.review(score, hours=22, units=5)
        assert better.recommended_action is RecommendedAction.STEP_DOWN
        assert better.target_level is LevelOfCare.IOP

        back = await clinic.decide(DecisionAction.STEP_DOWN, LevelOfCare.IOP)
        assert back.phase is CarePhase.IN_TREATMENT
        assert back.delivered_level is LevelOfCare.PHP
        await clinic.approve(units=12, level=LevelOfCare.IOP)
        state = await clinic.state()
        assert state.delivered_level is LevelOfCare.IOP
        assert state.authorized_level is LevelOfCare.IOP


async def test_step_up_to_inpatient_refers_out_and_returns(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        await clinic.until_review()
        await clinic.review(14, cssrs=HIGH_RISK_CSSRS)
        out = await clinic.decide(
            DecisionAction.STEP_UP, LevelOfCare.INPATIENT, reason="emergency evaluation"
        )
        assert out.phase is CarePhase.EXTERNAL_CARE
        assert out.delivered_level is None, "inpatient is delivered only once admitted"
        assert (await clinic.state()).requested_level is LevelOfCare.INPATIENT
        assert Action.REPORT_EVENT in out.allowed_actions
        assert Action.SUBMIT_REVIEW not in out.allowed_actions

        admitted = await clinic.event(EpisodeEventKind.ADMITTED)
        assert admitted.delivered_level is LevelOfCare.INPATIENT
        await clinic.wait(days=10)
        back = await clinic.event(EpisodeEventKind.DISCHARGED, LevelOfCare.IOP)
        assert back.phase is CarePhase.AUTHORIZATION
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.followup_due is not None
        assert Flag.FOLLOWUP_DUE in state.flags
        assert (state.followup_due - state.updated_at).days == 7  # midnight after day 7
        assert state.pending_payer_request is not None and state.pending_payer_request.expedited

        reentered = await clinic.approve(units=15, level=LevelOfCare.IOP)
        assert reentered.delivered_level is LevelOfCare.IOP
        assert Flag.FOLLOWUP_DUE in reentered.flags, "re-enrollment is not a follow-up visit"
        # The discharge day itself (the clock's 7 days end at the midnight after day 7):
        # not "today", which an evening discharge an hour ago has already left behind.
        discharge_day = (state.followup_due - timedelta(days=8)).date()
        same_day = await clinic.event(
            EpisodeEventKind.FOLLOWUP_VISIT, visit_date=discharge_day, visit_kind="iop"
        )
        assert same_day.reasons == ["visit_not_after_discharge_date_not_counted"]
        assert Flag.FOLLOWUP_DUE in same_day.flags
        await clinic.wait(days=1)
        seen = await clinic.visit(days_after=0, kind="iop")
        assert "followup_7_day_met" in seen.reasons
        assert Flag.FOLLOWUP_DUE not in seen.flags
        assert Flag.FOLLOWUP_MISSED not in seen.flags


async def test_missed_followup_after_inpatient_discharge_escalates(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.assess(LevelOfCare.INPATIENT, total=24)
        await clinic.event(EpisodeEventKind.ADMITTED)
        await clinic.event(EpisodeEventKind.DISCHARGED, LevelOfCare.IOP)
        await clinic.wait(days=9)
        state = await clinic.state()
        assert Flag.FOLLOWUP_MISSED in state.flags
        assert "followup_missed" in adapters.outbox.templates(clinic.episode_id, "supervisor")


async def test_assessment_for_inpatient_refers_out_and_closes(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        decision = await clinic.assess(LevelOfCare.INPATIENT, total=24, await_return=False)
        assert decision.recommended_action is RecommendedAction.REFER_OUT
        assert decision.phase is CarePhase.CLOSED
        result = await clinic.handle.result()
        assert result.outcome == "referred_out"
        assert adapters.payer.eligibility_calls == 0


async def test_high_risk_cssrs_at_intake_is_not_for_iop(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        decision = await clinic.assess(LevelOfCare.IOP, total=17, cssrs=HIGH_RISK_CSSRS)
        assert decision.recommended_action is RecommendedAction.REFER_OUT
        assert decision.target_level is LevelOfCare.INPATIENT
        assert decision.phase is CarePhase.ASSESSMENT, "held for the emergency evaluation"
        assert decision.urgent
        evaluated = await clinic.assess(
            LevelOfCare.INPATIENT, total=17, cssrs=HIGH_RISK_CSSRS, evaluated=True
        )
        assert evaluated.phase is CarePhase.EXTERNAL_CARE
        await clinic.wait(hours=1)
        assert "referred_out" in adapters.outbox.templates(clinic.episode_id, "care_team")

        home = await clinic.event(EpisodeEventKind.DISCHARGED, LevelOfCare.OP)
        assert home.phase is CarePhase.IN_TREATMENT
        assert home.delivered_level is LevelOfCare.OP


async def test_referral_with_no_return_closes_after_the_wait(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.assess(LevelOfCare.RESIDENTIAL, total=20)
        await clinic.wait(days=91)
        result = await clinic.handle.result()
        assert result.outcome == "referred_out_no_return"
