"""Prior authorization, concurrent reviews, denials and appeals."""

from __future__ import annotations

from datetime import datetime

from rules import authorization as auth_rules
from rules.levels import INTENSITY, LevelOfCare
from rules.recommendation import Flag
from rules.transitions import Action, CarePhase, Event, TransitionNotAllowed
from schemas.payer import PayerAnswer, PayerRequestKind, PayerStatus
from schemas.records import AuthorizationRecord, AuthorizationStatus, Recipient
from schemas.submissions import AuthorizationDecision, AuthorizationKind
from schemas.view import AppealView, EngineDecision, PendingPayerRequest
from workflows.engine_core import EngineCore, InvalidSubmission
from workflows.state import ENGINE_V2, AuthorizationState, Command

STATUS_AFTER: dict[Event, AuthorizationStatus] = {
    Event.AUTH_APPROVED: AuthorizationStatus.APPROVED,
    Event.EXTENSION_APPROVED: AuthorizationStatus.EXTENSION_APPROVED,
    Event.APPEAL_APPROVED: AuthorizationStatus.APPEAL_APPROVED,
    Event.AUTH_DENIED: AuthorizationStatus.DENIED,
    Event.AUTH_DENIED_RESUME: AuthorizationStatus.DENIED,
    Event.EXTENSION_DENIED: AuthorizationStatus.EXTENSION_DENIED,
    Event.APPEAL_UPHELD: AuthorizationStatus.APPEAL_UPHELD,
    Event.APPEAL_FILED: AuthorizationStatus.APPEAL_FILED,
    Event.LEVEL_CHANGE_APPROVED: AuthorizationStatus.APPROVED,
    Event.LEVEL_CHANGE_DENIED: AuthorizationStatus.DENIED,
}
GRANTING_EVENTS = frozenset(
    {
        Event.AUTH_APPROVED,
        Event.APPEAL_APPROVED,
        Event.EXTENSION_APPROVED,
        Event.LEVEL_CHANGE_APPROVED,
    }
)
APPEAL_OUTCOMES = frozenset({Event.APPEAL_APPROVED, Event.APPEAL_UPHELD})
# Denials that open an appeal window.
APPEALABLE_EVENTS = frozenset(
    {Event.AUTH_DENIED, Event.AUTH_DENIED_RESUME, Event.EXTENSION_DENIED, Event.LEVEL_CHANGE_DENIED}
)


class AuthorizationMixin(EngineCore):
    """The payer's answers, whether the payer or UR staff give them."""

    def _level_change_pending(self) -> bool:
        s = self.state
        return (
            s.phase is CarePhase.IN_TREATMENT
            and s.requested_level is not None
            and s.requested_level is not s.delivered_level
        )

    def payer_answered(self, command: Command, answer: PayerAnswer | None, now: datetime) -> None:
        """Apply the payer's immediate answer; pending means a person records it later."""
        s = self.state
        assert command.level is not None and command.payer_kind is not None
        s.authorizations.append(
            AuthorizationRecord(
                authorization_number=s.authorization.authorization_number
                if s.authorization and command.payer_kind is PayerRequestKind.CONCURRENT_REVIEW
                else None,
                payer_id=s.coverage.payer_id if s.coverage else None,
                level=command.level,
                status=(
                    AuthorizationStatus.CONCURRENT_REVIEW_REQUESTED
                    if command.payer_kind is PayerRequestKind.CONCURRENT_REVIEW
                    else AuthorizationStatus.INITIAL_REQUESTED
                ),
                at=now,
            )
        )
        if not self.awaits_payer_answer(command):
            # A decision was recorded (or the episode moved on) while this request was
            # out: keep the request in the record and tell UR; never act on the answer.
            self._notify(
                Recipient.UTILIZATION_REVIEW,
                "payer_answer_not_applied",
                reference=answer.reference if answer else f"unsent-{command.seq}",
                status=answer.status.value if answer else "unsent",
            )
            return
        if answer is None or answer.status is PayerStatus.PENDING:
            s.pending_payer = PendingPayerRequest(
                kind=command.payer_kind.value,
                level=command.level,
                reference=answer.reference if answer else f"unsent-{command.seq}",
                submitted_at=now,
                decision_due_at=self._decision_due(now, command),
                expedited=command.expedited,
                urgent_concurrent=command.urgent_concurrent,
            )
            self._notify(
                Recipient.UTILIZATION_REVIEW,
                f"{command.payer_kind.value}_submitted",
                level=command.level.value,
            )
            return
        decision = AuthorizationDecision(
            decision_id=f"payer-{answer.reference}",
            recorded_by="payer",
            kind=(
                AuthorizationKind.APPROVED
                if answer.status is PayerStatus.APPROVED
                else AuthorizationKind.DENIED
            ),
            level=command.level,
            units=answer.units,
            start_date=answer.start_date,
            end_date=answer.end_date,
            authorization_number=answer.authorization_number,
            next_review_date=answer.next_review_date,
            reason=answer.reason
            or ("denied by payer" if answer.status is PayerStatus.DENIED else None),
        )
        try:
            event = self._resolve_authorization(decision)
        except (InvalidSubmission, TransitionNotAllowed):
            # The episode moved on while the request was out (withdrawn, say): keep the
            # answer for the record and tell UR, but do not act on it.
            self._notify(
                Recipient.UTILIZATION_REVIEW,
                "payer_answer_not_applied",
                reference=answer.reference,
                status=answer.status.value,
            )
            return
        self._apply_payer_decision(decision, event, now)

    def _resolve_authorization(self, sub: AuthorizationDecision) -> Event:
        s = self.state
        kind = sub.kind
        approving = kind in (AuthorizationKind.APPROVED, AuthorizationKind.APPEAL_APPROVED)
        expected = self._expected_auth_level()
        if kind is AuthorizationKind.APPEAL_FILED:
            if s.appeal_deadline is None:
                filed = s.appeal is not None and s.appeal.filed_at is not None
                raise InvalidSubmission(
                    "an appeal is already filed: record its outcome"
                    if filed
                    else f"no appeal window is open in phase '{s.phase}'"
                )
            return self._ensure_allowed(Event.APPEAL_FILED, Action.RECORD_AUTHORIZATION)
        if kind in (AuthorizationKind.APPEAL_APPROVED, AuthorizationKind.APPEAL_UPHELD):
            if s.phase is not CarePhase.APPEAL and s.appeal is None:
                raise InvalidSubmission(f"no appeal is open in phase '{s.phase}'")
            event = Event.APPEAL_APPROVED if approving else Event.APPEAL_UPHELD
            expected = s.appeal.level if s.appeal else expected
        elif s.phase is CarePhase.APPEAL:
            raise InvalidSubmission(
                "during an appeal record kind 'appeal_filed', 'appeal_approved' or 'appeal_upheld'"
            )
        elif self._level_change_pending():
            event = Event.LEVEL_CHANGE_APPROVED if approving else Event.LEVEL_CHANGE_DENIED
        elif s.phase is CarePhase.IN_TREATMENT:
            waiting = s.pending_payer is not None or s.payer_request_seq is not None
            if s.authorization is None and not waiting:
                raise InvalidSubmission("no authorization or concurrent review is pending")
            if not approving and s.appeal is not None and not waiting:
                raise InvalidSubmission(
                    "the earlier denial is open for appeal and nothing else is pending: "
                    "record the appeal (appeal_filed, appeal_approved, appeal_upheld)"
                )
            event = Event.EXTENSION_APPROVED if approving else Event.EXTENSION_DENIED
        elif s.phase is CarePhase.AUTHORIZATION:
            if approving:
                event = Event.AUTH_APPROVED
            else:
                event = Event.AUTH_DENIED_RESUME if s.delivered_level else Event.AUTH_DENIED
        else:
            event = Event.AUTH_APPROVED  # _ensure_allowed names what is allowed instead
        # A payer may approve a lower level than asked for: that is what was granted.
        if approving and sub.level and expected and INTENSITY[sub.level] > INTENSITY[expected]:
            raise InvalidSubmission(
                f"the approval is for '{sub.level}', above the '{expected}' requested"
            )
        return self._ensure_allowed(event, Action.RECORD_AUTHORIZATION)

    def _apply_authorization(
        self, sub: AuthorizationDecision, event: Event, now: datetime
    ) -> EngineDecision:
        if event is Event.APPEAL_FILED:
            self._file_appeal(sub, now)
        else:
            self._apply_payer_decision(sub, event, now)
        return self._decision(sub.decision_id)

    def _file_appeal(self, sub: AuthorizationDecision, now: datetime) -> None:
        """The window stops; the payer's decision deadline on the appeal starts."""
        s = self.state
        denied = s.appeal or AppealView(
            level=self._expected_auth_level() or LevelOfCare.IOP, denied_at=now
        )
        due = auth_rules.appeal_decision_deadline(now, sub.expedited, s.start.policy)
        s.appeal = denied.model_copy(
            update={"filed_at": now, "decision_due_at": due, "expedited": sub.expedited}
        )
        s.appeal_deadline = None
        self._raise(Flag.APPEAL_OPEN)
        s.authorizations.append(
            AuthorizationRecord(
                authorization_number=None,
                payer_id=s.coverage.payer_id if s.coverage else None,
                level=denied.level,
                status=AuthorizationStatus.APPEAL_FILED,
                at=now,
            )
        )
        self._move(Event.APPEAL_FILED, now, sub.recorded_by)
        for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
            self._notify(who, "appeal_filed", decision_due=due.isoformat())

    def _apply_payer_decision(
        self, sub: AuthorizationDecision, event: Event, now: datetime
    ) -> None:
        """A payer's decision (from the payer, or recorded by UR) that `event` moves by."""
        s = self.state
        policy = s.start.policy
        appealed = s.appeal.level if s.appeal and event in APPEAL_OUTCOMES else None
        level = sub.level or appealed or self._expected_auth_level() or LevelOfCare.IOP
        was_treating = s.phase is CarePhase.IN_TREATMENT
        if event is not Event.APPEAL_UPHELD:
            self._stop_waiting_on_payer()
        self._clear(Flag.PAYER_OVERDUE, Flag.DISCLOSURE_CONSENT_MISSING)
        approving = event in GRANTING_EVENTS
        if approving:
            assert sub.units and sub.start_date and sub.end_date and sub.authorization_number
            s.authorization = AuthorizationState(
                status=STATUS_AFTER[event],
                authorization_number=sub.authorization_number,
                level=level,
                unit_type=sub.unit_type,
                units_approved=sub.units,
                start_date=sub.start_date,
                end_date=sub.end_date,
                next_review_date=sub.next_review_date,
            )
            s.authorized_level = level
            s.appeal_deadline = None
            s.appeal = None
            self._clear(
                Flag.APPEAL_OPEN,
                Flag.AUTHORIZATION_LOW,
                Flag.AUTHORIZATION_EXPIRED,
                Flag.UNITS_EXHAUSTED,
            )
        else:
            s.appeal_deadline = (
                auth_rules.appeal_deadline(now, policy) if event in APPEALABLE_EVENTS else None
            )
            s.appeal = (
                AppealView(level=level, denied_at=now)
                if s.appeal_deadline and s.engine_version >= ENGINE_V2
                else None
            )
            if s.appeal_deadline:
                self._raise(Flag.APPEAL_OPEN)
            else:
                self._clear(Flag.APPEAL_OPEN)
        s.authorizations.append(
            AuthorizationRecord(
                authorization_number=sub.authorization_number,
                payer_id=s.coverage.payer_id if s.coverage else None,
                level=level,
                status=STATUS_AFTER[event],
                unit_type=sub.unit_type.value if approving else None,
                units_approved=sub.units if approving else None,
                units_used=0 if approving else None,
                start_date=sub.start_date,
                end_date=sub.end_date,
                at=now,
            )
        )
        self._move(event, now, sub.recorded_by)
        if event is Event.APPEAL_APPROVED and was_treating and level is s.delivered_level:
            self._notify(Recipient.CARE_TEAM, "appeal_approved", level=level.value)
        elif event in (Event.AUTH_APPROVED, Event.APPEAL_APPROVED):
            self._enroll(level, now)
        elif event is Event.LEVEL_CHANGE_APPROVED:
            if level is s.delivered_level:  # a lower level than asked: the current one
                s.requested_level = None
                self._notify(Recipient.CARE_TEAM, "level_change_approved", level=level.value)
            else:
                self._enroll(level, now)
        elif not approving:
            deadline = s.appeal_deadline.isoformat() if s.appeal_deadline else ""
            for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
                self._notify(who, event.value, appeal_deadline=deadline)
            if event is Event.AUTH_DENIED_RESUME:
                s.requested_level = None
                self._start_review_clock(now)
            elif event is Event.LEVEL_CHANGE_DENIED:
                s.requested_level = None  # the patient stays where they are; clock runs on
