"""The transition table: the one declarative place that says how an episode moves.

`TRANSITIONS` maps (phase, event) to (next phase, reason code). The workflow applies it,
the API's 409 answers read `allowed_actions` from it, and the database's CHECK
constraints are generated from `CarePhase` and `Event`. The table is checked when this
module is imported (`_validate`), so a typo fails at once, not in a running episode.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple


class CarePhase(StrEnum):
    REFERRAL = "referral"
    ASSESSMENT = "assessment"
    INSURANCE_VERIFICATION = "insurance_verification"
    FINANCIAL_COUNSELING = "financial_counseling"
    AUTHORIZATION = "authorization"
    APPEAL = "appeal"
    IN_TREATMENT = "in_treatment"
    EXTERNAL_CARE = "external_care"
    AFTERCARE = "aftercare"
    CLOSED = "closed"


class Action(StrEnum):
    """What a person or another system may ask of an episode (one Workflow Update each)."""

    SUBMIT_ASSESSMENT = "submit_assessment"
    SUBMIT_COVERAGE = "submit_coverage"
    RECORD_AUTHORIZATION = "record_authorization"
    SUBMIT_REVIEW = "submit_review"
    DECIDE = "decide"
    REPORT_EVENT = "report_event"
    RECORD_ATTENDANCE = "record_attendance"
    SUBMIT_PATIENT_MEASURE = "submit_patient_measure"
    ACKNOWLEDGE_ALERT = "acknowledge_alert"


class Event(StrEnum):
    """Everything that can move an episode; each belongs to one action or to the engine."""

    REFERRAL_RECEIVED = "referral_received"
    # submit_assessment
    ASSESSED_PROGRAM_LEVEL = "assessed_program_level"
    ASSESSED_EXTERNAL_AWAIT = "assessed_external_await"
    ASSESSED_EXTERNAL_CLOSE = "assessed_external_close"
    ASSESSED_HOLD_FOR_EVALUATION = "assessed_hold_for_evaluation"
    # engine: eligibility (X12 270/271)
    COVERAGE_ACTIVE_AUTH_REQUIRED = "coverage_active_auth_required"
    COVERAGE_ACTIVE_NO_AUTH = "coverage_active_no_auth"
    COVERAGE_INACTIVE = "coverage_inactive"
    # submit_coverage
    COVERAGE_UPDATED = "coverage_updated"
    SELF_PAY = "self_pay"
    # record_authorization (or the payer's own answer)
    AUTH_APPROVED = "auth_approved"
    AUTH_DENIED = "auth_denied"
    AUTH_DENIED_RESUME = "auth_denied_resume"
    APPEAL_FILED = "appeal_filed"
    EXTENSION_APPROVED = "extension_approved"
    EXTENSION_DENIED = "extension_denied"
    APPEAL_APPROVED = "appeal_approved"
    APPEAL_UPHELD = "appeal_upheld"
    LEVEL_CHANGE_APPROVED = "level_change_approved"
    LEVEL_CHANGE_DENIED = "level_change_denied"
    # engine: deadlines
    APPEAL_WINDOW_CLOSED = "appeal_window_closed"
    FINANCIAL_HOLD_EXPIRED = "financial_hold_expired"
    EXTERNAL_WAIT_EXPIRED = "external_wait_expired"
    AFTERCARE_COMPLETED = "aftercare_completed"
    # submit_review
    REVIEW_RECORDED = "review_recorded"
    # decide
    CONTINUE_LEVEL = "continue_level"
    LEVEL_CHANGE_NO_AUTH = "level_change_no_auth"
    LEVEL_CHANGE_NEEDS_AUTH = "level_change_needs_auth"
    LEVEL_CHANGE_REQUESTED = "level_change_requested"
    REFER_OUT = "refer_out"
    DISCHARGE = "discharge"
    # report_event (clinic systems)
    EXTERNAL_ADMITTED = "external_admitted"
    EXTERNAL_DISCHARGE_NEEDS_AUTH = "external_discharge_needs_auth"
    EXTERNAL_DISCHARGE_NO_AUTH = "external_discharge_no_auth"
    EXTERNAL_DISCHARGE_HOME = "external_discharge_home"
    REFERRAL_CLOSED = "referral_closed"
    WITHDRAWN = "withdrawn"
    ENTERED_IN_ERROR = "entered_in_error"
    DISCLOSURE_CONSENT_RECORDED = "disclosure_consent_recorded"
    SAFETY_ASSESSMENT_RECORDED = "safety_assessment_recorded"
    FOLLOWUP_VISIT_RECORDED = "followup_visit_recorded"
    # engine: the open risk flag's escalation ladder
    RISK_ESCALATED = "risk_escalated"
    # record_attendance: only the exceptions of the IOP week reach the workflow
    ATTENDANCE_NO_SHOW = "attendance_no_show"
    ATTENDANCE_RESUMED = "attendance_resumed"
    WEEK_BELOW_MINIMUM = "week_below_minimum"
    UNITS_RUNNING_OUT = "units_running_out"
    UNAUTHORIZED_SERVICE = "unauthorized_service"
    # engine V3: a session attended while a quality clock (FUH, IET) is open
    SESSION_ATTENDED = "session_attended"
    RISK_ESCALATED_END_OF_DAY = "risk_escalated_end_of_day"
    # submit_patient_measure: a questionnaire the patient answered by link
    PATIENT_MEASURE_RECORDED = "patient_measure_recorded"
    # acknowledge_alert: a care-team member saw the urgent risk alert and says what was done
    RISK_ALERT_ACKNOWLEDGED = "risk_alert_acknowledged"
    # engine: the unacknowledged risk alert's ladder (engine V3)
    RISK_ALERT_UNACKNOWLEDGED = "risk_alert_unacknowledged"
    RISK_ALERT_UNACKNOWLEDGED_AGAIN = "risk_alert_unacknowledged_again"


class Transition(NamedTuple):
    to: CarePhase
    reason: str


P = CarePhase
E = Event

_OPEN_PHASES: Final = tuple(p for p in CarePhase if p not in (P.CLOSED,))
_WITHDRAWABLE: Final = tuple(p for p in _OPEN_PHASES if p is not P.AFTERCARE)

TRANSITIONS: Final[dict[tuple[CarePhase, Event], Transition]] = {
    (P.REFERRAL, E.REFERRAL_RECEIVED): Transition(P.ASSESSMENT, "referral_received"),
    (P.ASSESSMENT, E.ASSESSED_PROGRAM_LEVEL): Transition(
        P.INSURANCE_VERIFICATION, "program_level_indicated"
    ),
    (P.ASSESSMENT, E.ASSESSED_EXTERNAL_AWAIT): Transition(
        P.EXTERNAL_CARE, "higher_level_referred_out"
    ),
    (P.ASSESSMENT, E.ASSESSED_EXTERNAL_CLOSE): Transition(P.CLOSED, "referred_out"),
    (P.ASSESSMENT, E.ASSESSED_HOLD_FOR_EVALUATION): Transition(
        P.ASSESSMENT, "emergency_evaluation_needed"
    ),
    (P.INSURANCE_VERIFICATION, E.COVERAGE_ACTIVE_AUTH_REQUIRED): Transition(
        P.AUTHORIZATION, "prior_authorization_requested"
    ),
    (P.INSURANCE_VERIFICATION, E.COVERAGE_ACTIVE_NO_AUTH): Transition(
        P.IN_TREATMENT, "enrolled_no_authorization_required"
    ),
    (P.INSURANCE_VERIFICATION, E.COVERAGE_INACTIVE): Transition(
        P.FINANCIAL_COUNSELING, "coverage_inactive"
    ),
    (P.INSURANCE_VERIFICATION, E.SELF_PAY): Transition(P.IN_TREATMENT, "enrolled_self_pay"),
    (P.INSURANCE_VERIFICATION, E.COVERAGE_UPDATED): Transition(
        P.INSURANCE_VERIFICATION, "coverage_updated"
    ),
    (P.FINANCIAL_COUNSELING, E.COVERAGE_UPDATED): Transition(
        P.INSURANCE_VERIFICATION, "coverage_updated"
    ),
    (P.FINANCIAL_COUNSELING, E.SELF_PAY): Transition(P.IN_TREATMENT, "enrolled_self_pay"),
    (P.FINANCIAL_COUNSELING, E.FINANCIAL_HOLD_EXPIRED): Transition(P.CLOSED, "coverage_unresolved"),
    (P.AUTHORIZATION, E.AUTH_APPROVED): Transition(P.IN_TREATMENT, "authorized_enrolled"),
    (P.AUTHORIZATION, E.AUTH_DENIED): Transition(P.APPEAL, "authorization_denied"),
    (P.AUTHORIZATION, E.AUTH_DENIED_RESUME): Transition(P.IN_TREATMENT, "level_change_denied"),
    (P.APPEAL, E.APPEAL_APPROVED): Transition(P.IN_TREATMENT, "appeal_approved_enrolled"),
    (P.APPEAL, E.APPEAL_UPHELD): Transition(P.CLOSED, "denial_upheld"),
    (P.APPEAL, E.APPEAL_WINDOW_CLOSED): Transition(P.CLOSED, "appeal_window_closed"),
    (P.APPEAL, E.SELF_PAY): Transition(P.IN_TREATMENT, "enrolled_self_pay"),
    (P.APPEAL, E.APPEAL_FILED): Transition(P.APPEAL, "appeal_filed"),
    (P.APPEAL, E.COVERAGE_UPDATED): Transition(P.INSURANCE_VERIFICATION, "coverage_updated"),
    # After a denial the clinician may enroll at a level that needs no authorization (OP).
    (P.APPEAL, E.LEVEL_CHANGE_NO_AUTH): Transition(P.IN_TREATMENT, "enrolled_level_no_auth"),
    (P.AUTHORIZATION, E.SELF_PAY): Transition(P.IN_TREATMENT, "enrolled_self_pay"),
    (P.AUTHORIZATION, E.COVERAGE_UPDATED): Transition(P.INSURANCE_VERIFICATION, "coverage_updated"),
    (P.IN_TREATMENT, E.REVIEW_RECORDED): Transition(P.IN_TREATMENT, "review_recorded"),
    (P.IN_TREATMENT, E.EXTENSION_APPROVED): Transition(P.IN_TREATMENT, "extension_approved"),
    (P.IN_TREATMENT, E.EXTENSION_DENIED): Transition(P.IN_TREATMENT, "extension_denied"),
    # An extension or level-change denial is appealed while treatment goes on.
    (P.IN_TREATMENT, E.APPEAL_FILED): Transition(P.IN_TREATMENT, "appeal_filed"),
    (P.IN_TREATMENT, E.APPEAL_APPROVED): Transition(P.IN_TREATMENT, "appeal_approved"),
    (P.IN_TREATMENT, E.APPEAL_UPHELD): Transition(P.IN_TREATMENT, "denial_upheld"),
    (P.IN_TREATMENT, E.SELF_PAY): Transition(P.IN_TREATMENT, "self_pay"),
    (P.IN_TREATMENT, E.COVERAGE_UPDATED): Transition(P.IN_TREATMENT, "coverage_updated"),
    (P.IN_TREATMENT, E.CONTINUE_LEVEL): Transition(P.IN_TREATMENT, "continued_same_level"),
    (P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH): Transition(P.IN_TREATMENT, "level_changed"),
    # Engine V1 only (runs pinned to it): a level change waiting on the payer left treatment.
    (P.IN_TREATMENT, E.LEVEL_CHANGE_NEEDS_AUTH): Transition(
        P.AUTHORIZATION, "level_change_authorization_requested"
    ),
    # Engine V2: the patient stays in treatment at the current level while the payer
    # decides; reviews, screens and units go on.
    (P.IN_TREATMENT, E.LEVEL_CHANGE_REQUESTED): Transition(
        P.IN_TREATMENT, "level_change_authorization_requested"
    ),
    (P.IN_TREATMENT, E.LEVEL_CHANGE_APPROVED): Transition(
        P.IN_TREATMENT, "level_change_authorized"
    ),
    (P.IN_TREATMENT, E.LEVEL_CHANGE_DENIED): Transition(P.IN_TREATMENT, "level_change_denied"),
    (P.IN_TREATMENT, E.REFER_OUT): Transition(P.EXTERNAL_CARE, "higher_level_referred_out"),
    (P.IN_TREATMENT, E.ATTENDANCE_NO_SHOW): Transition(P.IN_TREATMENT, "no_show"),
    (P.IN_TREATMENT, E.ATTENDANCE_RESUMED): Transition(P.IN_TREATMENT, "attended_after_no_show"),
    (P.IN_TREATMENT, E.WEEK_BELOW_MINIMUM): Transition(P.IN_TREATMENT, "week_cannot_reach_minimum"),
    (P.IN_TREATMENT, E.UNITS_RUNNING_OUT): Transition(P.IN_TREATMENT, "units_projected_to_run_out"),
    (P.IN_TREATMENT, E.UNAUTHORIZED_SERVICE): Transition(P.IN_TREATMENT, "unauthorized_service"),
    (P.IN_TREATMENT, E.SESSION_ATTENDED): Transition(P.IN_TREATMENT, "attended_quality_clock"),
    (P.IN_TREATMENT, E.DISCHARGE): Transition(P.AFTERCARE, "discharged_treatment_complete"),
    (P.EXTERNAL_CARE, E.EXTERNAL_ADMITTED): Transition(P.EXTERNAL_CARE, "admitted_external"),
    (P.EXTERNAL_CARE, E.SELF_PAY): Transition(P.EXTERNAL_CARE, "self_pay"),
    (P.EXTERNAL_CARE, E.COVERAGE_UPDATED): Transition(P.EXTERNAL_CARE, "coverage_updated"),
    (P.EXTERNAL_CARE, E.EXTERNAL_DISCHARGE_NEEDS_AUTH): Transition(
        P.AUTHORIZATION, "returned_authorization_requested"
    ),
    (P.EXTERNAL_CARE, E.EXTERNAL_DISCHARGE_NO_AUTH): Transition(
        P.IN_TREATMENT, "returned_reenrolled"
    ),
    (P.EXTERNAL_CARE, E.EXTERNAL_DISCHARGE_HOME): Transition(
        P.AFTERCARE, "discharged_external_home"
    ),
    (P.EXTERNAL_CARE, E.REFERRAL_CLOSED): Transition(P.CLOSED, "referred_out"),
    (P.EXTERNAL_CARE, E.EXTERNAL_WAIT_EXPIRED): Transition(P.CLOSED, "referred_out_no_return"),
    (P.AFTERCARE, E.AFTERCARE_COMPLETED): Transition(P.CLOSED, "completed"),
    **{
        (p, E.WITHDRAWN): Transition(P.AFTERCARE, "discharged_against_advice")
        for p in _WITHDRAWABLE
    },
    **{(p, E.ENTERED_IN_ERROR): Transition(P.CLOSED, "entered_in_error") for p in _OPEN_PHASES},
    # Part 2 consent obtained later: recorded wherever a payer request can be held.
    **{
        (p, E.DISCLOSURE_CONSENT_RECORDED): Transition(p, "disclosure_consent_recorded")
        for p in _WITHDRAWABLE
    },
    # Recorded wherever the episode is open; the phase does not change.
    **{
        (p, E.SAFETY_ASSESSMENT_RECORDED): Transition(p, "safety_assessment_recorded")
        for p in _OPEN_PHASES
    },
    **{
        (p, E.FOLLOWUP_VISIT_RECORDED): Transition(p, "followup_visit_recorded")
        for p in _OPEN_PHASES
    },
    **{
        (p, E.PATIENT_MEASURE_RECORDED): Transition(p, "patient_reported_measure")
        for p in (P.IN_TREATMENT, P.AFTERCARE)  # where the engine asks the patient
    },
    **{
        (p, E.RISK_ESCALATED): Transition(p, "risk_unassessed_escalated_to_supervisor")
        for p in _OPEN_PHASES
    },
    **{
        (p, E.RISK_ESCALATED_END_OF_DAY): Transition(p, "risk_unassessed_at_end_of_local_day")
        for p in _OPEN_PHASES
    },
    **{
        (p, E.RISK_ALERT_ACKNOWLEDGED): Transition(p, "risk_alert_acknowledged")
        for p in _OPEN_PHASES
    },
    **{
        (p, E.RISK_ALERT_UNACKNOWLEDGED): Transition(
            p, "risk_alert_unacknowledged_escalated_to_supervisor"
        )
        for p in _OPEN_PHASES
    },
    **{
        (p, E.RISK_ALERT_UNACKNOWLEDGED_AGAIN): Transition(
            p, "risk_alert_still_unacknowledged_escalated_again"
        )
        for p in _OPEN_PHASES
    },
}

# Which events each action can produce; engine-only events belong to no action.
ACTION_EVENTS: Final[dict[Action, frozenset[Event]]] = {
    Action.SUBMIT_ASSESSMENT: frozenset(
        {
            E.ASSESSED_PROGRAM_LEVEL,
            E.ASSESSED_EXTERNAL_AWAIT,
            E.ASSESSED_EXTERNAL_CLOSE,
            E.ASSESSED_HOLD_FOR_EVALUATION,
        }
    ),
    Action.SUBMIT_COVERAGE: frozenset({E.COVERAGE_UPDATED, E.SELF_PAY}),
    Action.RECORD_AUTHORIZATION: frozenset(
        {
            E.AUTH_APPROVED,
            E.AUTH_DENIED,
            E.AUTH_DENIED_RESUME,
            E.APPEAL_FILED,
            E.EXTENSION_APPROVED,
            E.EXTENSION_DENIED,
            E.APPEAL_APPROVED,
            E.APPEAL_UPHELD,
            E.LEVEL_CHANGE_APPROVED,
            E.LEVEL_CHANGE_DENIED,
        }
    ),
    Action.SUBMIT_REVIEW: frozenset({E.REVIEW_RECORDED}),
    Action.DECIDE: frozenset(
        {
            E.CONTINUE_LEVEL,
            E.LEVEL_CHANGE_NO_AUTH,
            E.LEVEL_CHANGE_NEEDS_AUTH,
            E.LEVEL_CHANGE_REQUESTED,
            E.REFER_OUT,
            E.DISCHARGE,
        }
    ),
    Action.REPORT_EVENT: frozenset(
        {
            E.EXTERNAL_ADMITTED,
            E.EXTERNAL_DISCHARGE_NEEDS_AUTH,
            E.EXTERNAL_DISCHARGE_NO_AUTH,
            E.EXTERNAL_DISCHARGE_HOME,
            E.REFERRAL_CLOSED,
            E.WITHDRAWN,
            E.ENTERED_IN_ERROR,
            E.DISCLOSURE_CONSENT_RECORDED,
            E.SAFETY_ASSESSMENT_RECORDED,
            E.FOLLOWUP_VISIT_RECORDED,
        }
    ),
    Action.RECORD_ATTENDANCE: frozenset(
        {
            E.ATTENDANCE_NO_SHOW,
            E.ATTENDANCE_RESUMED,
            E.WEEK_BELOW_MINIMUM,
            E.UNITS_RUNNING_OUT,
            E.UNAUTHORIZED_SERVICE,
            E.SESSION_ATTENDED,
        }
    ),
    Action.SUBMIT_PATIENT_MEASURE: frozenset({E.PATIENT_MEASURE_RECORDED}),
    Action.ACKNOWLEDGE_ALERT: frozenset({E.RISK_ALERT_ACKNOWLEDGED}),
}

TERMINAL_PHASES: Final = frozenset({P.CLOSED})


class TransitionNotAllowed(ValueError):
    """An event the current phase does not accept; names what it would accept."""

    def __init__(self, phase: CarePhase, attempted: str, allowed: list[str]) -> None:
        self.phase = phase
        self.attempted = attempted
        self.allowed = allowed
        names = ", ".join(allowed) or "none"
        super().__init__(f"'{attempted}' is not allowed in phase '{phase}'; allowed: {names}")


def transition(phase: CarePhase, event: Event) -> Transition:
    """The next phase and reason code for `event` in `phase`, or TransitionNotAllowed."""
    found = TRANSITIONS.get((phase, event))
    if found is None:
        allowed = sorted(e.value for (p, e) in TRANSITIONS if p == phase)
        raise TransitionNotAllowed(phase, event.value, allowed)
    return found


def allowed_actions(phase: CarePhase) -> list[Action]:
    """The actions a caller may take in `phase`, in a stable order."""
    events_here = {e for (p, e) in TRANSITIONS if p == phase}
    return [a for a in Action if ACTION_EVENTS[a] & events_here]


def allowed_events(phase: CarePhase, action: Action) -> list[Event]:
    return sorted(e for e in ACTION_EVENTS[action] if (phase, e) in TRANSITIONS)


def require_action(phase: CarePhase, action: Action) -> None:
    """Raise TransitionNotAllowed unless `action` is open in `phase`."""
    allowed = allowed_actions(phase)
    if action not in allowed:
        raise TransitionNotAllowed(phase, action.value, [a.value for a in allowed])


def _validate() -> None:
    """The graph is checked once, when it is defined: every phase reachable, closed final."""
    owned = set().union(*ACTION_EVENTS.values())
    if len(owned) != sum(len(v) for v in ACTION_EVENTS.values()):
        raise AssertionError("an event belongs to two actions")
    reachable = {P.REFERRAL}
    frontier = [P.REFERRAL]
    while frontier:
        here = frontier.pop()
        for (p, _), t in TRANSITIONS.items():
            if p == here and t.to not in reachable:
                reachable.add(t.to)
                frontier.append(t.to)
    if reachable != set(CarePhase):
        raise AssertionError(f"unreachable phases: {set(CarePhase) - reachable}")
    if any(p in TERMINAL_PHASES for (p, _) in TRANSITIONS):
        raise AssertionError("a terminal phase has an outgoing transition")
    for phase in _OPEN_PHASES:
        if not any(p == phase for (p, _) in TRANSITIONS):
            raise AssertionError(f"phase {phase} has no way out")


_validate()
