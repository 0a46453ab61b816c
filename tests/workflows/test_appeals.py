"""The payer's and the age rules' deadlines: a filed appeal keeps a denied episode open past
the window; an adolescent becomes an adult on the day.

Engine scenarios with the workflow's loop played by hand (tests/workflows/engine_loop.py).
"""

from __future__ import annotations

from datetime import timedelta

from rules.levels import AgeGroup, LevelOfCare
from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.submissions import AuthorizationDecision, AuthorizationKind
from tests.workflows.engine_cases import T0, next_id
from tests.workflows.engine_loop import LoopCase


def test_a_filed_appeal_outlives_the_window_and_is_chased_when_late() -> None:
    case = LoopCase.admit(member_id="DENY-7")
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    assert case.view().phase is CarePhase.APPEAL

    filed = case.record(
        AuthorizationDecision(
            decision_id=next_id("auth"), recorded_by="ur-1", kind=AuthorizationKind.APPEAL_FILED
        )
    )
    assert filed.phase is CarePhase.APPEAL
    case.wait(days=61)  # the 60-day window would have closed the episode

    state = case.view()
    assert state.phase is CarePhase.APPEAL
    assert state.appeal is not None and state.appeal.escalated
    assert Flag.PAYER_OVERDUE in state.flags
    assert "appeal_decision_overdue" in case.sent("supervisor")
    enrolled = case.approve_appeal()
    assert enrolled.phase is CarePhase.IN_TREATMENT


def test_an_adolescent_becomes_an_adult_on_the_birthday() -> None:
    case = LoopCase.admit(
        member_id="NOAUTH-18",
        age_group=AgeGroup.ADOLESCENT,
        adult_on=T0.date() + timedelta(days=3),
    )
    case.assess(LevelOfCare.IOP)
    case.wait(hours=1)
    assert case.view().age_group is AgeGroup.ADOLESCENT
    case.wait(days=3)
    assert case.view().age_group is AgeGroup.ADULT
    assert "age_group_changed" in case.sent("care_team")
