"""The transition table: reachability, the closed end, actions per phase, error messages."""

from __future__ import annotations

import pytest

from rules.transitions import (
    ACTION_EVENTS,
    TERMINAL_PHASES,
    TRANSITIONS,
    Action,
    CarePhase,
    Event,
    Transition,
    TransitionNotAllowed,
    allowed_actions,
    allowed_events,
    require_action,
    transition,
)

P = CarePhase
E = Event
OPEN_PHASES = [p for p in CarePhase if p is not P.CLOSED]


def _reachable_from(start: CarePhase) -> set[CarePhase]:
    seen = {start}
    frontier = [start]
    while frontier:
        here = frontier.pop()
        for (phase, _), step in TRANSITIONS.items():
            if phase == here and step.to not in seen:
                seen.add(step.to)
                frontier.append(step.to)
    return seen


def test_every_phase_is_reachable_from_referral() -> None:
    assert _reachable_from(P.REFERRAL) == set(CarePhase)


@pytest.mark.parametrize("phase", OPEN_PHASES)
def test_every_open_phase_can_reach_closed(phase: CarePhase) -> None:
    assert P.CLOSED in _reachable_from(phase)


def test_closed_is_the_only_terminal_phase_and_has_no_way_out() -> None:
    assert frozenset({P.CLOSED}) == TERMINAL_PHASES
    assert not [key for key in TRANSITIONS if key[0] is P.CLOSED]
    assert allowed_actions(P.CLOSED) == []


@pytest.mark.parametrize("event", list(Event))
def test_closed_rejects_every_event_and_says_none_is_allowed(event: Event) -> None:
    with pytest.raises(TransitionNotAllowed) as raised:
        transition(P.CLOSED, event)
    assert raised.value.allowed == []
    assert "allowed: none" in str(raised.value)


def test_every_event_is_used_somewhere_in_the_table() -> None:
    used = {event for (_, event) in TRANSITIONS}
    assert used == set(Event)


def test_no_event_belongs_to_two_actions() -> None:
    owners: dict[Event, list[Action]] = {}
    for action, events in ACTION_EVENTS.items():
        for event in events:
            owners.setdefault(event, []).append(action)
    assert all(len(actions) == 1 for actions in owners.values())


def test_engine_only_events_belong_to_no_action() -> None:
    owned = set().union(*ACTION_EVENTS.values())
    for engine_event in (
        E.REFERRAL_RECEIVED,
        E.COVERAGE_ACTIVE_AUTH_REQUIRED,
        E.COVERAGE_ACTIVE_NO_AUTH,
        E.COVERAGE_INACTIVE,
        E.APPEAL_WINDOW_CLOSED,
        E.FINANCIAL_HOLD_EXPIRED,
        E.EXTERNAL_WAIT_EXPIRED,
        E.AFTERCARE_COMPLETED,
        E.RISK_ALERT_UNACKNOWLEDGED,
        E.RISK_ALERT_UNACKNOWLEDGED_AGAIN,
    ):
        assert engine_event not in owned


@pytest.mark.parametrize(
    ("phase", "event", "expected"),
    [
        (P.REFERRAL, E.REFERRAL_RECEIVED, P.ASSESSMENT),
        (P.ASSESSMENT, E.ASSESSED_PROGRAM_LEVEL, P.INSURANCE_VERIFICATION),
        (P.ASSESSMENT, E.ASSESSED_EXTERNAL_AWAIT, P.EXTERNAL_CARE),
        (P.ASSESSMENT, E.ASSESSED_EXTERNAL_CLOSE, P.CLOSED),
        (P.INSURANCE_VERIFICATION, E.COVERAGE_ACTIVE_AUTH_REQUIRED, P.AUTHORIZATION),
        (P.INSURANCE_VERIFICATION, E.COVERAGE_ACTIVE_NO_AUTH, P.IN_TREATMENT),
        (P.INSURANCE_VERIFICATION, E.COVERAGE_INACTIVE, P.FINANCIAL_COUNSELING),
        (P.INSURANCE_VERIFICATION, E.SELF_PAY, P.IN_TREATMENT),
        (P.FINANCIAL_COUNSELING, E.COVERAGE_UPDATED, P.INSURANCE_VERIFICATION),
        (P.FINANCIAL_COUNSELING, E.SELF_PAY, P.IN_TREATMENT),
        (P.FINANCIAL_COUNSELING, E.FINANCIAL_HOLD_EXPIRED, P.CLOSED),
        (P.AUTHORIZATION, E.AUTH_APPROVED, P.IN_TREATMENT),
        (P.AUTHORIZATION, E.AUTH_DENIED, P.APPEAL),
        (P.AUTHORIZATION, E.AUTH_DENIED_RESUME, P.IN_TREATMENT),
        (P.APPEAL, E.APPEAL_APPROVED, P.IN_TREATMENT),
        (P.APPEAL, E.APPEAL_UPHELD, P.CLOSED),
        (P.APPEAL, E.APPEAL_WINDOW_CLOSED, P.CLOSED),
        (P.APPEAL, E.SELF_PAY, P.IN_TREATMENT),
        (P.IN_TREATMENT, E.REVIEW_RECORDED, P.IN_TREATMENT),
        (P.IN_TREATMENT, E.CONTINUE_LEVEL, P.IN_TREATMENT),
        (P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, P.IN_TREATMENT),
        (P.IN_TREATMENT, E.LEVEL_CHANGE_NEEDS_AUTH, P.AUTHORIZATION),  # engine V1 runs
        (P.IN_TREATMENT, E.LEVEL_CHANGE_REQUESTED, P.IN_TREATMENT),
        (P.IN_TREATMENT, E.LEVEL_CHANGE_APPROVED, P.IN_TREATMENT),
        (P.IN_TREATMENT, E.LEVEL_CHANGE_DENIED, P.IN_TREATMENT),
        (P.IN_TREATMENT, E.REFER_OUT, P.EXTERNAL_CARE),
        (P.IN_TREATMENT, E.DISCHARGE, P.AFTERCARE),
        (P.EXTERNAL_CARE, E.EXTERNAL_ADMITTED, P.EXTERNAL_CARE),
        (P.EXTERNAL_CARE, E.EXTERNAL_DISCHARGE_NEEDS_AUTH, P.AUTHORIZATION),
        (P.EXTERNAL_CARE, E.EXTERNAL_DISCHARGE_NO_AUTH, P.IN_TREATMENT),
        (P.EXTERNAL_CARE, E.EXTERNAL_DISCHARGE_HOME, P.AFTERCARE),
        (P.EXTERNAL_CARE, E.EXTERNAL_WAIT_EXPIRED, P.CLOSED),
        (P.AFTERCARE, E.AFTERCARE_COMPLETED, P.CLOSED),
    ],
)
def test_the_care_path_moves_as_the_clinic_runs_it(
    phase: CarePhase, event: Event, expected: CarePhase
) -> None:
    step = transition(phase, event)
    assert isinstance(step, Transition)
    assert step.to is expected
    assert step.reason  # every move carries a reason code for the record


def test_the_path_is_a_loop_treatment_to_external_and_back() -> None:
    phase = P.IN_TREATMENT
    for event in (
        E.REFER_OUT,
        E.EXTERNAL_ADMITTED,
        E.EXTERNAL_DISCHARGE_NEEDS_AUTH,
        E.AUTH_APPROVED,
    ):
        phase = transition(phase, event).to
    assert phase is P.IN_TREATMENT


@pytest.mark.parametrize("phase", [p for p in OPEN_PHASES if p is not P.AFTERCARE])
def test_withdrawal_from_any_open_phase_but_aftercare_goes_to_aftercare(phase: CarePhase) -> None:
    step = transition(phase, E.WITHDRAWN)
    assert step.to is P.AFTERCARE
    assert step.reason == "discharged_against_advice"


def test_withdrawal_is_not_accepted_in_aftercare() -> None:
    with pytest.raises(TransitionNotAllowed):
        transition(P.AFTERCARE, E.WITHDRAWN)


@pytest.mark.parametrize("phase", OPEN_PHASES)
def test_entered_in_error_closes_every_open_phase(phase: CarePhase) -> None:
    step = transition(phase, E.ENTERED_IN_ERROR)
    assert step.to is P.CLOSED
    assert step.reason == "entered_in_error"


def test_rejected_event_names_the_phase_the_attempt_and_the_allowed_events() -> None:
    with pytest.raises(TransitionNotAllowed) as raised:
        transition(P.APPEAL, E.DISCHARGE)
    error = raised.value
    assert error.phase is P.APPEAL
    assert error.attempted == "discharge"
    assert error.allowed == sorted(
        [
            "appeal_approved",
            "appeal_filed",
            "appeal_upheld",
            "appeal_window_closed",
            "coverage_updated",
            "disclosure_consent_recorded",
            "level_change_no_auth",
            "self_pay",
            "withdrawn",
            "entered_in_error",
            "safety_assessment_recorded",
            "followup_visit_recorded",
            "risk_escalated",
            "risk_escalated_end_of_day",
            "risk_alert_acknowledged",
            "risk_alert_unacknowledged",
            "risk_alert_unacknowledged_again",
        ]
    )
    message = str(error)
    assert "'discharge'" in message and "'appeal'" in message
    for name in error.allowed:
        assert name in message


def test_transition_not_allowed_is_a_value_error_for_callers_that_catch_broadly() -> None:
    assert issubclass(TransitionNotAllowed, ValueError)


# Wherever the episode is open, the care team may acknowledge the open risk alert.
A_ACK = Action.ACKNOWLEDGE_ALERT


@pytest.mark.parametrize(
    ("phase", "expected"),
    [
        (P.REFERRAL, [Action.REPORT_EVENT, A_ACK]),
        (P.ASSESSMENT, [Action.SUBMIT_ASSESSMENT, Action.REPORT_EVENT, A_ACK]),
        (P.INSURANCE_VERIFICATION, [Action.SUBMIT_COVERAGE, Action.REPORT_EVENT, A_ACK]),
        (P.FINANCIAL_COUNSELING, [Action.SUBMIT_COVERAGE, Action.REPORT_EVENT, A_ACK]),
        (
            P.AUTHORIZATION,
            [Action.SUBMIT_COVERAGE, Action.RECORD_AUTHORIZATION, Action.REPORT_EVENT, A_ACK],
        ),
        (
            P.APPEAL,
            [
                Action.SUBMIT_COVERAGE,
                Action.RECORD_AUTHORIZATION,
                Action.DECIDE,
                Action.REPORT_EVENT,
                A_ACK,
            ],
        ),
        (
            P.IN_TREATMENT,
            [
                Action.SUBMIT_COVERAGE,
                Action.RECORD_AUTHORIZATION,
                Action.SUBMIT_REVIEW,
                Action.DECIDE,
                Action.REPORT_EVENT,
                Action.RECORD_ATTENDANCE,
                Action.SUBMIT_PATIENT_MEASURE,
                A_ACK,
            ],
        ),
        (P.EXTERNAL_CARE, [Action.SUBMIT_COVERAGE, Action.REPORT_EVENT, A_ACK]),
        (P.AFTERCARE, [Action.REPORT_EVENT, Action.SUBMIT_PATIENT_MEASURE, A_ACK]),
        (P.CLOSED, []),
    ],
)
def test_allowed_actions_per_phase(phase: CarePhase, expected: list[Action]) -> None:
    assert allowed_actions(phase) == expected


def test_allowed_events_lists_only_what_the_action_can_do_here() -> None:
    assert allowed_events(P.IN_TREATMENT, Action.RECORD_AUTHORIZATION) == [
        E.APPEAL_APPROVED,
        E.APPEAL_FILED,
        E.APPEAL_UPHELD,
        E.EXTENSION_APPROVED,
        E.EXTENSION_DENIED,
        E.LEVEL_CHANGE_APPROVED,
        E.LEVEL_CHANGE_DENIED,
    ]
    assert allowed_events(P.AFTERCARE, Action.REPORT_EVENT) == sorted(
        [E.ENTERED_IN_ERROR, E.SAFETY_ASSESSMENT_RECORDED, E.FOLLOWUP_VISIT_RECORDED]
    )
    assert allowed_events(P.CLOSED, Action.REPORT_EVENT) == []


def test_require_action_passes_when_open_and_names_the_open_actions_when_not() -> None:
    require_action(P.IN_TREATMENT, Action.SUBMIT_REVIEW)
    with pytest.raises(TransitionNotAllowed) as raised:
        require_action(P.ASSESSMENT, Action.SUBMIT_REVIEW)
    assert raised.value.attempted == "submit_review"
    assert raised.value.allowed == ["submit_assessment", "report_event", "acknowledge_alert"]
