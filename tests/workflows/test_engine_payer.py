"""Payer and utilization-management rules on the engine alone (no Temporal)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from rules.levels import AgeGroup, LevelOfCare
from rules.payer_deadlines import DecisionClock, PlanType
from rules.policy import ProgramPolicy
from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.payer import PayerRequestKind, PayerStatus
from schemas.submissions import (
    AuthorizationDecision,
    AuthorizationKind,
    CssrsScreen,
    DecisionAction,
    EpisodeEventKind,
)
from tests.workflows.engine_cases import T0, Case, next_id
from workflows.engine import InvalidSubmission
from workflows.state import ENGINE_V1, CommandKind

# ---------------------------------------------------------------- issue 8, item 8


def test_a_late_pending_answer_after_a_recorded_approval_is_reported_not_applied() -> None:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    assert request.kind is CommandKind.REQUEST_AUTHORIZATION
    # UR records the payer's approval while the engine's own request is still out.
    case.record(case.approval(units=20))
    assert case.state.phase is CarePhase.IN_TREATMENT

    case.payer(request, PayerStatus.PENDING)

    assert case.state.pending_payer is None
    assert "payer_answer_not_applied" in case.templates()
    case.later(days=8)
    assert Flag.PAYER_OVERDUE not in case.state.flags
    # The low-units concurrent review still goes out: nothing is pending any more.
    case.review(units=17)
    [extension] = case.commands()
    assert extension.payer_kind is PayerRequestKind.CONCURRENT_REVIEW
    assert Flag.AUTHORIZATION_LOW in case.state.flags


def test_a_late_approval_after_a_recorded_approval_is_not_taken_as_an_extension() -> None:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    case.record(case.approval(units=20, authorization_number="AUTH-UR"))

    case.payer(
        request,
        PayerStatus.APPROVED,
        units=5,
        start_date=case.now.date(),
        end_date=case.now.date(),
        authorization_number="AUTH-LATE",
    )

    a = case.state.authorization
    assert a is not None and a.authorization_number == "AUTH-UR" and a.units_approved == 20
    assert not any(t.event.value == "extension_approved" for t in case.state.transitions)
    assert "payer_answer_not_applied" in case.templates()


def test_the_answer_to_the_request_still_awaited_is_applied() -> None:
    case = Case.new()
    case.assess()
    [request] = case.eligible()

    case.payer(request, PayerStatus.PENDING)

    assert case.state.pending_payer is not None
    assert case.state.pending_payer.reference == f"SBX-{request.seq}"
    case.later(days=8)
    assert Flag.PAYER_OVERDUE in case.state.flags


# ------------------------------------------------ issue 14, item 2: no blackout


def _stepping_up(case: Case, *, risk: bool = True, **kw: object) -> None:
    case.enrolled()
    case.later(days=6)
    case.review(12, item9=1 if risk else 0)
    case.commands()
    case.decide(DecisionAction.STEP_UP, LevelOfCare.PHP, **kw)


def test_a_step_up_waiting_on_the_payer_stays_in_treatment_at_the_current_level() -> None:
    case = Case.new()
    _stepping_up(case)

    s = case.state
    assert s.phase is CarePhase.IN_TREATMENT
    assert s.delivered_level is LevelOfCare.IOP
    assert s.requested_level is LevelOfCare.PHP
    assert s.review is not None
    [request] = case.commands()
    assert request.level is LevelOfCare.PHP
    assert request.expedited  # risk was open: expedited by default
    assert "level_change_requested" in case.templates()
    case.payer(request)
    assert s.pending_payer is not None and s.pending_payer.decision_due_at is not None
    assert s.pending_payer.decision_due_at - s.pending_payer.submitted_at == timedelta(hours=72)

    # Reviews, screens and units go on at IOP while the payer decides.
    case.later(days=2)
    used = s.authorization.units_used if s.authorization else -1
    answer = case.review(11, units=2, cssrs=CssrsScreen(answers=[False] * 6))
    assert answer.phase is CarePhase.IN_TREATMENT
    assert s.authorization is not None and s.authorization.units_used == used + 2
    assert s.delivered_level is LevelOfCare.IOP


def test_a_step_up_with_deterioration_open_is_expedited_and_without_it_standard() -> None:
    worse = Case.new()
    worse.enrolled()
    worse.state.flags.append(Flag.DETERIORATION)
    worse.decide(DecisionAction.STEP_UP, LevelOfCare.PHP)
    [request] = worse.commands()
    assert request.expedited

    calm = Case.new()
    _stepping_up(calm, risk=False)
    [request] = calm.commands()
    assert not request.expedited


def test_the_payer_approving_the_step_up_moves_the_patient_up() -> None:
    case = Case.new()
    _stepping_up(case)
    [request] = case.commands()
    case.payer(request)

    answer = case.record(case.approval(units=10, level=LevelOfCare.PHP))

    assert answer.phase is CarePhase.IN_TREATMENT
    s = case.state
    assert s.delivered_level is s.authorized_level is LevelOfCare.PHP
    assert s.requested_level is None and s.pending_payer is None
    assert any(t.event.value == "level_change_approved" for t in s.transitions)


def test_a_step_up_denial_keeps_the_patient_at_iop_with_an_appeal_window() -> None:
    case = Case.new()
    _stepping_up(case)
    [request] = case.commands()
    case.payer(request)
    iop = case.state.authorization

    answer = case.record(
        AuthorizationDecision(
            decision_id="deny-1", recorded_by="ur-1", kind=AuthorizationKind.DENIED, reason="nm"
        )
    )

    s = case.state
    assert answer.phase is CarePhase.IN_TREATMENT
    assert s.delivered_level is LevelOfCare.IOP and s.requested_level is None
    assert s.authorization == iop
    assert Flag.APPEAL_OPEN in s.flags and s.appeal_deadline is not None
    assert s.review is not None


def test_a_lower_level_approval_is_accepted_as_what_it_is() -> None:
    case = Case.new()
    _stepping_up(case)
    [request] = case.commands()
    case.payer(request)

    case.record(case.approval(units=8, level=LevelOfCare.IOP, authorization_number="AUTH-IOP2"))

    s = case.state
    assert s.delivered_level is s.authorized_level is LevelOfCare.IOP
    assert s.authorization is not None and s.authorization.authorization_number == "AUTH-IOP2"
    assert s.requested_level is None and s.pending_payer is None


def test_an_approval_above_the_level_requested_is_refused() -> None:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    case.payer(request)
    with pytest.raises(InvalidSubmission, match="above"):
        case.record(case.approval(level=LevelOfCare.PHP))


def test_runs_pinned_to_engine_v1_still_leave_treatment_for_a_step_up() -> None:
    case = Case.new()
    case.state.engine_version = ENGINE_V1
    _stepping_up(case)
    assert case.state.phase is CarePhase.AUTHORIZATION


# ------------------------------------- issue 14, item 15: an eligibility outage


def test_an_eligibility_outage_is_retried_under_its_own_flag_not_coverage_inactive() -> None:
    case = Case.new()
    case.assess()
    [check] = case.commands()

    case.engine.eligibility_failed(retryable=True, now=case.now)

    s = case.state
    assert s.phase is CarePhase.INSURANCE_VERIFICATION
    assert Flag.ELIGIBILITY_UNAVAILABLE in s.flags
    assert Flag.COVERAGE_INACTIVE not in s.flags
    assert s.waiting_until is None  # no financial hold
    assert case.templates().count("eligibility_unavailable") == 1
    assert "coverage_inactive" not in case.templates()
    case.later(hours=3)
    assert case.commands() == []
    case.later(hours=1)
    [again] = case.commands()
    assert again.kind is CommandKind.CHECK_ELIGIBILITY and again.seq > check.seq

    case.engine.eligibility_failed(retryable=True, now=case.now)  # still down
    assert case.templates().count("eligibility_unavailable") == 1  # told once
    case.later(hours=4)
    case.eligible()
    assert Flag.ELIGIBILITY_UNAVAILABLE not in case.state.flags
    assert case.state.phase is CarePhase.AUTHORIZATION
    assert case.state.eligibility_retry_at is None


def test_a_payer_refusing_the_member_data_goes_to_financial_counseling() -> None:
    case = Case.new()
    case.assess()
    case.commands()
    case.engine.eligibility_failed(retryable=False, now=case.now)
    assert case.state.phase is CarePhase.FINANCIAL_COUNSELING
    assert Flag.COVERAGE_INACTIVE in case.state.flags
    assert Flag.ELIGIBILITY_UNAVAILABLE not in case.state.flags


def test_self_pay_during_an_outage_ends_the_retries() -> None:
    case = Case.new()
    case.assess()
    case.commands()
    case.engine.eligibility_failed(retryable=True, now=case.now)
    case.coverage(self_pay=True)
    assert case.state.phase is CarePhase.IN_TREATMENT
    assert Flag.ELIGIBILITY_UNAVAILABLE not in case.state.flags
    case.later(hours=5)
    assert case.commands() == []


# ---------------------------- issue 14, item 14: pending requests and Part 2 consent


def _part2_held() -> Case:
    case = Case.new(policy=ProgramPolicy(part2_program=True), payer_disclosure=False)
    case.assess()
    assert case.eligible() == []  # nothing disclosed
    return case


def test_a_request_held_for_part2_consent_has_no_payer_deadline() -> None:
    case = _part2_held()
    held = case.state.pending_payer
    assert held is not None and held.reference == "held-for-consent"
    assert held.decision_due_at is None
    case.later(days=10)
    assert Flag.PAYER_OVERDUE not in case.state.flags
    assert Flag.DISCLOSURE_CONSENT_MISSING in case.state.flags


def test_consent_recorded_later_sends_the_held_request() -> None:
    case = _part2_held()

    answer = case.event(EpisodeEventKind.PAYER_DISCLOSURE_CONSENTED)

    assert answer.phase is CarePhase.AUTHORIZATION
    assert Flag.DISCLOSURE_CONSENT_MISSING not in case.state.flags
    [request] = case.commands()
    assert request.kind is CommandKind.REQUEST_AUTHORIZATION and request.level is LevelOfCare.IOP
    case.payer(request)
    pending = case.state.pending_payer
    assert pending is not None and pending.decision_due_at is not None
    assert case.engine.payer_consent()
    assert any(t.event.value == "disclosure_consent_recorded" for t in case.state.transitions)


def test_discharge_with_a_payer_request_pending_tells_ur_to_withdraw_it() -> None:
    case = Case.new()
    _stepping_up(case)
    [request] = case.commands()
    case.payer(request)

    case.decide(DecisionAction.DISCHARGE, override_reason="safety plan reviewed, stable")

    withdraw = [n for n in case.state.notifications if n.template == "payer_request_withdraw"]
    assert [n.recipient.value for n in withdraw] == ["utilization_review"]
    assert withdraw[0].params["reference"] == f"SBX-{request.seq}"
    assert case.state.pending_payer is None


def test_withdrawal_while_the_first_request_is_out_tells_ur_too() -> None:
    case = Case.new()
    case.assess()
    case.eligible()
    case.event(EpisodeEventKind.WITHDRAWN)
    assert "payer_request_withdraw" in case.templates()


def test_discharge_with_nothing_pending_sends_no_withdrawal() -> None:
    case = Case.new()
    case.enrolled()
    case.decide(DecisionAction.DISCHARGE)
    assert "payer_request_withdraw" not in case.templates()


# ---------------------------------------------- issue 14, item 12: units forecast


def test_the_extension_is_asked_for_when_the_forecast_would_run_below_the_threshold() -> None:
    case = Case.new()
    case.enrolled(units=10)
    case.later(days=6)

    case.review(12, units=4)  # 6 left, 4 more expected before the next review

    [extension] = case.commands()
    assert extension.payer_kind is PayerRequestKind.CONCURRENT_REVIEW
    assert Flag.AUTHORIZATION_LOW in case.state.flags


def test_no_extension_yet_when_the_forecast_leaves_enough() -> None:
    case = Case.new()
    case.enrolled(units=20)
    case.later(days=6)
    case.review(12, units=4)  # 16 left, 4 expected: 12 > 3
    assert case.commands() == []


def test_using_more_units_than_approved_raises_units_exhausted_and_counts_the_rest() -> None:
    case = Case.new()
    case.enrolled(units=20)
    for units in (9, 9, 7):
        case.later(days=6)
        case.review(12, units=units)
        case.commands()

    s = case.state
    assert Flag.UNITS_EXHAUSTED in s.flags
    view = case.engine.view(case.now).authorization
    assert view is not None
    assert (view.units_used, view.units_left, view.units_uncovered) == (25, 0, 5)
    assert case.templates().count("units_exhausted") == 2  # UR and the care team, once


def test_units_attended_after_the_end_date_are_marked_unauthorized() -> None:
    case = Case.new()
    case.enrolled(units=20, days=10)
    case.later(days=14)  # four days past the end date

    case.review(12, units=7)

    a = case.state.authorization
    assert a is not None
    assert (a.units_used, a.units_unauthorized) == (3, 4)
    assert "units_unauthorized" in case.templates()
    assert Flag.AUTHORIZATION_EXPIRED in case.state.flags


# ------------------------------------------- issue 14, item 13: denials and appeals


def _denial(reason: str = "medical necessity not met") -> AuthorizationDecision:
    return AuthorizationDecision(
        decision_id=next_id("deny"),
        recorded_by="ur-1",
        kind=AuthorizationKind.DENIED,
        reason=reason,
    )


def _appeal(kind: AuthorizationKind, case: Case, **kw: object) -> AuthorizationDecision:
    if kind is AuthorizationKind.APPEAL_APPROVED:
        return case.approval(kind=kind, **kw)  # type: ignore[arg-type]
    reason = "upheld" if kind is AuthorizationKind.APPEAL_UPHELD else None
    return AuthorizationDecision(
        decision_id=next_id("appeal"), recorded_by="ur-1", kind=kind, reason=reason, **kw
    )


def _initial_denial() -> Case:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    case.payer(request)
    case.record(_denial())
    assert case.state.phase is CarePhase.APPEAL
    return case


def test_a_filed_appeal_stops_the_window_and_starts_its_own_decision_deadline() -> None:
    case = _initial_denial()
    window = case.state.appeal_deadline
    assert window is not None

    case.record(_appeal(AuthorizationKind.APPEAL_FILED, case))

    s = case.state
    assert s.appeal_deadline is None and s.appeal is not None
    assert s.appeal.decision_due_at == case.now + timedelta(days=30)
    assert Flag.APPEAL_OPEN in s.flags
    case.later(days=29)
    assert s.phase is CarePhase.APPEAL and Flag.PAYER_OVERDUE not in s.flags
    case.later(days=40)  # past the old 60-day window: the filed appeal keeps it open
    assert s.phase is CarePhase.APPEAL
    assert Flag.PAYER_OVERDUE in s.flags
    assert "appeal_decision_overdue" in case.templates()

    case.record(_appeal(AuthorizationKind.APPEAL_APPROVED, case))
    assert s.phase is CarePhase.IN_TREATMENT and s.delivered_level is LevelOfCare.IOP
    assert s.appeal is None and Flag.APPEAL_OPEN not in s.flags


def test_an_expedited_appeal_is_due_in_72_hours_and_a_second_filing_is_refused() -> None:
    case = _initial_denial()
    case.record(_appeal(AuthorizationKind.APPEAL_FILED, case, expedited=True))
    assert case.state.appeal is not None
    assert case.state.appeal.decision_due_at == case.now + timedelta(hours=72)
    with pytest.raises(InvalidSubmission, match="already filed"):
        case.record(_appeal(AuthorizationKind.APPEAL_FILED, case))


def test_an_unappealed_initial_denial_still_closes_when_the_window_ends() -> None:
    case = _initial_denial()
    case.later(days=61)
    assert case.state.phase is CarePhase.CLOSED


def _extension_denied() -> Case:
    case = Case.new()
    case.enrolled(units=10)
    case.later(days=6)
    case.review(12, units=4)
    [extension] = case.commands()
    case.payer(extension)
    case.record(_denial())
    assert case.state.phase is CarePhase.IN_TREATMENT
    return case


def test_an_extension_denial_can_be_appealed_and_its_outcome_recorded() -> None:
    case = _extension_denied()
    assert Flag.APPEAL_OPEN in case.state.flags and case.state.appeal is not None

    case.record(_appeal(AuthorizationKind.APPEAL_FILED, case))
    case.record(_appeal(AuthorizationKind.APPEAL_APPROVED, case, units=12))

    a = case.state.authorization
    assert a is not None and a.units_approved == 12 and a.status.value == "appeal_approved"
    assert case.state.appeal is None and Flag.APPEAL_OPEN not in case.state.flags
    assert case.state.delivered_level is LevelOfCare.IOP


def test_a_second_denial_does_not_silently_open_a_fresh_window() -> None:
    case = _extension_denied()
    window = case.state.appeal_deadline
    with pytest.raises(InvalidSubmission, match="open for appeal"):
        case.record(_denial("again"))
    assert case.state.appeal_deadline == window


def test_an_upheld_extension_appeal_leaves_the_patient_in_treatment() -> None:
    case = _extension_denied()
    case.record(_appeal(AuthorizationKind.APPEAL_FILED, case))
    case.record(_appeal(AuthorizationKind.APPEAL_UPHELD, case))
    assert case.state.phase is CarePhase.IN_TREATMENT
    assert case.state.appeal is None and Flag.APPEAL_OPEN not in case.state.flags


def test_a_level_change_denial_is_appealable_and_an_approved_appeal_moves_the_patient() -> None:
    case = Case.new()
    _stepping_up(case)
    [request] = case.commands()
    case.payer(request)
    case.record(_denial())
    assert case.state.appeal is not None and case.state.appeal.level is LevelOfCare.PHP

    case.record(_appeal(AuthorizationKind.APPEAL_APPROVED, case, units=10))

    assert case.state.delivered_level is case.state.authorized_level is LevelOfCare.PHP


def test_after_an_iop_denial_the_clinician_can_enroll_at_op_and_the_appeal_goes_on() -> None:
    case = _initial_denial()

    answer = case.decide(DecisionAction.STEP_DOWN, LevelOfCare.OP)

    s = case.state
    assert answer.phase is CarePhase.IN_TREATMENT and s.delivered_level is LevelOfCare.OP
    assert s.appeal is not None and Flag.APPEAL_OPEN in s.flags
    case.record(_appeal(AuthorizationKind.APPEAL_APPROVED, case, level=LevelOfCare.IOP))
    assert s.delivered_level is LevelOfCare.IOP


def test_self_pay_while_the_authorization_is_pending_enrolls_and_withdraws_the_request() -> None:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    case.payer(request)

    answer = case.coverage(self_pay=True)

    assert answer.phase is CarePhase.IN_TREATMENT
    assert case.state.pending_payer is None
    assert "payer_request_withdraw" in case.templates()


def test_self_pay_in_treatment_ends_the_watch_on_units_and_lets_a_step_up_go_ahead() -> None:
    case = Case.new()
    _stepping_up(case)
    [request] = case.commands()
    case.payer(request)

    case.coverage(self_pay=True)

    s = case.state
    assert s.phase is CarePhase.IN_TREATMENT and s.delivered_level is LevelOfCare.PHP
    assert s.authorization is None and s.pending_payer is None
    case.later(days=40)
    assert Flag.AUTHORIZATION_EXPIRED not in s.flags


def test_new_coverage_in_treatment_is_checked_and_authorized_without_leaving_treatment() -> None:
    case = Case.new()
    case.enrolled()

    answer = case.coverage(member_id="M-NEW")

    assert answer.phase is CarePhase.IN_TREATMENT
    [request] = case.eligible()  # the new payer needs authorization for IOP
    assert case.state.phase is CarePhase.IN_TREATMENT
    assert request.level is LevelOfCare.IOP and case.state.authorization is None
    case.payer(request)
    case.record(case.approval(units=15, authorization_number="AUTH-NEW"))
    a = case.state.authorization
    assert a is not None and a.authorization_number == "AUTH-NEW"


def test_new_coverage_while_the_authorization_is_pending_goes_back_to_verification() -> None:
    case = Case.new()
    case.assess()
    [request] = case.eligible()
    case.payer(request)

    answer = case.coverage(member_id="M-NEW")

    assert answer.phase is CarePhase.INSURANCE_VERIFICATION
    assert "payer_request_withdraw" in case.templates()
    [check] = case.commands()
    assert check.kind is CommandKind.CHECK_ELIGIBILITY


# ------------------------------------- issue 14, item 11: extensions decided in time


def _due_in(case: Case) -> timedelta:
    p = case.state.pending_payer
    assert p is not None and p.decision_due_at is not None
    return p.decision_due_at - p.submitted_at


@pytest.mark.parametrize(
    ("plan", "standard", "expedited"),
    [
        (PlanType.COMMERCIAL, timedelta(days=15), timedelta(hours=72)),
        (PlanType.MEDICARE_ADVANTAGE, timedelta(days=7), timedelta(hours=72)),
        (PlanType.MEDICAID, timedelta(days=7), timedelta(hours=72)),
        (None, timedelta(days=7), timedelta(hours=72)),  # the program's own
    ],
)
def test_decision_deadlines_follow_the_coverage_type(
    plan: PlanType | None, standard: timedelta, expedited: timedelta
) -> None:
    case = Case.new(plan_type=plan)
    case.assess()
    [request] = case.eligible()
    case.payer(request)
    assert _due_in(case) == standard

    up = Case.new(plan_type=plan)
    _stepping_up(up)  # risk open: expedited
    [request] = up.commands()
    up.payer(request)
    assert _due_in(up) == expedited


def test_an_extension_filed_a_day_or_more_before_expiry_is_urgent_concurrent() -> None:
    case = Case.new(plan_type=PlanType.COMMERCIAL)
    case.enrolled(units=10)
    case.later(days=6)
    case.review(12, units=4)
    [extension] = case.commands()

    assert extension.urgent_concurrent and not extension.expedited
    case.payer(extension)
    assert _due_in(case) == timedelta(hours=24)
    pending = case.state.pending_payer
    assert pending is not None and pending.urgent_concurrent


def test_an_extension_filed_within_a_day_of_expiry_is_expedited() -> None:
    case = Case.new(plan_type=PlanType.COMMERCIAL)
    case.enrolled(units=20, days=0)  # approved through today: lapses at midnight
    case.later(minutes=1)

    [extension] = case.commands()

    assert extension.expedited and not extension.urgent_concurrent
    case.payer(extension)
    assert _due_in(case) == timedelta(hours=72)


def test_the_payers_next_review_date_times_the_extension() -> None:
    case = Case.new(plan_type=PlanType.COMMERCIAL)
    case.assess()
    [request] = case.eligible()
    case.payer(request)
    next_review = case.now.date() + timedelta(days=14)
    case.record(case.approval(units=60, days=60, next_review_date=next_review))
    a = case.state.authorization
    assert a is not None and a.next_review_date == next_review

    case.later(days=10)
    assert a.concurrent_review_requested_at is None
    case.later(days=1)  # three days before the payer's review date, not the end date
    assert a.concurrent_review_requested_at is not None
    [extension] = [c for c in case.commands() if c.payer_kind is PayerRequestKind.CONCURRENT_REVIEW]
    assert extension.urgent_concurrent


def test_a_policy_whose_warning_is_shorter_than_the_decision_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="expiry_warning_days"):
        ProgramPolicy(expiry_warning_days=1)  # Medicare Advantage decides in 72 h
    ProgramPolicy(
        expiry_warning_days=1,
        payer_decision_clocks={
            PlanType.COMMERCIAL: DecisionClock(
                standard_hours=360, expedited_hours=72, urgent_concurrent_hours=24
            )
        },
    )


# --------------------------------------- issue 14, item 17: adolescents turning 18


def test_an_adolescent_turning_18_gets_the_adult_minimum_and_the_care_team_is_told() -> None:
    birthday = T0.date() + timedelta(days=10)
    case = Case.new(age_group=AgeGroup.ADOLESCENT, adult_on=birthday)
    case.enrolled()
    case.later(days=6)
    before = case.review(12, hours=7)  # the adolescent IOP minimum is 6 h
    assert "attendance_below_minimum" not in before.reasons
    assert case.engine.view(case.now).age_group is AgeGroup.ADOLESCENT

    case.later(days=6)  # past the birthday
    assert case.engine.age_group() is AgeGroup.ADULT
    told = [n for n in case.state.notifications if n.template == "age_group_changed"]
    assert [(n.recipient.value, n.params) for n in told] == [("care_team", {"age_group": "adult"})]
    after = case.review(12, hours=7)  # now below the adult 9 h
    assert "attendance_below_minimum" in after.reasons


def test_adult_on_is_refused_for_an_adult_episode() -> None:
    with pytest.raises(ValidationError, match="adult_on"):
        Case.new(age_group=AgeGroup.ADULT, adult_on=T0.date())
