"""Intake: the referral, eligibility (X12 270/271) and coverage changes (the assessment
itself is `workflows/assessment.py`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.levels import LevelOfCare
from rules.recommendation import Flag
from rules.transitions import Action, CarePhase, Event
from schemas.payer import AuthRequirement, EligibilityResult, PayerRequestKind
from schemas.records import Recipient
from schemas.submissions import CoverageSubmission
from schemas.view import EngineDecision
from workflows.engine_core import ENGINE, PATIENT_TEMPLATE, EngineCore
from workflows.state import ENGINE_V2, CommandKind


class IntakeMixin(EngineCore):
    """From referral to the payer's first answer."""

    def begin(self, now: datetime) -> None:
        self.state.coverage = self.state.start.coverage
        self._move(Event.REFERRAL_RECEIVED, now, ENGINE)
        self._notify(Recipient.CARE_TEAM, "referral_received")

    def _start_verification(self, now: datetime) -> None:
        if self.state.coverage is None:
            self._coverage_inactive(now, "no_coverage_on_file")
        else:
            self._command(CommandKind.CHECK_ELIGIBILITY)

    def _coverage_inactive(self, now: datetime, why: str) -> None:
        s = self.state
        self._raise(Flag.COVERAGE_INACTIVE)
        s.waiting_until = now + timedelta(days=s.start.policy.financial_hold_days)
        self._move(Event.COVERAGE_INACTIVE, now, ENGINE)
        self._notify(Recipient.FINANCIAL_COUNSELING, "coverage_inactive", reason=why)
        self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)

    def eligibility_failed(self, *, retryable: bool, now: datetime) -> None:
        """No 271 came back. An outage is asked again later under its own flag; only a
        payer that refused the member's data sends the patient to financial counseling."""
        s = self.state
        if s.phase is not CarePhase.INSURANCE_VERIFICATION:
            return
        if not retryable or s.engine_version < ENGINE_V2:
            self._coverage_inactive(
                now, "eligibility_unverified" if retryable else "member_data_rejected"
            )
            return
        s.eligibility_retry_at = now + timedelta(hours=s.start.policy.eligibility_retry_hours)
        if Flag.ELIGIBILITY_UNAVAILABLE not in s.flags:
            self._raise(Flag.ELIGIBILITY_UNAVAILABLE)
            self._notify(
                Recipient.FINANCIAL_COUNSELING,
                "eligibility_unavailable",
                retry_at=s.eligibility_retry_at.isoformat(),
            )

    def eligibility_checked(self, result: EligibilityResult | None, now: datetime) -> None:
        """Apply the payer's 271 (None: the payer refused the data)."""
        s = self.state
        if s.phase is not CarePhase.INSURANCE_VERIFICATION:
            return
        if result is None:
            self.eligibility_failed(retryable=False, now=now)
            return
        s.eligibility_retry_at = None
        self._clear(Flag.ELIGIBILITY_UNAVAILABLE)
        if not result.active:
            self._coverage_inactive(now, "inactive")
            return
        self._clear(Flag.COVERAGE_INACTIVE)
        level = s.requested_level or LevelOfCare.IOP
        needs_auth = result.authorization is not AuthRequirement.NOT_REQUIRED and (
            s.start.policy.requires_authorization(level)
        )
        if needs_auth:
            self._move(Event.COVERAGE_ACTIVE_AUTH_REQUIRED, now, ENGINE)
            self._request_authorization(PayerRequestKind.INITIAL, level, s.requested_expedited, now)
        else:
            self._move(Event.COVERAGE_ACTIVE_NO_AUTH, now, ENGINE)
            self._enroll(level, now)

    def _coverage_event(self, sub: CoverageSubmission) -> Event:
        event = Event.SELF_PAY if sub.self_pay else Event.COVERAGE_UPDATED
        return self._ensure_allowed(event, Action.SUBMIT_COVERAGE)

    def submit_coverage(self, sub: CoverageSubmission, now: datetime) -> EngineDecision:
        s = self.state
        event = self._coverage_event(sub)
        s.waiting_until = None
        s.eligibility_retry_at = None
        self._clear(Flag.ELIGIBILITY_UNAVAILABLE)
        if event is Event.SELF_PAY:
            s.self_pay = True
            s.appeal_deadline = None
            self._clear(Flag.COVERAGE_INACTIVE, Flag.APPEAL_OPEN, Flag.PAYER_OVERDUE)
            self._stop_waiting_on_payer()
            self._move(event, now, sub.recorded_by)
            self._enroll(s.requested_level or LevelOfCare.IOP, now)
        else:
            s.coverage = sub.coverage
            self._move(event, now, sub.recorded_by)
            self._command(CommandKind.CHECK_ELIGIBILITY)
        return self._decision(sub.submission_id)
