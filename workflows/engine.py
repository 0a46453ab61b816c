"""The episode engine: applies submissions and timers to the carried state.

Deterministic and free of Temporal imports: the workflow gives it `now` and the
submissions, and takes back the decision, the records to write, the messages to send
and the payer commands to run. Each part of the path lives in its own module; this
class puts them together and validates submissions for the update validators.
"""

from __future__ import annotations

from rules.transitions import Action, require_action
from schemas.submissions import (
    AuthorizationDecision,
    ClinicianDecision,
    CoverageSubmission,
    EpisodeEvent,
    ReviewSubmission,
)
from workflows.authorizations import AuthorizationMixin
from workflows.deadlines import DeadlinesMixin
from workflows.engine_core import InvalidSubmission, expect_type, submission_id
from workflows.engine_view import ViewMixin
from workflows.events import EventsMixin
from workflows.intake import IntakeMixin
from workflows.treatment import TreatmentMixin

__all__ = ["EpisodeEngine", "InvalidSubmission", "submission_id"]


class EpisodeEngine(
    IntakeMixin, AuthorizationMixin, TreatmentMixin, EventsMixin, DeadlinesMixin, ViewMixin
):
    def validate(self, action: Action, submission: object) -> None:
        """Raise TransitionNotAllowed or InvalidSubmission; never changes state."""
        found_id = submission_id(submission)
        if found_id in self.state.recent_results:
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
