"""Paths 3 and 4: step up and back; refer out to inpatient and return; not for IOP.

Engine scenarios with the workflow's loop played by hand (tests/workflows/engine_loop.py).
"""

from __future__ import annotations

from rules.levels import LevelOfCare
from rules.recommendation import Flag, RecommendedAction
from rules.transitions import Action, CarePhase
from schemas.submissions import DecisionAction, EpisodeEventKind
from tests.workflows.engine_loop import LoopCase
from tests.workflows.test_safety import HIGH_RISK_CSSRS


def test_iop_to_php_needs_new_authorization_and_back() -> None:
    case = LoopCase.admit()
    case.enrolled()
    case.until_review()
    worse = case.review(22)
    assert worse.recommended_action is RecommendedAction.STEP_UP
    assert worse.target_level is LevelOfCare.PHP

    asked = case.decide(DecisionAction.STEP_UP, LevelOfCare.PHP, expedited=True)
    assert asked.phase is CarePhase.IN_TREATMENT  # at IOP while the payer decides
    assert asked.delivered_level is LevelOfCare.IOP
    case.wait(hours=1)
    pending = case.view().pending_payer_request
    assert pending is not None and pending.expedited and pending.decision_due_at is not None
    assert (pending.decision_due_at - pending.submitted_at).total_seconds() == 72 * 3600

    php = case.approve(units=10, level=LevelOfCare.PHP)
    assert php.phase is CarePhase.IN_TREATMENT
    assert php.delivered_level is LevelOfCare.PHP
    assert case.view().authorized_level is LevelOfCare.PHP

    case.until_review()
    low = case.review(20, hours=12, units=3)
    assert "attendance_below_minimum" in low.reasons  # PHP minimum is 20 h/week
    for score in (8, 6):  # baseline 16: response is 8 or less
        case.until_review()
        better = case.review(score, hours=22, units=5)
    assert better.recommended_action is RecommendedAction.STEP_DOWN
    assert better.target_level is LevelOfCare.IOP

    back = case.decide(DecisionAction.STEP_DOWN, LevelOfCare.IOP)
    assert back.phase is CarePhase.IN_TREATMENT
    assert back.delivered_level is LevelOfCare.PHP
    case.approve(units=12, level=LevelOfCare.IOP)
    state = case.view()
    assert state.delivered_level is LevelOfCare.IOP
    assert state.authorized_level is LevelOfCare.IOP


def test_step_up_to_inpatient_refers_out_and_returns() -> None:
    case = LoopCase.admit()
    case.enrolled()
    case.until_review()
    case.review(14, cssrs=HIGH_RISK_CSSRS)
    out = case.decide(DecisionAction.STEP_UP, LevelOfCare.INPATIENT, reason="emergency evaluation")
    assert out.phase is CarePhase.EXTERNAL_CARE
    assert out.delivered_level is None, "inpatient is delivered only once admitted"
    assert case.view().requested_level is LevelOfCare.INPATIENT
    assert Action.REPORT_EVENT in out.allowed_actions
    assert Action.SUBMIT_REVIEW not in out.allowed_actions

    admitted = case.event(EpisodeEventKind.ADMITTED)
    assert admitted.delivered_level is LevelOfCare.INPATIENT
    case.wait(days=10)
    back = case.event(EpisodeEventKind.DISCHARGED, level_at_discharge=LevelOfCare.IOP)
    assert back.phase is CarePhase.AUTHORIZATION
    case.wait(hours=1)
    state = case.view()
    assert state.followup_due is not None
    assert Flag.FOLLOWUP_DUE in state.flags
    assert (state.followup_due - state.updated_at).days == 7  # midnight after day 7
    assert state.pending_payer_request is not None and state.pending_payer_request.expedited

    reentered = case.approve(units=15, level=LevelOfCare.IOP)
    assert reentered.delivered_level is LevelOfCare.IOP
    assert Flag.FOLLOWUP_DUE in reentered.flags, "re-enrollment is not a follow-up visit"
    same_day = case.visit(days_after=0, kind="iop")
    assert same_day.reasons == ["visit_not_after_discharge_date_not_counted"]
    assert Flag.FOLLOWUP_DUE in same_day.flags
    case.wait(days=1)
    seen = case.visit(days_after=0, kind="iop")
    assert "followup_7_day_met" in seen.reasons
    assert Flag.FOLLOWUP_DUE not in seen.flags
    assert Flag.FOLLOWUP_MISSED not in seen.flags


def test_missed_followup_after_inpatient_discharge_escalates() -> None:
    case = LoopCase.admit()
    case.assess(LevelOfCare.INPATIENT, total=24)
    case.event(EpisodeEventKind.ADMITTED)
    case.event(EpisodeEventKind.DISCHARGED, level_at_discharge=LevelOfCare.IOP)
    case.wait(days=9)
    assert Flag.FOLLOWUP_MISSED in case.view().flags
    assert "followup_missed" in case.sent("supervisor")


def test_assessment_for_inpatient_refers_out_and_closes() -> None:
    case = LoopCase.admit()
    decision = case.assess(LevelOfCare.INPATIENT, total=24, await_return=False)
    assert decision.recommended_action is RecommendedAction.REFER_OUT
    assert decision.phase is CarePhase.CLOSED
    assert case.outcome == "referred_out"
    assert case.adapters.payer.eligibility_calls == 0


def test_high_risk_cssrs_at_intake_is_not_for_iop() -> None:
    case = LoopCase.admit()
    decision = case.assess(LevelOfCare.IOP, total=17, cssrs=HIGH_RISK_CSSRS)
    assert decision.recommended_action is RecommendedAction.REFER_OUT
    assert decision.target_level is LevelOfCare.INPATIENT
    assert decision.phase is CarePhase.ASSESSMENT, "held for the emergency evaluation"
    assert decision.urgent
    evaluated = case.assess(LevelOfCare.INPATIENT, total=17, cssrs=HIGH_RISK_CSSRS, evaluated=True)
    assert evaluated.phase is CarePhase.EXTERNAL_CARE
    case.wait(hours=1)
    assert "referred_out" in case.sent("care_team")

    home = case.event(EpisodeEventKind.DISCHARGED, level_at_discharge=LevelOfCare.OP)
    assert home.phase is CarePhase.IN_TREATMENT
    assert home.delivered_level is LevelOfCare.OP


def test_referral_with_no_return_closes_after_the_wait() -> None:
    case = LoopCase.admit()
    case.assess(LevelOfCare.RESIDENTIAL, total=20)
    case.wait(days=91)
    assert case.outcome == "referred_out_no_return"
