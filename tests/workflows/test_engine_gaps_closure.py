"""Issue 14 item 6 (engine V3): a closure the engine makes sets up the referral: a
`referral` record in the timeline, a care-team task, and the patient hears from the team."""

from __future__ import annotations

from datetime import timedelta

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.records import Recipient, Urgency
from schemas.submissions import EpisodeEventKind
from tests.workflows.safety_cases import (
    NOW,
    assess,
    enrolled,
    event,
    new_engine,
    run_timers,
    sent,
)
from workflows.engine import EpisodeEngine
from workflows.state import ENGINE_V2, ENGINE_V3

L = LevelOfCare


def _referrals(engine: EpisodeEngine) -> list[tuple[str | None, list[str]]]:
    return [(r.decision, r.reasons) for r in engine.state.reviews if r.kind == "referral"]


def test_a_financial_hold_that_expires_refers_the_patient_to_care_elsewhere() -> None:
    engine = new_engine(coverage=False, version=ENGINE_V3)
    assess(engine)
    assert engine.state.phase is CarePhase.FINANCIAL_COUNSELING
    engine.state.notifications.clear()
    run_timers(engine, NOW + timedelta(days=31))
    assert engine.state.phase is CarePhase.CLOSED
    assert _referrals(engine) == [("refer_to_community_care", ["financial_hold_expired"])]
    [task] = sent(engine, "referral_needed", Recipient.CARE_TEAM)
    assert task.urgency is Urgency.ROUTINE
    assert task.params == {
        "reason": "financial_hold_expired",
        "next_step": "refer_to_community_care",
        "referral_id": "referral-financial_hold_expired",
    }
    assert sent(engine, "new_message", Recipient.PATIENT), "the patient hears from the team"
    assert not sent(engine, "referral_needed", Recipient.SUPERVISOR)


def test_with_the_risk_flag_open_the_referral_is_a_safety_follow_up_and_urgent() -> None:
    engine = new_engine(coverage=False, version=ENGINE_V3)
    assess(engine, item9=1)
    run_timers(engine, NOW + timedelta(days=31))
    assert engine.state.phase is CarePhase.CLOSED
    assert _referrals(engine) == [
        ("refer_for_safety_follow_up", ["financial_hold_expired", "risk_open"])
    ]
    for who in (Recipient.CARE_TEAM, Recipient.SUPERVISOR):
        [task] = sent(engine, "referral_needed", who)
        assert task.urgency is Urgency.URGENT


def test_a_referral_that_never_returned_is_followed_up() -> None:
    engine = new_engine(version=ENGINE_V3)
    assess(engine, L.INPATIENT)
    assert engine.state.phase is CarePhase.EXTERNAL_CARE
    run_timers(engine, NOW + timedelta(days=91))
    assert engine.state.phase is CarePhase.CLOSED
    assert _referrals(engine) == [("confirm_external_care", [Event.EXTERNAL_WAIT_EXPIRED.value])]


def test_aftercare_completed_without_risk_needs_no_referral() -> None:
    engine = enrolled(version=ENGINE_V3)
    event(engine, EpisodeEventKind.WITHDRAWN)
    run_timers(engine, NOW + timedelta(days=400))
    assert engine.state.phase is CarePhase.CLOSED
    assert _referrals(engine) == []
    assert not sent(engine, "referral_needed")


def test_v2_runs_keep_their_closure_messages() -> None:
    engine = new_engine(coverage=False, version=ENGINE_V2)
    assess(engine)
    run_timers(engine, NOW + timedelta(days=31))
    assert engine.state.phase is CarePhase.CLOSED
    assert _referrals(engine) == [] and not sent(engine, "referral_needed")
    assert sent(engine, "episode_closed", Recipient.CARE_TEAM)
