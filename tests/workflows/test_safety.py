"""Path 2: item 9 > 0 or a high-risk C-SSRS → urgent alert, risk flag, step-up advice.

Engine scenarios with the workflow's loop played by hand (tests/workflows/engine_loop.py).
"""

from __future__ import annotations

import pytest

from rules.levels import LevelOfCare
from rules.recommendation import Flag, RecommendedAction
from rules.transitions import CarePhase
from schemas.submissions import DecisionAction
from tests.workflows.engine_loop import LoopCase
from workflows.engine import InvalidSubmission

HIGH_RISK_CSSRS = [True, True, True, True, False, False]


def test_item9_on_review_raises_flag_alerts_and_recommends_step_up() -> None:
    case = LoopCase.admit()
    case.enrolled()
    case.until_review()
    decision = case.review(8, item9=1)

    assert decision.recommended_action is RecommendedAction.STEP_UP
    assert decision.target_level is LevelOfCare.PHP
    assert decision.urgent
    assert Flag.RISK in decision.flags
    assert "phq9_item9_positive" in decision.reasons
    case.wait(hours=1)
    alerts = [n for n in case.messages() if n.template == "safety_alert"]
    assert len(alerts) == 1
    assert alerts[0].urgency.value == "urgent"
    assert alerts[0].recipient.value == "care_team"
    assert case.view().flags.count(Flag.RISK) == 1


def test_continue_on_high_risk_review_needs_override_reason() -> None:
    case = LoopCase.admit()
    case.enrolled()
    case.until_review()
    case.review(12, cssrs=HIGH_RISK_CSSRS)

    with pytest.raises(InvalidSubmission, match="override_reason"):
        case.decide(DecisionAction.CONTINUE)
    assert Flag.RISK in case.view().flags

    accepted = case.decide(
        DecisionAction.CONTINUE, override_reason="C-SSRS full scale: low risk; safety plan"
    )
    assert accepted.phase is CarePhase.IN_TREATMENT
    assert Flag.RISK not in accepted.flags
    case.wait(hours=1)
    decisions = [
        r for b in case.adapters.store.batches.values() for r in b.reviews if r.kind == "decision"
    ]
    assert decisions[-1].override_reason == "C-SSRS full scale: low risk; safety plan"


def test_item9_at_intake_flags_but_still_enrolls() -> None:
    case = LoopCase.admit()
    decision = case.assess(LevelOfCare.IOP, total=15, item9=2)
    assert decision.urgent
    assert Flag.RISK in decision.flags
    assert decision.phase is CarePhase.INSURANCE_VERIFICATION
    case.wait(hours=1)
    assert "safety_alert" in case.sent("care_team")


def test_unassessed_risk_escalates_on_its_deadlines() -> None:
    """Issue 14 item 5: the ladder's deadlines fire in order."""
    case = LoopCase.admit()
    case.enrolled()
    case.until_review()
    case.review(10, item9=1)
    case.wait(hours=3)
    assert "risk_unassessed" not in case.sent("supervisor")
    case.wait(hours=2)
    supervisor = [
        n
        for n in case.messages()
        if n.template == "risk_unassessed" and n.recipient.value == "supervisor"
    ]
    assert len(supervisor) == 1 and supervisor[0].urgency.value == "urgent"
    case.wait(days=1)
    assert case.sent("care_team").count("risk_unassessed") == 1
    assert "risk_unassessed_escalated_to_supervisor" in case.reasons()
    assert "risk_unassessed_at_end_of_local_day" in case.reasons()

    case.decide(DecisionAction.CONTINUE, override_reason="C-SSRS full scale: low risk; safety plan")
    assert Flag.RISK not in case.view().flags
