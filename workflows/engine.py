"""The episode engine: applies submissions and timers to the carried state.

Deterministic and free of Temporal imports: the workflow gives it `now` and the
submissions, and takes back the decision, the records to write, the messages to send
and the payer commands to run. Each part of the path lives in its own module; this
class puts them together and validates submissions for the update validators.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from rules.transitions import Action, require_action
from schemas.attendance import AttendanceNotice
from schemas.submissions import (
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
from workflows.engine_core import (
    InvalidSubmission,
    SubmissionConflict,
    expect_type,
)
from workflows.engine_view import ViewMixin
from workflows.events import EventsMixin
from workflows.patient_measures import PatientMeasuresMixin
from workflows.treatment import TreatmentMixin

__all__ = ["EpisodeEngine", "InvalidSubmission", "SubmissionConflict"]


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
    def answer(self, action: Action, submission: BaseModel, now: datetime) -> EngineDecision:
        """One submission in, its decision out: a retry gets the first answer again."""
        given = expect_type(submission, Submission)
        earlier = self.earlier_result(action, given)
        if earlier is not None:
            return earlier
        self.validate(action, submission)
        handlers: dict[Action, tuple[type[BaseModel], Callable[[Any, datetime], EngineDecision]]]
        handlers = {
            Action.SUBMIT_ASSESSMENT: (AssessmentSubmission, self.submit_assessment),
            Action.SUBMIT_COVERAGE: (CoverageSubmission, self.submit_coverage),
            Action.RECORD_AUTHORIZATION: (AuthorizationDecision, self.record_authorization),
            Action.SUBMIT_REVIEW: (ReviewSubmission, self.submit_review),
            Action.DECIDE: (ClinicianDecision, self.decide),
            Action.REPORT_EVENT: (EpisodeEvent, self.report_event),
            Action.RECORD_ATTENDANCE: (AttendanceNotice, self.record_attendance),
            Action.SUBMIT_PATIENT_MEASURE: (
                PatientMeasureSubmission,
                self.submit_patient_measure,
            ),
        }
        kind, handler = handlers[action]
        decision = handler(expect_type(submission, kind), now)
        self.remember(action, given, decision)
        return decision

    def validate(self, action: Action, submission: object) -> None:
        """Raise TransitionNotAllowed, InvalidSubmission or SubmissionConflict; never
        changes state. A retry of an accepted submission passes (it gets its answer)."""
        if isinstance(submission, Submission) and self.earlier_result(action, submission):
            return
        require_action(self.state.phase, action)
        if action is Action.SUBMIT_COVERAGE:
            self._coverage_event(expect_type(submission, CoverageSubmission))
        elif action is Action.RECORD_AUTHORIZATION:
            self._authorization_event(expect_type(submission, AuthorizationDecision))
        elif action is Action.SUBMIT_REVIEW:
            self._check_review(expect_type(submission, ReviewSubmission))
        elif action is Action.DECIDE:
            self._decision_event(expect_type(submission, ClinicianDecision))
        elif action is Action.REPORT_EVENT:
            self._report_event(expect_type(submission, EpisodeEvent))
        elif action is Action.RECORD_ATTENDANCE:
            self._check_attendance(expect_type(submission, AttendanceNotice))
        elif action is Action.SUBMIT_PATIENT_MEASURE:
            self._check_patient_measure(expect_type(submission, PatientMeasureSubmission))
