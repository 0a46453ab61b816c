"""Issue 14, patient safety, as plain engine cases: state + submission → decision + effects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.recommendation import Flag, RecommendedAction
from rules.transitions import CarePhase, Event
from schemas.records import Recipient, Urgency
from schemas.submissions import CssrsScreen, DecisionAction, EpisodeEventKind, SafetyAssessment
from tests.workflows.safety_cases import (
    ASSESSED,
    HIGH_CSSRS,
    MODERATE_CSSRS,
    NOW,
    assess,
    decide,
    enrolled,
    event,
    new_engine,
    review,
    run_timers,
    sent,
)
from workflows.engine import EpisodeEngine
from workflows.engine_core import InvalidSubmission
from workflows.state import ENGINE_V1

L = LevelOfCare
D = DecisionAction


# --- 1. the risk flag clears only with a recorded safety-assessment result ---------------


def test_step_up_keeps_the_risk_flag_until_a_safety_assessment_is_recorded() -> None:
    engine = enrolled()
    review(engine, 12, item9=1)
    decision = decide(engine, D.STEP_UP, L.PHP)
    assert decision.phase is CarePhase.IN_TREATMENT  # the payer decides on the PHP request
    assert Flag.RISK in decision.flags, "a step-up is not a safety assessment"

    cleared = event(engine, EpisodeEventKind.SAFETY_ASSESSMENT, safety_assessment=ASSESSED)
    assert Flag.RISK not in cleared.flags
    assert "risk_flag_cleared" in cleared.reasons
    [record] = [r for r in engine.state.reviews if r.kind == "safety_assessment"]
    assert (record.safety_instrument, record.safety_result) == ("C-SSRS", "low")


def test_a_step_up_with_the_assessment_result_clears_the_flag() -> None:
    engine = enrolled()
    review(engine, 12, item9=1)
    decision = decide(engine, D.STEP_UP, L.PHP, safety=ASSESSED)
    assert Flag.RISK not in decision.flags


def test_engine_v1_runs_keep_their_recorded_behaviour() -> None:
    engine = enrolled(version=ENGINE_V1)
    review(engine, 12, item9=1)
    assert Flag.RISK not in decide(engine, D.STEP_UP, L.PHP).flags


# --- 7. the alert names every reason, risk first -----------------------------------------


def test_safety_alert_carries_all_reasons_with_risk_first() -> None:
    engine = enrolled()
    decision = review(engine, 12, item9=1, hours=2)
    assert decision.reasons[0] == "phq9_item9_positive"
    [alert] = sent(engine, "safety_alert")
    assert alert.urgency is Urgency.URGENT
    assert alert.params["reason"] == "phq9_item9_positive"
    reasons = alert.params["reasons"].split(",")
    assert reasons == decision.reasons
    assert reasons.index("attendance_below_minimum") > reasons.index(
        "same_day_safety_assessment_needed"
    )


# --- 9. overrides need real text, or a structured result ---------------------------------


@pytest.mark.parametrize("text", [" ", "   \n  ", "ok", "ED eval"])
def test_blank_or_token_override_text_is_refused_and_changes_nothing(text: str) -> None:
    engine = enrolled()
    review(engine, 12, item9=1)
    before = engine.state.model_dump()
    with pytest.raises(InvalidSubmission, match="at least 15 characters"):
        decide(engine, D.CONTINUE, override_reason=text)
    assert engine.state.model_dump() == before


def test_override_minimum_follows_policy_and_is_trimmed() -> None:
    engine = enrolled(ProgramPolicy(override_min_chars=30))
    review(engine, 12, item9=1)
    with pytest.raises(InvalidSubmission):
        decide(engine, D.CONTINUE, override_reason="  C-SSRS full: low risk, plan   ")
    accepted = decide(
        engine, D.CONTINUE, override_reason="C-SSRS full scale: low risk; safety plan made"
    )
    assert Flag.RISK not in accepted.flags


def test_structured_safety_assessment_is_accepted_and_recorded() -> None:
    engine = enrolled()
    review(engine, 12, item9=1)
    accepted = decide(engine, D.CONTINUE, safety=ASSESSED)
    assert Flag.RISK not in accepted.flags
    [record] = [r for r in engine.state.reviews if r.kind == "decision"]
    assert record.safety_instrument == "C-SSRS"
    assert record.safety_result == "low"
    assert record.safety_plan == ASSESSED.plan


def test_a_structured_result_needs_a_plan() -> None:
    with pytest.raises(ValidationError, match="plan"):
        SafetyAssessment.model_validate({"instrument": "C-SSRS", "result": "low", "plan": "  "})


# --- 3. C-SSRS triage: moderate raises risk; contradictions refused; answers kept --------


def test_moderate_cssrs_raises_risk_with_an_urgent_alert_and_the_override_rule() -> None:
    engine = enrolled()
    decision = review(engine, 9, cssrs=MODERATE_CSSRS)
    assert Flag.RISK in decision.flags
    assert decision.urgent
    assert decision.reasons[0] == "cssrs_moderate_risk"
    assert decision.recommended_action is RecommendedAction.STEP_UP
    [alert] = sent(engine, "safety_alert")
    assert alert.urgency is Urgency.URGENT
    with pytest.raises(InvalidSubmission):
        decide(engine, D.CONTINUE)
    [record] = [r for r in engine.state.reviews if r.kind == "review"]
    assert record.cssrs_answers == MODERATE_CSSRS
    assert record.cssrs_risk == "moderate"
    assert record.cssrs_high_risk is False


def test_low_cssrs_is_recorded_without_raising_risk() -> None:
    engine = enrolled()
    decision = review(engine, 9, cssrs=[True, False, False, False, False, False])
    assert Flag.RISK not in decision.flags
    assert engine.state.reviews[-1].cssrs_risk == "low"


def test_contradictory_cssrs_is_refused_before_history() -> None:
    with pytest.raises(ValidationError) as refused:
        CssrsScreen(answers=[True, True, False, False, False, False], behaviour_past_3_months=True)
    assert "Q6" in str(refused.value)


def test_moderate_cssrs_at_intake_raises_risk_and_keeps_the_level() -> None:
    engine = new_engine()
    decision = assess(engine, cssrs=MODERATE_CSSRS)
    assert decision.phase is CarePhase.INSURANCE_VERIFICATION
    assert Flag.RISK in decision.flags
    assert decision.urgent


# --- 6. closures by the engine tell the care team; urgent with risk ----------------------


def test_financial_hold_expiry_with_risk_open_is_told_urgently() -> None:
    engine = new_engine(coverage=False)
    assess(engine, item9=1)
    assert engine.state.phase is CarePhase.FINANCIAL_COUNSELING
    run_timers(engine, NOW + timedelta(days=31))
    assert engine.state.phase is CarePhase.CLOSED
    [care] = sent(engine, "episode_closed", Recipient.CARE_TEAM)
    assert care.urgency is Urgency.URGENT
    assert care.params["reason"] == Event.FINANCIAL_HOLD_EXPIRED.value
    assert care.params["risk_open"] == "true"
    assert care.params["next_step"] == "offer_aftercare_or_referral"
    assert sent(engine, "episode_closed", Recipient.SUPERVISOR)


def test_referral_never_returned_closure_is_told_without_risk_as_routine() -> None:
    engine = new_engine()
    assess(engine, L.INPATIENT)
    assert engine.state.phase is CarePhase.EXTERNAL_CARE
    run_timers(engine, NOW + timedelta(days=91))
    assert engine.state.phase is CarePhase.CLOSED
    [care] = sent(engine, "episode_closed", Recipient.CARE_TEAM)
    assert care.urgency is Urgency.ROUTINE
    assert care.params["reason"] == Event.EXTERNAL_WAIT_EXPIRED.value
    assert not sent(engine, "episode_closed", Recipient.SUPERVISOR)


def test_withdrawal_against_advice_with_risk_open_is_urgent() -> None:
    engine = enrolled()
    review(engine, 12, item9=1)
    event(engine, EpisodeEventKind.WITHDRAWN)
    for who in (Recipient.CARE_TEAM, Recipient.SUPERVISOR):
        [alert] = sent(engine, "withdrawn_with_risk_open", who)
        assert alert.urgency is Urgency.URGENT


def test_withdrawal_without_risk_sends_no_risk_alert() -> None:
    engine = enrolled()
    event(engine, EpisodeEventKind.WITHDRAWN)
    assert not sent(engine, "withdrawn_with_risk_open")


# --- 4. high risk at intake: hold, evaluate, then the clinician decides ------------------


def test_high_risk_at_intake_holds_with_risk_and_an_urgent_alert() -> None:
    engine = new_engine()
    decision = assess(engine, cssrs=HIGH_CSSRS)
    assert decision.phase is CarePhase.ASSESSMENT
    assert decision.delivered_level is None
    assert decision.recommended_action is RecommendedAction.REFER_OUT
    assert decision.target_level is L.INPATIENT
    assert Flag.RISK in decision.flags
    assert sent(engine, "safety_alert")[0].urgency is Urgency.URGENT
    assert engine.state.transitions[-1].event is Event.ASSESSED_HOLD_FOR_EVALUATION


def test_after_the_emergency_evaluation_the_clinician_can_enroll() -> None:
    engine = new_engine()
    assess(engine, cssrs=HIGH_CSSRS)
    evaluation = SafetyAssessment(
        instrument="emergency_evaluation", result="moderate", plan="ED: cleared for IOP"
    )
    decision = assess(engine, L.IOP, cssrs=HIGH_CSSRS, safety=evaluation)
    assert decision.phase is CarePhase.INSURANCE_VERIFICATION
    assert Flag.RISK not in decision.flags
    assert "emergency_evaluation_recorded" in decision.reasons
    assert engine.state.reviews[-1].safety_instrument == "emergency_evaluation"


def test_refer_out_counts_inpatient_as_delivered_only_on_admission() -> None:
    engine = new_engine()
    assess(engine, cssrs=HIGH_CSSRS)
    decision = assess(engine, L.INPATIENT, cssrs=HIGH_CSSRS, safety=ASSESSED)
    assert decision.phase is CarePhase.EXTERNAL_CARE
    assert decision.delivered_level is None
    assert engine.state.requested_level is L.INPATIENT
    admitted = event(engine, EpisodeEventKind.ADMITTED)
    assert admitted.delivered_level is L.INPATIENT


def test_a_return_without_an_admission_starts_no_followup_clock() -> None:
    engine = new_engine()
    assess(engine, L.INPATIENT)
    event(engine, EpisodeEventKind.DISCHARGED)
    assert engine.state.followup is None
    assert Flag.FOLLOWUP_DUE not in engine.state.flags
    assert not sent(engine, "followup_due")


# --- 5. an unassessed risk flag escalates on durable timers ------------------------------


def test_unassessed_risk_escalates_to_the_supervisor_then_at_the_end_of_the_local_day() -> None:
    engine = enrolled(ProgramPolicy(time_zone="America/Los_Angeles"))
    review(engine, 12, item9=1)  # 15:00 UTC = 07:00 in Los Angeles
    assert engine.next_wakeup() == NOW + timedelta(hours=4)
    fired = run_timers(engine, NOW + timedelta(days=1))
    end_of_day = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)  # local midnight
    assert fired[:2] == [NOW + timedelta(hours=4), end_of_day]
    [first] = sent(engine, "risk_unassessed", Recipient.SUPERVISOR)[:1]
    assert first.urgency is Urgency.URGENT and first.params["step"] == "1"
    assert [n.params["step"] for n in sent(engine, "risk_unassessed", Recipient.CARE_TEAM)] == ["2"]
    ladder = [t.event for t in engine.state.transitions if t.event.value.startswith("risk_")]
    assert ladder == [Event.RISK_ESCALATED, Event.RISK_ESCALATED_END_OF_DAY]


def test_a_recorded_assessment_stops_the_ladder() -> None:
    engine = enrolled()
    review(engine, 12, item9=1)
    decide(engine, D.CONTINUE, safety=ASSESSED)
    run_timers(engine, NOW + timedelta(days=1))
    assert not sent(engine, "risk_unassessed")


def test_engine_v1_runs_set_no_escalation_timers() -> None:
    engine = enrolled(version=ENGINE_V1)
    review(engine, 12, item9=1)
    wake = engine.next_wakeup()
    assert wake is not None and wake > NOW + timedelta(days=1)


# --- 10. HEDIS FUH: a real visit after the discharge date, within 7 / 30 local days ------


def _discharged_from_inpatient(discharged_at: datetime = NOW) -> EpisodeEngine:
    engine = new_engine()
    assess(engine, L.INPATIENT)
    event(engine, EpisodeEventKind.ADMITTED)
    event(engine, EpisodeEventKind.DISCHARGED, occurred_at=discharged_at)
    return engine


def test_the_followup_clock_runs_from_when_the_discharge_happened() -> None:
    engine = _discharged_from_inpatient(NOW - timedelta(days=3))
    clock = engine.state.followup
    assert clock is not None
    assert clock.discharge_date == (NOW - timedelta(days=3)).date()
    assert clock.due_7 == datetime(2026, 3, 7, tzinfo=UTC)


def test_a_same_day_visit_does_not_count_a_next_day_one_does() -> None:
    engine = _discharged_from_inpatient()
    same = event(engine, EpisodeEventKind.FOLLOWUP_VISIT, visit_date=NOW.date(), visit_kind="iop")
    assert Flag.FOLLOWUP_DUE in same.flags
    nxt = NOW.date() + timedelta(days=1)
    ok = event(
        engine,
        EpisodeEventKind.FOLLOWUP_VISIT,
        at=NOW + timedelta(days=1),
        visit_date=nxt,
        visit_kind="outpatient",
    )
    assert ok.reasons == ["followup_7_day_met", "followup_30_day_met"]
    assert Flag.FOLLOWUP_DUE not in ok.flags
    assert [r.visit_date for r in engine.state.reviews if r.kind == "followup_visit"] == [
        NOW.date(),
        nxt,
    ]


def test_a_discharged_home_patient_can_record_a_visit_and_the_30_day_window_is_tracked() -> None:
    engine = _discharged_from_inpatient()
    assert engine.state.phase is CarePhase.AFTERCARE
    run_timers(engine, NOW + timedelta(days=9))
    assert Flag.FOLLOWUP_MISSED in engine.state.flags
    day12 = NOW + timedelta(days=12)
    late = event(
        engine,
        EpisodeEventKind.FOLLOWUP_VISIT,
        at=day12,
        visit_date=day12.date(),
        visit_kind="telehealth",
    )
    assert late.reasons == ["followup_30_day_met"]
    run_timers(engine, NOW + timedelta(days=40))
    assert Flag.FOLLOWUP_30_MISSED not in engine.state.flags


def test_no_visit_in_30_days_flags_the_30_day_miss() -> None:
    engine = _discharged_from_inpatient()
    run_timers(engine, NOW + timedelta(days=32))
    assert {Flag.FOLLOWUP_MISSED, Flag.FOLLOWUP_30_MISSED} <= set(engine.state.flags)
    windows = [n.params["window_days"] for n in sent(engine, "followup_missed")]
    assert windows == ["7", "30"]


def test_reenrollment_and_aftercare_texts_do_not_count_as_the_visit() -> None:
    engine = new_engine()
    assess(engine, L.INPATIENT)
    event(engine, EpisodeEventKind.ADMITTED)
    event(engine, EpisodeEventKind.DISCHARGED, level_at_discharge=L.OP)
    assert engine.state.phase is CarePhase.IN_TREATMENT
    assert Flag.FOLLOWUP_DUE in engine.state.flags
