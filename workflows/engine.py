"""The episode engine: applies submissions and timers to the carried state.

Deterministic and free of Temporal imports: the workflow gives it `now` and the
submissions, and takes back the decision, the records to write, the messages to send
and the payer commands to run. Each part of the path lives in its own module; this
class puts them together, and `HANDLERS` says, once, how each action is taken.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel

from rules.transitions import Action, require_action
from schemas.attendance import AttendanceNotice
from schemas.submissions import (
    AlertAcknowledgement,
    AssessmentSubmission,
    AuthorizationDecision,
    ClinicianDecision,
    CoverageSubmission,
    EpisodeEvent,
    PatientMeasureSubmission,
    ReviewSubmission,
    Submission,
)
from schemas.view import EngineDecision
from workflows.assessment import AssessmentMixin
from workflows.attendance import AttendanceMixin
from workflows.authorizations import AuthorizationMixin
from workflows.deadlines import DeadlinesMixin
from workflows.engine_core import InvalidSubmission, SubmissionConflict, expect_type
from workflows.engine_view import ViewMixin
from workflows.events import EventsMixin
from workflows.patient_measures import PatientMeasuresMixin
from workflows.state import EpisodeState
from workflows.treatment import TreatmentMixin

__all__ = ["HANDLERS", "EpisodeEngine", "Handler", "InvalidSubmission", "SubmissionConflict"]

S = TypeVar("S", bound=Submission)
P = TypeVar("P")


@dataclass(frozen=True)
class Resolved:
    """A submission resolved against the state it arrived in: what applying it will do
    (`plan`, for the action's `apply`), or the first answer when it is a retry."""

    action: Action
    submission: Submission
    plan: object = None
    earlier: EngineDecision | None = None


class EpisodeEngine(
    AssessmentMixin,
    AuthorizationMixin,
    TreatmentMixin,
    EventsMixin,
    AttendanceMixin,
    PatientMeasuresMixin,
    DeadlinesMixin,
    ViewMixin,
):
    def __init__(self, state: EpisodeState) -> None:
        super().__init__(state)
        # Handed from `resolve` (the update's validator) to `answer` (its handler), which
        # Temporal runs back to back in one step; a replay skips validators and resolves
        # in `answer` instead.
        self._resolved: Resolved | None = None

    def resolve(self, action: Action, submission: BaseModel) -> Resolved:
        """What `submission` would do now. Raises TransitionNotAllowed, InvalidSubmission
        or SubmissionConflict; never changes state. A retry resolves to its first answer."""
        handler = HANDLERS[action]
        given = expect_type(submission, handler.kind)
        earlier = self.earlier_result(action, given)
        if earlier is not None:
            resolved = Resolved(action, given, earlier=earlier)
        else:
            require_action(self.state.phase, action)
            resolved = Resolved(action, given, plan=handler.resolve(self, given))
        self._resolved = resolved
        return resolved

    def validate(self, action: Action, submission: BaseModel) -> None:
        """Refuse, or not, before anything changes (the update validator's check)."""
        self.resolve(action, submission)

    def answer(self, action: Action, submission: BaseModel, now: datetime) -> EngineDecision:
        """One submission in, its decision out: a retry gets the first answer again."""
        resolved = self._take_resolved(action, submission) or self.resolve(action, submission)
        self._resolved = None
        if resolved.earlier is not None:
            return resolved.earlier
        decision = HANDLERS[action].apply(self, resolved.submission, resolved.plan, now)
        self.remember(action, resolved.submission, decision)
        return decision

    def _take_resolved(self, action: Action, submission: BaseModel) -> Resolved | None:
        held, self._resolved = self._resolved, None
        if held is not None and held.action is action and held.submission == submission:
            return held
        return None


@dataclass(frozen=True)
class Handler(Generic[S, P]):
    """How the engine takes one action. `resolve` works out what the submission will do
    (an event, a plan) and raises InvalidSubmission or TransitionNotAllowed before
    anything changes; `apply` does it and answers."""

    kind: type[S]
    resolve: Callable[[EpisodeEngine, S], P]
    apply: Callable[[EpisodeEngine, S, P, datetime], EngineDecision]


def handler(
    kind: type[S],
    resolve: Callable[[EpisodeEngine, S], P],
    apply: Callable[[EpisodeEngine, S, P, datetime], EngineDecision],
) -> Handler[Any, Any]:
    """A table entry, its three parts checked against each other by mypy."""
    return Handler(kind, resolve, apply)


E = EpisodeEngine
HANDLERS: Final[Mapping[Action, Handler[Any, Any]]] = {
    Action.SUBMIT_ASSESSMENT: handler(
        AssessmentSubmission, E._resolve_assessment, E._apply_assessment
    ),
    Action.SUBMIT_COVERAGE: handler(CoverageSubmission, E._resolve_coverage, E._apply_coverage),
    Action.RECORD_AUTHORIZATION: handler(
        AuthorizationDecision, E._resolve_authorization, E._apply_authorization
    ),
    Action.SUBMIT_REVIEW: handler(ReviewSubmission, E._resolve_review, E._apply_review),
    Action.DECIDE: handler(ClinicianDecision, E._resolve_decision, E._apply_decision),
    Action.REPORT_EVENT: handler(EpisodeEvent, E._resolve_event, E._apply_event),
    Action.RECORD_ATTENDANCE: handler(AttendanceNotice, E._resolve_attendance, E._apply_attendance),
    Action.SUBMIT_PATIENT_MEASURE: handler(
        PatientMeasureSubmission, E._resolve_patient_measure, E._apply_patient_measure
    ),
    Action.ACKNOWLEDGE_ALERT: handler(
        AlertAcknowledgement, E._resolve_acknowledgement, E._apply_acknowledgement
    ),
}
