"""Issue 12's safety net, as plain engine cases: the urgent risk alert must be acknowledged
by a care-team member (who, when, what was done); unacknowledged, it escalates to the
supervisor after the policy's window (default 1 hour), then again; the acknowledgement
stops that ladder but never clears the flag, which only a safety assessment does."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import ValidationError

from rules.policy import ProgramPolicy
from rules.recommendation import Flag
from rules.transitions import Action, Event
from schemas.records import Recipient, Urgency
from schemas.submissions import AlertAcknowledgement, AlertResponse, EpisodeEventKind
from schemas.view import EngineDecision
from tests.workflows.safety_cases import ASSESSED, NOW, enrolled, event, review, run_timers, sent
from workflows.engine import EpisodeEngine
from workflows.engine_core import InvalidSubmission
from workflows.state import ENGINE_V2, ENGINE_V3

HOUR = timedelta(hours=1)


def acknowledge(
    engine: EpisodeEngine,
    at: datetime,
    *,
    ack_id: str = "ack-1",
    response: AlertResponse = AlertResponse.REACHED_PATIENT,
) -> EngineDecision:
    sub = AlertAcknowledgement(
        acknowledgement_id=ack_id, acknowledged_by="clin-7", response=response
    )
    engine.validate(Action.ACKNOWLEDGE_ALERT, sub)
    return engine.answer(Action.ACKNOWLEDGE_ALERT, sub, at)


def flagged(policy: ProgramPolicy | None = None) -> EpisodeEngine:
    engine = enrolled(policy, version=ENGINE_V3)
    review(engine, 12, item9=1)
    assert Flag.RISK in engine.state.flags
    return engine


def test_unacknowledged_the_alert_goes_to_the_supervisor_after_an_hour_then_again() -> None:
    engine = flagged()
    assert engine.next_wakeup() == NOW + HOUR
    fired = run_timers(engine, NOW + 3 * HOUR)
    assert fired == [NOW + HOUR, NOW + 2 * HOUR]
    first, second = sent(engine, "risk_alert_unacknowledged", Recipient.SUPERVISOR)
    assert first.urgency is Urgency.URGENT and first.params["step"] == "1"
    assert second.params["step"] == "2"
    [team] = sent(engine, "risk_alert_unacknowledged", Recipient.CARE_TEAM)
    assert team.params["step"] == "2"
    ladder = [t.event for t in engine.state.transitions if t.event.value.startswith("risk_alert")]
    assert ladder == [Event.RISK_ALERT_UNACKNOWLEDGED, Event.RISK_ALERT_UNACKNOWLEDGED_AGAIN]
    view = engine.view(NOW + 3 * HOUR).risk_alert
    assert view is not None and view.unacknowledged_escalations == 2
    assert view.acknowledged_at is None


def test_acknowledging_stops_its_ladder_records_who_and_what_and_keeps_the_flag() -> None:
    engine = flagged()
    at = NOW + timedelta(minutes=20)
    decision = acknowledge(engine, at, response=AlertResponse.SAFETY_PLAN_REVIEWED)
    assert Flag.RISK in decision.flags, "an acknowledgement is not a safety assessment"
    assert "risk_flag_open_until_safety_assessment" in decision.reasons
    run_timers(engine, NOW + 3 * HOUR)
    assert not sent(engine, "risk_alert_unacknowledged")
    [step] = [t for t in engine.state.transitions if t.event is Event.RISK_ALERT_ACKNOWLEDGED]
    assert (step.actor, step.at) == ("clin-7", at)
    [record] = [r for r in engine.state.reviews if r.kind == "alert_acknowledgement"]
    assert (record.clinician_id, record.decision) == ("clin-7", "safety_plan_reviewed")
    view = engine.view(at).risk_alert
    assert view is not None and (view.acknowledged_by, view.acknowledged_at) == ("clin-7", at)
    # The unassessed flag's own ladder (issue 14) still runs: acknowledging is not assessing.
    run_timers(engine, NOW + timedelta(hours=5))
    assert sent(engine, "risk_unassessed", Recipient.SUPERVISOR)


def test_a_late_acknowledgement_stops_the_second_step() -> None:
    engine = flagged()
    run_timers(engine, NOW + HOUR)
    acknowledge(engine, NOW + 90 * timedelta(minutes=1))
    run_timers(engine, NOW + 3 * HOUR)
    assert len(sent(engine, "risk_alert_unacknowledged")) == 1


def test_the_window_and_the_repeat_are_policy_numbers() -> None:
    engine = flagged(ProgramPolicy(risk_alert_ack_minutes=15, risk_alert_ack_repeat_minutes=30))
    fired = run_timers(engine, NOW + HOUR)
    assert fired[:2] == [NOW + timedelta(minutes=15), NOW + timedelta(minutes=45)]
    with pytest.raises(ValidationError, match="risk_alert_ack_minutes"):
        ProgramPolicy(risk_alert_ack_minutes=0)


def test_nothing_to_acknowledge_and_twice_are_refused_before_anything_changes() -> None:
    quiet = enrolled(version=ENGINE_V3)
    before = quiet.state.model_copy(deep=True)
    with pytest.raises(InvalidSubmission, match="nothing to acknowledge"):
        acknowledge(quiet, NOW)
    assert quiet.state == before
    engine = flagged()
    acknowledge(engine, NOW + HOUR / 2)
    with pytest.raises(InvalidSubmission, match="already acknowledged by 'clin-7'"):
        acknowledge(engine, NOW + HOUR, ack_id="ack-2")
    # The same acknowledgement again is a retry: the first answer, nothing new.
    again = acknowledge(engine, NOW + HOUR)
    assert again.duplicate or again.submission_id == "ack-1"
    assert (
        len([t for t in engine.state.transitions if t.event is Event.RISK_ALERT_ACKNOWLEDGED]) == 1
    )


def test_a_new_risk_after_an_assessment_needs_a_new_acknowledgement() -> None:
    engine = flagged()
    acknowledge(engine, NOW + HOUR / 2)
    event(engine, EpisodeEventKind.SAFETY_ASSESSMENT, safety_assessment=ASSESSED, at=NOW + HOUR)
    assert engine.view(NOW + HOUR).risk_alert is None
    later = NOW + timedelta(days=1)
    review(engine, 12, item9=2, at=later)
    assert engine.next_wakeup() == later + HOUR
    view = engine.view(later).risk_alert
    assert view is not None and view.acknowledged_at is None


def test_engine_v2_runs_keep_their_timers() -> None:
    engine = enrolled(version=ENGINE_V2)
    review(engine, 12, item9=1)
    assert engine.next_wakeup() == NOW + timedelta(hours=4)  # only the assessment ladder
