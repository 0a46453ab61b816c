"""Issue 14 item 10: an authorization approval alone is not the follow-up visit (HEDIS FUH)."""

from __future__ import annotations

from rules.levels import LevelOfCare
from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.submissions import EpisodeEventKind
from tests.workflows.engine_cases import Case

L = LevelOfCare


def _back_from_inpatient_waiting_on_the_payer() -> Case:
    """Admitted, discharged to IOP (which needs an authorization): the FUH clock runs."""
    case = Case.new()
    case.assess(L.INPATIENT)
    case.event(EpisodeEventKind.ADMITTED)
    case.event(EpisodeEventKind.DISCHARGED, level_at_discharge=L.IOP)
    assert case.state.followup is not None
    assert Flag.FOLLOWUP_DUE in case.state.flags
    return case


def test_an_authorization_approval_alone_is_not_counted_as_the_visit() -> None:
    case = _back_from_inpatient_waiting_on_the_payer()
    [request] = case.commands()
    case.later(days=1)
    case.payer(request)
    decision = case.record(case.approval(units=20, level=L.IOP))
    assert decision.phase is CarePhase.IN_TREATMENT and case.state.delivered_level is L.IOP
    clock = case.state.followup
    assert clock is not None and clock.met_7 is None and clock.met_30 is None
    assert Flag.FOLLOWUP_DUE in case.state.flags, "an approval is not a visit"

    case.later(days=8)  # no visit recorded: the 7-day window is missed, not met
    assert Flag.FOLLOWUP_MISSED in case.state.flags
    assert [
        n.params.get("window_days")
        for n in case.state.notifications
        if n.template == "followup_missed"
    ] == ["7"]


def test_the_visit_after_the_approval_counts() -> None:
    case = _back_from_inpatient_waiting_on_the_payer()
    [request] = case.commands()
    case.later(days=1)
    case.payer(request)
    case.record(case.approval(units=20, level=L.IOP))
    case.later(days=1)
    decision = case.event(
        EpisodeEventKind.FOLLOWUP_VISIT, visit_date=case.now.date(), visit_kind="iop"
    )
    assert decision.reasons == ["followup_7_day_met", "followup_30_day_met"]
    assert Flag.FOLLOWUP_DUE not in case.state.flags
