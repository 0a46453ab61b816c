"""Path 5: inactive coverage, denial and appeal, units running low, a silent payer.

Engine scenarios with the workflow's loop played by hand (tests/workflows/engine_loop.py):
the sandbox payer answers by member ID, effects go to the in-memory store (and its outbox).
"""

from __future__ import annotations

import pytest

from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.recommendation import Flag
from rules.transitions import CarePhase, TransitionNotAllowed
from tests.workflows.engine_loop import LoopCase
from workflows.engine import InvalidSubmission


def test_inactive_coverage_goes_to_financial_counseling_then_self_pay() -> None:
    case = LoopCase.admit(member_id="INACTIVE-001")
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    state = case.view()
    assert state.phase is CarePhase.FINANCIAL_COUNSELING
    assert Flag.COVERAGE_INACTIVE in state.flags
    assert "coverage_inactive" in case.sent("financial_counseling")

    enrolled = case.coverage(self_pay=True)
    assert enrolled.phase is CarePhase.IN_TREATMENT
    assert enrolled.delivered_level is LevelOfCare.IOP
    assert Flag.COVERAGE_INACTIVE not in enrolled.flags


def test_updated_coverage_is_checked_again() -> None:
    case = LoopCase.admit(member_id="INACTIVE-002")
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    case.coverage(member_id="NOAUTH-777")
    case.wait(hours=1)
    state = case.view()
    assert state.phase is CarePhase.IN_TREATMENT
    assert case.adapters.payer.eligibility_calls == 2
    assert state.authorized_level is None  # no authorization was needed


def test_financial_hold_closes_when_nothing_changes() -> None:
    case = LoopCase.admit(coverage=False)
    case.assess(LevelOfCare.IOP)
    case.wait(days=31)
    assert case.outcome == "coverage_unresolved"


def test_denial_opens_appeal_window_with_deadline() -> None:
    case = LoopCase.admit(member_id="DENY-100")
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    state = case.view()
    assert state.phase is CarePhase.APPEAL
    assert state.appeal_deadline is not None
    assert (state.appeal_deadline - state.updated_at).days == 60
    assert Flag.APPEAL_OPEN in state.flags
    assert "auth_denied" in case.sent("care_team")

    won = case.approve_appeal()
    assert won.phase is CarePhase.IN_TREATMENT


def test_appeal_window_closing_ends_the_episode() -> None:
    case = LoopCase.admit(member_id="DENY-200")
    case.assess(LevelOfCare.IOP)
    case.wait(days=61)
    assert case.outcome == "authorization_denied"


def test_low_units_send_a_concurrent_review_before_they_run_out() -> None:
    case = LoopCase.admit()
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    case.approve(units=10, days=90)
    case.until_review()
    case.review(14, units=3)
    assert case.adapters.payer.authorization_calls == 1  # 7 left, 3 expected: enough
    case.until_review()
    # 6 used: 4 left, but 3 more expected before the next review: 1, under the line.
    low = case.review(13, units=3)
    assert Flag.AUTHORIZATION_LOW in low.flags
    case.wait(hours=1)
    state = case.view()
    assert state.pending_payer_request is not None
    assert state.pending_payer_request.kind == "concurrent_review"
    assert case.adapters.payer.authorization_calls == 2

    extended = case.approve(units=12, days=60)
    assert Flag.AUTHORIZATION_LOW not in extended.flags
    state = case.view()
    assert state.authorization is not None and state.authorization.units_left == 12


def test_expiry_within_three_days_requests_review_by_timer() -> None:
    case = LoopCase.admit()
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    case.approve(units=40, days=10)
    case.wait(days=8)
    state = case.view()
    assert state.pending_payer_request is not None
    assert state.pending_payer_request.kind == "concurrent_review"
    assert state.authorization is not None
    assert state.authorization.units_left == 40  # it was the date, not the units


def test_silent_payer_past_its_deadline_is_escalated() -> None:
    case = LoopCase.admit(member_id="SILENT-9")
    case.assess(LevelOfCare.IOP)
    case.wait(days=6)
    assert Flag.PAYER_OVERDUE not in case.view().flags
    case.wait(days=2)
    state = case.view()
    assert Flag.PAYER_OVERDUE in state.flags
    assert "payer_decision_overdue" in case.sent("supervisor")


def test_payer_that_approves_at_once_enrolls_without_staff() -> None:
    case = LoopCase.admit(member_id="APPROVE-5")
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    state = case.view()
    assert state.phase is CarePhase.IN_TREATMENT
    assert state.authorization is not None
    assert state.authorization.units_approved == 20


def test_payer_rejecting_the_member_id_is_not_retried() -> None:
    case = LoopCase.admit(member_id="BADDATA-1")
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    assert case.view().phase is CarePhase.FINANCIAL_COUNSELING
    case.wait(days=2)
    assert case.adapters.payer.eligibility_calls == 1


def test_approval_for_the_wrong_level_is_refused() -> None:
    case = LoopCase.admit()
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    with pytest.raises(InvalidSubmission):
        case.approve(level=LevelOfCare.PHP)
    assert case.view().phase is CarePhase.AUTHORIZATION
    with pytest.raises((InvalidSubmission, TransitionNotAllowed)):
        case.approve_appeal()  # no appeal is open
    assert case.view().phase is CarePhase.AUTHORIZATION


def test_part2_program_holds_payer_requests_without_consent() -> None:
    case = LoopCase.admit(policy=ProgramPolicy(part2_program=True), payer_disclosure_consent=False)
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    state = case.view()
    assert state.phase is CarePhase.AUTHORIZATION
    assert case.adapters.payer.authorization_calls == 0  # nothing disclosed
    assert Flag.DISCLOSURE_CONSENT_MISSING in state.flags
    assert state.pending_payer_request is not None
    assert state.pending_payer_request.reference == "held-for-consent"
    assert "payer_disclosure_consent_missing" in case.sent("utilization_review")
    enrolled = case.approve()
    assert Flag.DISCLOSURE_CONSENT_MISSING not in enrolled.flags
