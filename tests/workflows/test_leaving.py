"""Path 8: withdrawal at any phase → against advice, aftercare offered; error → closed.

Engine scenarios with the workflow's loop played by hand (tests/workflows/engine_loop.py).
"""

from __future__ import annotations

import pytest

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, TransitionNotAllowed
from schemas.submissions import EpisodeEventKind
from tests.workflows.engine_loop import LoopCase


@pytest.mark.parametrize("stage", ["assessment", "authorization", "in_treatment"])
def test_withdrawal_discharges_against_advice_with_aftercare(stage: str) -> None:
    case = LoopCase.admit()
    if stage != "assessment":
        case.assess(LevelOfCare.IOP)
        case.wait(hours=1)
    if stage == "in_treatment":
        case.approve()
    assert case.view().phase.value == stage

    left = case.event(EpisodeEventKind.WITHDRAWN)
    assert left.phase is CarePhase.AFTERCARE
    case.wait(hours=1)
    assert "aftercare_offered" in case.sent("care_team")
    case.wait(days=91)
    assert case.outcome == "against_advice"
    assert case.view().aftercare_checkins_done == 4


def test_entered_in_error_closes_without_aftercare() -> None:
    case = LoopCase.admit()
    case.enrolled()
    closed = case.event(EpisodeEventKind.ENTERED_IN_ERROR)
    assert closed.phase is CarePhase.CLOSED
    assert case.outcome == "entered_in_error"
    case.wait(days=91)
    assert "aftercare_checkin" not in case.sent()


def test_nothing_is_allowed_after_close() -> None:
    case = LoopCase.admit()
    case.event(EpisodeEventKind.ENTERED_IN_ERROR)
    assert case.outcome == "entered_in_error"
    with pytest.raises(TransitionNotAllowed):
        case.event(EpisodeEventKind.WITHDRAWN)
    assert case.view().phase is CarePhase.CLOSED
