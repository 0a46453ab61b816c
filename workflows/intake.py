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
from workflows.engine_core import ENGINE, PATIENT_TEMPLATE
from workflows.quality_clocks import QualityClocksMixin
from workflows.state import ENGINE_V2, CommandKind


class IntakeMixin(QualityClocksMixin):
    """From referral to the payer's first answer."""

    def begin(self, now: datetime) -> None:
        self.state.coverage = self.state.start.coverage
        self._move(Event.REFERRAL_RECEIVED, now, ENGINE)
        self._notify(Recipient.CARE_TEAM, "referral_received")
        self._open_iet_clock(now)

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
        if not self._checking_eligibility():
            return
        if not retryable and s.phase is CarePhase.IN_TREATMENT:
            s.rechecking_coverage = False
            self._raise(Flag.COVERAGE_INACTIVE)
            self._notify(
                Recipient.FINANCIAL_COUNSELING, "coverage_inactive", reason="member_data_rejected"
            )
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
        if not self._checking_eligibility():
            return
        if result is None:
            self.eligibility_failed(retryable=False, now=now)
            return
        s.eligibility_retry_at = None
        self._clear(Flag.ELIGIBILITY_UNAVAILABLE)
        if s.phase is CarePhase.IN_TREATMENT:
            self._coverage_rechecked(result, now)
            return
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

    def _resolve_coverage(self, sub: CoverageSubmission) -> Event:
        event = Event.SELF_PAY if sub.self_pay else Event.COVERAGE_UPDATED
        return self._ensure_allowed(event, Action.SUBMIT_COVERAGE)

    def _apply_coverage(
        self, sub: CoverageSubmission, event: Event, now: datetime
    ) -> EngineDecision:
        """New coverage or self-pay, wherever a patient can have them.

        Whatever was asked of the old payer is withdrawn (UR is told), and an appeal of
        its denial ends. In treatment the patient stays where they are: new coverage is
        checked (and authorized if needed) in the background; self-pay ends the watch on
        units, and a level change that was waiting on the payer goes ahead.
        """
        s = self.state
        phase = s.phase
        if phase is CarePhase.FINANCIAL_COUNSELING:
            s.waiting_until = None  # the financial hold
        s.eligibility_retry_at = None
        self._tell_ur_to_withdraw()
        self._stop_waiting_on_payer()
        s.appeal_deadline = None
        s.appeal = None
        self._clear(
            Flag.ELIGIBILITY_UNAVAILABLE,
            Flag.APPEAL_OPEN,
            Flag.PAYER_OVERDUE,
            Flag.DISCLOSURE_CONSENT_MISSING,
        )
        if event is Event.SELF_PAY:
            s.self_pay = True
            s.rechecking_coverage = False
            self._clear(Flag.COVERAGE_INACTIVE)
            self._move(event, now, sub.recorded_by)
            if phase is CarePhase.IN_TREATMENT:
                self._drop_authorization()
                target = s.requested_level
                if target is not None and target is not s.delivered_level:
                    self._enroll(target, now)
                s.requested_level = None
            elif phase is not CarePhase.EXTERNAL_CARE:
                self._enroll(s.requested_level or LevelOfCare.IOP, now)
        else:
            s.coverage = sub.coverage
            s.coverage_ref = sub.submission_id
            s.self_pay = False
            self._move(event, now, sub.recorded_by)
            if phase is not CarePhase.EXTERNAL_CARE:
                s.rechecking_coverage = phase is CarePhase.IN_TREATMENT
                self._command(CommandKind.CHECK_ELIGIBILITY)
        return self._decision(sub.submission_id)

    def _drop_authorization(self) -> None:
        s = self.state
        s.authorization = None
        s.authorized_level = None
        self._clear(Flag.AUTHORIZATION_LOW, Flag.AUTHORIZATION_EXPIRED, Flag.UNITS_EXHAUSTED)

    def _coverage_rechecked(self, result: EligibilityResult, now: datetime) -> None:
        """New coverage during treatment: the old authorization belonged to the old payer."""
        s = self.state
        s.rechecking_coverage = False
        if not result.active:
            self._raise(Flag.COVERAGE_INACTIVE)
            self._notify(Recipient.FINANCIAL_COUNSELING, "coverage_inactive", reason="inactive")
            return
        self._clear(Flag.COVERAGE_INACTIVE)
        self._drop_authorization()
        level = s.requested_level or s.delivered_level
        assert level is not None
        if result.authorization is not AuthRequirement.NOT_REQUIRED and (
            s.start.policy.requires_authorization(level)
        ):
            self._request_authorization(PayerRequestKind.INITIAL, level, s.requested_expedited, now)
