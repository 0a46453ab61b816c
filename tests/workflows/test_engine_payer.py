"""Payer and utilization-management rules on the engine alone (no Temporal)."""

from __future__ import annotations

from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.payer import PayerRequestKind, PayerStatus
from tests.workflows.engine_cases import Case
from workflows.state import CommandKind

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
