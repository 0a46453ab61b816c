"""The episode engine: applies submissions and timers to the carried state.

Deterministic and free of Temporal imports: the workflow gives it `now` and the
submissions, and takes back the decision, the records to write, the messages to send
and the payer commands to run. Every phase change goes through `_move`, which reads
the one transition table in `rules.transitions`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from rules import authorization as auth_rules
from rules import instruments, outcomes, schedule
from rules.levels import INTENSITY, LevelOfCare, is_external
from rules.recommendation import (
    Flag,
    Recommendation,
    RecommendedAction,
    recommend_after_assessment,
    recommend_after_review,
)
from rules.transitions import (
    Action,
    CarePhase,
    Event,
    TransitionNotAllowed,
    allowed_actions,
    require_action,
    transition,
)
from schemas.episode import workflow_id_for
from schemas.payer import (
    AuthRequirement,
    EligibilityResult,
    PayerAnswer,
    PayerRequestKind,
    PayerStatus,
)
from schemas.records import (
    AuthorizationRecord,
    EffectBatch,
    EpisodeSnapshot,
    NotificationRequest,
    Recipient,
    ReviewRecord,
    TransitionRecord,
    Urgency,
)
from schemas.submissions import (
    AssessmentSubmission,
    AuthorizationDecision,
    AuthorizationKind,
    ClinicianDecision,
    CoverageSubmission,
    DecisionAction,
    EpisodeEvent,
    EpisodeEventKind,
    ReviewSubmission,
)
from schemas.view import (
    AuthorizationView,
    EngineDecision,
    EpisodeView,
    PendingPayerRequest,
    ScoresView,
)
from workflows.state import (
    RECENT_RESULTS_KEPT,
    SCORES_KEPT,
    AuthorizationState,
    Command,
    CommandKind,
    EpisodeState,
    ReviewClock,
)

T = TypeVar("T")
ENGINE = "engine"
PATIENT_TEMPLATE = "new_message"


class InvalidSubmission(ValueError):
    """A submission the phase allows but whose content the rules refuse."""


class EpisodeEngine:
    def __init__(self, state: EpisodeState) -> None:
        self.state = state

    # ---------------------------------------------------------------- reading

    @property
    def episode_id(self) -> str:
        return self.state.start.episode_id

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.episode_id)

    @property
    def closed(self) -> bool:
        return self.state.phase is CarePhase.CLOSED

    def has_effects(self) -> bool:
        s = self.state
        return bool(s.commands or s.transitions or s.reviews or s.authorizations or s.notifications)

    def view(self, now: datetime) -> EpisodeView:
        s = self.state
        return EpisodeView(
            episode_id=self.episode_id,
            program_id=s.start.program_id,
            phase=s.phase,
            outcome=s.outcome,
            authorized_level=s.authorized_level,
            delivered_level=s.delivered_level,
            requested_level=s.requested_level,
            next_review_due=s.review.due if s.review else None,
            review_status=(
                schedule.review_status(s.review.due, now, s.start.policy) if s.review else None
            ),
            authorization=self._authorization_view(),
            pending_payer_request=s.pending_payer,
            appeal_deadline=s.appeal_deadline,
            followup_due=s.followup_due,
            aftercare_checkins_done=s.aftercare_checkins_done,
            scores=ScoresView(
                baseline_phq9=s.baseline_phq9,
                latest_phq9=s.phq9_history[-1] if s.phq9_history else s.baseline_phq9,
                latest_gad7=s.latest_gad7,
                phq9_history=list(s.phq9_history),
                trend=outcomes.trend(self._scores_with_baseline(), s.start.policy),
            ),
            flags=list(s.flags),
            consecutive_low_attendance_weeks=s.consecutive_low_weeks,
            last_recommendation=s.last_recommendation,
            allowed_actions=allowed_actions(s.phase),
            started_at=s.started_at,
            updated_at=s.updated_at,
            run_count=s.run_count,
        )

    def snapshot(self) -> EpisodeSnapshot:
        s = self.state
        return EpisodeSnapshot(
            episode_id=self.episode_id,
            program_id=s.start.program_id,
            phase=s.phase,
            outcome=s.outcome,
            level_authorized=s.authorized_level,
            level_delivered=s.delivered_level,
            started_at=s.started_at,
            closed_at=s.closed_at,
            next_review_due=s.review.due if s.review else None,
            risk_flag=Flag.RISK in s.flags,
            baseline_phq9=s.baseline_phq9,
            latest_phq9=s.phq9_history[-1] if s.phq9_history else s.baseline_phq9,
            updated_at=s.updated_at,
        )

    def _authorization_view(self) -> AuthorizationView | None:
        a = self.state.authorization
        if a is None:
            return None
        return AuthorizationView(
            authorization_number=a.authorization_number,
            level=a.level,
            unit_type=a.unit_type,
            units_approved=a.units_approved,
            units_used=a.units_used,
            units_left=auth_rules.units_left(a.units_approved, a.units_used),
            start_date=a.start_date,
            end_date=a.end_date,
            concurrent_review_requested_at=a.concurrent_review_requested_at,
        )

    def _scores_with_baseline(self) -> list[int]:
        s = self.state
        base = [s.baseline_phq9] if s.baseline_phq9 is not None else []
        return base + s.phq9_history

    # ------------------------------------------------------------- effects out

    def take_commands(self) -> list[Command]:
        commands, self.state.commands = self.state.commands, []
        return commands

    def take_batch(self, run_id: str) -> EffectBatch | None:
        s = self.state
        if not (s.transitions or s.reviews or s.authorizations or s.notifications):
            return None
        batch = EffectBatch(
            workflow_id=self.workflow_id,
            run_id=run_id,
            seq=self._next_seq(),
            episode=self.snapshot(),
            transitions=s.transitions,
            reviews=s.reviews,
            authorizations=s.authorizations,
            notifications=s.notifications,
        )
        s.transitions, s.reviews, s.authorizations, s.notifications = [], [], [], []
        return batch

    def _next_seq(self) -> int:
        self.state.seq += 1
        return self.state.seq

    def _notify(
        self,
        recipient: Recipient,
        template: str,
        *,
        urgent: bool = False,
        **params: str,
    ) -> None:
        """Queue a message. Patients only ever get the content-free `new_message`."""
        if recipient is Recipient.PATIENT:
            if not self.state.start.consents.messaging:
                return
            template, params = PATIENT_TEMPLATE, {}
        self.state.messages_queued += 1
        self.state.notifications.append(
            NotificationRequest(
                message_id=f"{self.workflow_id}:m{self.state.messages_queued}",
                episode_id=self.episode_id,
                program_id=self.state.start.program_id,
                recipient=recipient,
                template=template,
                urgency=Urgency.URGENT if urgent else Urgency.ROUTINE,
                params=params,
            )
        )

    def _command(self, kind: CommandKind, **fields: object) -> None:
        self.state.commands.append(
            Command.model_validate({"kind": kind, "seq": self._next_seq(), **fields})
        )

    # ---------------------------------------------------------------- moving

    def _move(self, event: Event, now: datetime, actor: str) -> None:
        """Apply one event through the transition table and record it."""
        s = self.state
        step = transition(s.phase, event)
        s.transitions.append(
            TransitionRecord(
                from_phase=s.phase,
                to_phase=step.to,
                event=event,
                reason=step.reason,
                actor=actor,
                at=now,
                level_delivered=s.delivered_level,
                level_authorized=s.authorized_level,
            )
        )
        s.phase = step.to
        s.updated_at = now
        if step.to is CarePhase.CLOSED:
            s.closed_at = now
            s.outcome = s.outcome or step.reason
            s.review = None
            s.waiting_until = None
            s.pending_payer = None
        if step.to is not CarePhase.IN_TREATMENT:
            s.review = None

    def _raise(self, *flags: Flag) -> None:
        for flag in flags:
            if flag not in self.state.flags:
                self.state.flags.append(flag)

    def _clear(self, *flags: Flag) -> None:
        self.state.flags = [f for f in self.state.flags if f not in flags]

    def _decision(
        self,
        submission_id: str,
        rec: Recommendation | None = None,
        reasons: list[str] | None = None,
    ) -> EngineDecision:
        s = self.state
        decision = EngineDecision(
            submission_id=submission_id,
            phase=s.phase,
            delivered_level=s.delivered_level,
            recommended_action=rec.action if rec else None,
            target_level=rec.target_level if rec else None,
            reasons=(rec.reasons if rec else []) + (reasons or []),
            flags=list(s.flags),
            urgent=rec.urgent if rec else False,
            allowed_actions=allowed_actions(s.phase),
        )
        s.recent_results[submission_id] = decision
        while len(s.recent_results) > RECENT_RESULTS_KEPT:
            s.recent_results.pop(next(iter(s.recent_results)))
        return decision

    def earlier_result(self, submission_id: str) -> EngineDecision | None:
        """The answer already given to this submission ID, marked as a duplicate."""
        found = self.state.recent_results.get(submission_id)
        return found.model_copy(update={"duplicate": True}) if found else None

    # ----------------------------------------------------------------- begin

    def begin(self, now: datetime) -> None:
        self.state.coverage = self.state.start.coverage
        self._move(Event.REFERRAL_RECEIVED, now, ENGINE)
        self._notify(Recipient.CARE_TEAM, "referral_received")

    # ------------------------------------------------------------ validation

    def validate(self, action: Action, submission: object) -> None:
        """Raise TransitionNotAllowed or InvalidSubmission; never changes state."""
        found_id = submission_id(submission)
        if found_id in self.state.recent_results:
            return
        require_action(self.state.phase, action)
        if action is Action.SUBMIT_COVERAGE:
            self._coverage_event(_as(submission, CoverageSubmission))
        elif action is Action.RECORD_AUTHORIZATION:
            self._authorization_event(_as(submission, AuthorizationDecision))
        elif action is Action.SUBMIT_REVIEW:
            self._check_review(_as(submission, ReviewSubmission))
        elif action is Action.DECIDE:
            self._decision_event(_as(submission, ClinicianDecision))
        elif action is Action.REPORT_EVENT:
            self._report_event(_as(submission, EpisodeEvent))

    def _ensure_allowed(self, event: Event, action: Action) -> Event:
        try:
            transition(self.state.phase, event)
        except TransitionNotAllowed as refused:
            allowed = [a.value for a in allowed_actions(self.state.phase)]
            attempted = f"{action.value} ({event.value})"
            raise TransitionNotAllowed(self.state.phase, attempted, allowed) from refused
        return event

    # ------------------------------------------------------------ assessment

    def submit_assessment(self, sub: AssessmentSubmission, now: datetime) -> EngineDecision:
        s = self.state
        phq9 = instruments.phq9_total(sub.phq9.items)
        self_harm = instruments.phq9_self_harm(sub.phq9.items)
        cssrs_high = (
            instruments.cssrs_high_risk(
                sub.cssrs.answers, behaviour_past_3_months=sub.cssrs.behaviour_past_3_months
            )
            if sub.cssrs
            else False
        )
        rec = recommend_after_assessment(
            determined_level=sub.determination.level, self_harm=self_harm, cssrs_high=cssrs_high
        )
        s.baseline_phq9 = phq9
        if sub.gad7:
            s.latest_gad7 = instruments.gad7_total(sub.gad7.items)
        self._raise(*rec.raise_flags)
        s.reviews.append(
            ReviewRecord(
                review_id=sub.assessment_id,
                kind="assessment",
                clinician_id=sub.clinician_id,
                at=now,
                level=sub.determination.level,
                phq9_total=phq9,
                phq9_item9=sub.phq9.items[8],
                gad7_total=s.latest_gad7,
                cssrs_high_risk=cssrs_high if sub.cssrs else None,
                recommended_action=rec.action.value,
                reasons=rec.reasons,
            )
        )
        if rec.urgent:
            self._notify(Recipient.CARE_TEAM, "safety_alert", urgent=True, reason=rec.reasons[0])
        if s.followup_due is not None:
            self._followup_met()
        target = rec.target_level or sub.determination.level
        if rec.action is RecommendedAction.REFER_OUT:
            s.delivered_level = target
            if sub.await_return_if_referred_out:
                s.waiting_until = now + timedelta(days=s.start.policy.external_wait_days)
                self._move(Event.ASSESSED_EXTERNAL_AWAIT, now, sub.clinician_id)
            else:
                self._move(Event.ASSESSED_EXTERNAL_CLOSE, now, sub.clinician_id)
            self._notify(Recipient.CARE_TEAM, "referred_out", urgent=True, level=target.value)
        else:
            s.requested_level = target
            self._move(Event.ASSESSED_PROGRAM_LEVEL, now, sub.clinician_id)
            self._start_verification(now)
        return self._decision(sub.assessment_id, rec)

    # -------------------------------------------------------------- coverage

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

    def eligibility_checked(self, result: EligibilityResult | None, now: datetime) -> None:
        """Apply the payer's 271 (None: the payer could not be asked or refused the data)."""
        s = self.state
        if s.phase is not CarePhase.INSURANCE_VERIFICATION:
            return
        if result is None or not result.active:
            self._coverage_inactive(now, "eligibility_unverified" if result is None else "inactive")
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
        if event is Event.SELF_PAY:
            s.self_pay = True
            s.appeal_deadline = None
            self._clear(Flag.COVERAGE_INACTIVE, Flag.APPEAL_OPEN, Flag.PAYER_OVERDUE)
            s.pending_payer = None
            self._move(event, now, sub.recorded_by)
            self._enroll(s.requested_level or LevelOfCare.IOP, now)
        else:
            s.coverage = sub.coverage
            self._move(event, now, sub.recorded_by)
            self._command(CommandKind.CHECK_ELIGIBILITY)
        return self._decision(sub.submission_id)

    # --------------------------------------------------------- authorization

    def _request_authorization(
        self, kind: PayerRequestKind, level: LevelOfCare, expedited: bool, now: datetime
    ) -> None:
        """Ask the payer, unless 42 CFR Part 2 forbids the disclosure without consent.

        Then the request is held: staff obtain consent, file it themselves, and record the
        payer's decision as for any pending request (whose deadline still escalates).
        """
        s = self.state
        if s.start.policy.part2_program and not s.start.consents.payer_disclosure:
            self._raise(Flag.DISCLOSURE_CONSENT_MISSING)
            s.pending_payer = PendingPayerRequest(
                kind=kind.value,
                level=level,
                reference="held-for-consent",
                submitted_at=now,
                decision_due_at=auth_rules.payer_decision_deadline(now, expedited, s.start.policy),
                expedited=expedited,
            )
            self._notify(
                Recipient.UTILIZATION_REVIEW, "payer_disclosure_consent_missing", kind=kind.value
            )
            return
        self._command(
            CommandKind.REQUEST_AUTHORIZATION, payer_kind=kind, level=level, expedited=expedited
        )

    def payer_answered(self, command: Command, answer: PayerAnswer | None, now: datetime) -> None:
        """Apply the payer's immediate answer; pending means a person records it later."""
        s = self.state
        assert command.level is not None and command.payer_kind is not None
        policy = s.start.policy
        s.authorizations.append(
            AuthorizationRecord(
                authorization_number=s.authorization.authorization_number
                if s.authorization and command.payer_kind is PayerRequestKind.CONCURRENT_REVIEW
                else None,
                payer_id=s.coverage.payer_id if s.coverage else None,
                level=command.level,
                status=f"{command.payer_kind.value}_requested",
                at=now,
            )
        )
        if answer is None or answer.status is PayerStatus.PENDING:
            s.pending_payer = PendingPayerRequest(
                kind=command.payer_kind.value,
                level=command.level,
                reference=answer.reference if answer else f"unsent-{command.seq}",
                submitted_at=now,
                decision_due_at=auth_rules.payer_decision_deadline(now, command.expedited, policy),
                expedited=command.expedited,
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
            reason=answer.reason
            or ("denied by payer" if answer.status is PayerStatus.DENIED else None),
        )
        event = self._authorization_event(decision)
        self._apply_authorization(decision, event, now)

    def _authorization_event(self, sub: AuthorizationDecision) -> Event:
        s = self.state
        approving = sub.kind in (AuthorizationKind.APPROVED, AuthorizationKind.APPEAL_APPROVED)
        if s.phase is CarePhase.APPEAL:
            if sub.kind not in (AuthorizationKind.APPEAL_APPROVED, AuthorizationKind.APPEAL_UPHELD):
                raise InvalidSubmission(
                    "during an appeal record kind 'appeal_approved' or 'appeal_upheld'"
                )
            return Event.APPEAL_APPROVED if approving else Event.APPEAL_UPHELD
        if sub.kind in (AuthorizationKind.APPEAL_APPROVED, AuthorizationKind.APPEAL_UPHELD):
            raise InvalidSubmission(f"no appeal is open in phase '{s.phase}'")
        if s.phase is CarePhase.IN_TREATMENT:
            if s.authorization is None and s.pending_payer is None:
                raise InvalidSubmission("no authorization or concurrent review is pending")
            event = Event.EXTENSION_APPROVED if approving else Event.EXTENSION_DENIED
        elif s.phase is CarePhase.AUTHORIZATION:
            if approving:
                event = Event.AUTH_APPROVED
            else:
                event = Event.AUTH_DENIED_RESUME if s.delivered_level else Event.AUTH_DENIED
        else:
            event = Event.AUTH_APPROVED  # _ensure_allowed names what is allowed instead
        expected = self._expected_auth_level()
        if approving and sub.level is not None and expected and sub.level != expected:
            raise InvalidSubmission(
                f"the approval is for '{sub.level}' but '{expected}' was requested"
            )
        return self._ensure_allowed(event, Action.RECORD_AUTHORIZATION)

    def _expected_auth_level(self) -> LevelOfCare | None:
        s = self.state
        if s.phase is CarePhase.IN_TREATMENT:
            return s.delivered_level
        return s.requested_level

    def record_authorization(self, sub: AuthorizationDecision, now: datetime) -> EngineDecision:
        event = self._authorization_event(sub)
        self._apply_authorization(sub, event, now)
        return self._decision(sub.decision_id)

    def _apply_authorization(self, sub: AuthorizationDecision, event: Event, now: datetime) -> None:
        s = self.state
        policy = s.start.policy
        level = sub.level or self._expected_auth_level() or LevelOfCare.IOP
        s.pending_payer = None
        self._clear(Flag.PAYER_OVERDUE, Flag.DISCLOSURE_CONSENT_MISSING)
        approving = event in (Event.AUTH_APPROVED, Event.APPEAL_APPROVED, Event.EXTENSION_APPROVED)
        if approving:
            assert sub.units and sub.start_date and sub.end_date and sub.authorization_number
            s.authorization = AuthorizationState(
                authorization_number=sub.authorization_number,
                level=level,
                unit_type=sub.unit_type,
                units_approved=sub.units,
                start_date=sub.start_date,
                end_date=sub.end_date,
            )
            s.authorized_level = level
            s.appeal_deadline = None
            self._clear(Flag.APPEAL_OPEN, Flag.AUTHORIZATION_LOW, Flag.AUTHORIZATION_EXPIRED)
        else:
            s.appeal_deadline = (
                auth_rules.appeal_deadline(now, policy)
                if event in (Event.AUTH_DENIED, Event.AUTH_DENIED_RESUME, Event.EXTENSION_DENIED)
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
                status=event.value,
                unit_type=sub.unit_type.value if approving else None,
                units_approved=sub.units if approving else None,
                units_used=0 if approving else None,
                start_date=sub.start_date,
                end_date=sub.end_date,
                at=now,
            )
        )
        self._move(event, now, sub.recorded_by)
        if event in (Event.AUTH_APPROVED, Event.APPEAL_APPROVED):
            self._enroll(level, now)
        elif not approving:
            deadline = s.appeal_deadline.isoformat() if s.appeal_deadline else ""
            for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
                self._notify(who, event.value, appeal_deadline=deadline)
            if event is Event.AUTH_DENIED_RESUME:
                s.requested_level = None
                self._start_review_clock(now)

    # ------------------------------------------------------------ enrollment

    def _enroll(self, level: LevelOfCare, now: datetime) -> None:
        s = self.state
        changed = s.delivered_level is not level
        s.delivered_level = level
        if s.authorization is not None and s.authorization.level is not level:
            s.authorization = None
            s.authorized_level = None
            self._clear(Flag.AUTHORIZATION_LOW, Flag.AUTHORIZATION_EXPIRED)
        s.requested_level = None
        s.requested_expedited = False
        s.waiting_until = None
        if changed:
            s.level_phq9 = []
            s.consecutive_low_weeks = 0
        if s.followup_due is not None:
            self._followup_met()
        self._start_review_clock(now)
        self._notify(Recipient.CARE_TEAM, "enrolled", level=level.value)
        self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)

    def _start_review_clock(self, now: datetime) -> None:
        s = self.state
        assert s.delivered_level is not None
        s.review = ReviewClock(due=schedule.next_review_due(now, s.delivered_level, s.start.policy))
        self._clear(Flag.REVIEW_OVERDUE, Flag.REVIEW_ESCALATED)

    # ---------------------------------------------------------------- review

    def _check_review(self, sub: ReviewSubmission) -> None:
        self._ensure_allowed(Event.REVIEW_RECORDED, Action.SUBMIT_REVIEW)

    def submit_review(self, sub: ReviewSubmission, now: datetime) -> EngineDecision:
        s = self.state
        policy = s.start.policy
        level = s.delivered_level
        assert level is not None
        phq9 = instruments.phq9_total(sub.phq9.items) if sub.phq9 else None
        self_harm = instruments.phq9_self_harm(sub.phq9.items) if sub.phq9 else False
        cssrs_high = (
            instruments.cssrs_high_risk(
                sub.cssrs.answers, behaviour_past_3_months=sub.cssrs.behaviour_past_3_months
            )
            if sub.cssrs
            else False
        )
        if s.baseline_phq9 is None and phq9 is not None:
            s.baseline_phq9 = phq9
        rec = recommend_after_review(
            level=level,
            age_group=s.start.age_group,
            baseline_phq9=s.baseline_phq9,
            phq9_history=s.level_phq9,
            phq9_total=phq9,
            self_harm=self_harm,
            cssrs_high=cssrs_high,
            hours_attended=sub.hours_attended,
            weeks_in_period=sub.period_weeks,
            consecutive_low_weeks_before=s.consecutive_low_weeks,
            policy=policy,
        )
        if phq9 is not None:
            s.phq9_history = [*s.phq9_history, phq9][-SCORES_KEPT:]
            s.level_phq9 = [*s.level_phq9, phq9][-SCORES_KEPT:]
        if sub.gad7:
            s.latest_gad7 = instruments.gad7_total(sub.gad7.items)
        s.consecutive_low_weeks = rec.consecutive_low_weeks
        self._clear(*rec.clear_flags)
        self._raise(*rec.raise_flags)
        if rec.urgent:
            self._notify(Recipient.CARE_TEAM, "safety_alert", urgent=True, reason=rec.reasons[0])
        if Flag.ATTENDANCE_PLAN_REQUIRED in rec.raise_flags:
            self._notify(Recipient.CARE_TEAM, "attendance_plan_required")
        if s.followup_due is not None:
            self._followup_met()
        s.reviews.append(
            ReviewRecord(
                review_id=sub.review_id,
                kind="review",
                clinician_id=sub.clinician_id,
                at=now,
                level=level,
                phq9_total=phq9,
                phq9_item9=sub.phq9.items[8] if sub.phq9 else None,
                gad7_total=s.latest_gad7 if sub.gad7 else None,
                cssrs_high_risk=cssrs_high if sub.cssrs else None,
                hours_attended=sub.hours_attended,
                units_attended=sub.units_attended,
                recommended_action=rec.action.value,
                reasons=rec.reasons,
            )
        )
        self._burn_units(sub.units_attended, now)
        self._move(Event.REVIEW_RECORDED, now, sub.clinician_id)
        self._start_review_clock(now)
        decision = self._decision(sub.review_id, rec)
        s.last_recommendation = decision
        return decision

    def _burn_units(self, units: int, now: datetime) -> None:
        s = self.state
        a = s.authorization
        if a is None:
            return
        a.units_used += units
        self._maybe_request_concurrent_review(now)

    def _watching_units(self) -> bool:
        """An authorization in use, with no extension asked for yet."""
        s = self.state
        a = s.authorization
        return (
            a is not None
            and a.concurrent_review_requested_at is None
            and s.pending_payer is None
            and s.phase is CarePhase.IN_TREATMENT
        )

    def _maybe_request_concurrent_review(self, now: datetime) -> None:
        s = self.state
        a = s.authorization
        if a is None or not self._watching_units():
            return
        if auth_rules.needs_concurrent_review(
            a.units_approved, a.units_used, a.end_date, now.date(), s.start.policy
        ):
            a.concurrent_review_requested_at = now
            self._raise(Flag.AUTHORIZATION_LOW)
            self._request_authorization(PayerRequestKind.CONCURRENT_REVIEW, a.level, False, now)

    # -------------------------------------------------------------- decision

    def _decision_event(self, sub: ClinicianDecision) -> Event:
        s = self.state
        level = s.delivered_level
        assert level is not None or s.phase is not CarePhase.IN_TREATMENT
        risk_open = Flag.RISK in s.flags
        if sub.action is DecisionAction.CONTINUE:
            if risk_open and not sub.override_reason:
                raise InvalidSubmission(
                    "the risk flag is open: continuing at the same level needs override_reason "
                    "(the result of the same-day safety assessment)"
                )
            if Flag.ATTENDANCE_PLAN_REQUIRED in s.flags and not (sub.reason or sub.override_reason):
                raise InvalidSubmission(
                    "attendance was below the minimum two weeks running: "
                    "continuing needs a reason (the plan), or choose a level change"
                )
            event = Event.CONTINUE_LEVEL
        elif sub.action is DecisionAction.DISCHARGE:
            if risk_open and not sub.override_reason:
                raise InvalidSubmission("the risk flag is open: discharge needs override_reason")
            event = Event.DISCHARGE
        else:
            target = sub.target_level
            assert target is not None
            if level is not None:
                up = INTENSITY[target] > INTENSITY[level]
                if sub.action is DecisionAction.STEP_UP and not up:
                    raise InvalidSubmission(f"'{target}' is not a step up from '{level}'")
                if sub.action is DecisionAction.STEP_DOWN and (up or target is level):
                    raise InvalidSubmission(f"'{target}' is not a step down from '{level}'")
                if sub.action is DecisionAction.STEP_DOWN and risk_open and not sub.override_reason:
                    raise InvalidSubmission(
                        "the risk flag is open: stepping down needs override_reason"
                    )
            if is_external(target):
                event = Event.REFER_OUT
            elif s.start.policy.requires_authorization(target) and not s.self_pay:
                event = Event.LEVEL_CHANGE_NEEDS_AUTH
            else:
                event = Event.LEVEL_CHANGE_NO_AUTH
        return self._ensure_allowed(event, Action.DECIDE)

    def decide(self, sub: ClinicianDecision, now: datetime) -> EngineDecision:
        s = self.state
        event = self._decision_event(sub)
        s.reviews.append(
            ReviewRecord(
                review_id=sub.decision_id,
                kind="decision",
                clinician_id=sub.clinician_id,
                at=now,
                level=s.delivered_level,
                decision=f"{sub.action.value}:{sub.target_level.value}"
                if sub.target_level
                else sub.action.value,
                override_reason=sub.override_reason,
                reasons=[sub.reason] if sub.reason else [],
            )
        )
        if sub.action is DecisionAction.CONTINUE or sub.override_reason:
            self._clear(Flag.RISK)
        self._clear(Flag.ATTENDANCE_PLAN_REQUIRED)
        if sub.action is DecisionAction.STEP_UP:
            self._clear(Flag.RISK, Flag.DETERIORATION)
        target = sub.target_level
        if event is Event.CONTINUE_LEVEL:
            self._move(event, now, sub.clinician_id)
        elif event is Event.DISCHARGE:
            self._discharge(event, now, sub.clinician_id, outcome="completed")
        elif event is Event.REFER_OUT:
            assert target is not None
            s.delivered_level = target
            s.waiting_until = now + timedelta(days=s.start.policy.external_wait_days)
            self._move(event, now, sub.clinician_id)
            self._notify(Recipient.CARE_TEAM, "referred_out", urgent=True, level=target.value)
        elif event is Event.LEVEL_CHANGE_NEEDS_AUTH:
            assert target is not None
            s.requested_level = target
            s.requested_expedited = sub.expedited
            self._move(event, now, sub.clinician_id)
            self._request_authorization(PayerRequestKind.INITIAL, target, sub.expedited, now)
        else:
            assert target is not None
            self._move(event, now, sub.clinician_id)
            self._enroll(target, now)
        return self._decision(sub.decision_id)

    def _discharge(self, event: Event, now: datetime, actor: str, *, outcome: str) -> None:
        s = self.state
        s.discharge_outcome = outcome
        s.discharged_at = now
        s.aftercare_checkins_done = 0
        s.delivered_level = None
        s.requested_level = None
        s.waiting_until = None
        s.pending_payer = None
        self._move(event, now, actor)
        self._notify(Recipient.CARE_TEAM, "discharged", outcome=outcome)
        self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)

    # ---------------------------------------------------------------- events

    def _report_event(self, sub: EpisodeEvent) -> Event:
        s = self.state
        kind = sub.kind
        if kind is EpisodeEventKind.WITHDRAWN:
            event = Event.WITHDRAWN
        elif kind is EpisodeEventKind.ENTERED_IN_ERROR:
            event = Event.ENTERED_IN_ERROR
        elif kind is EpisodeEventKind.ADMITTED:
            event = Event.EXTERNAL_ADMITTED
        elif kind is EpisodeEventKind.REFERRAL_CLOSED:
            event = Event.REFERRAL_CLOSED
        else:
            back = sub.level_at_discharge
            if back is not None and is_external(back):
                raise InvalidSubmission(
                    f"level_at_discharge '{back}' is not a program level; use op, iop or php"
                )
            if back is None:
                event = Event.EXTERNAL_DISCHARGE_HOME
            elif s.start.policy.requires_authorization(back) and not s.self_pay:
                event = Event.EXTERNAL_DISCHARGE_NEEDS_AUTH
            else:
                event = Event.EXTERNAL_DISCHARGE_NO_AUTH
        return self._ensure_allowed(event, Action.REPORT_EVENT)

    def report_event(self, sub: EpisodeEvent, now: datetime) -> EngineDecision:
        s = self.state
        policy = s.start.policy
        event = self._report_event(sub)
        actor = sub.reported_by
        if event is Event.WITHDRAWN:
            self._discharge(event, now, actor, outcome="against_advice")
            self._notify(Recipient.CARE_TEAM, "aftercare_offered")
        elif event is Event.ENTERED_IN_ERROR:
            s.outcome = "entered_in_error"
            s.delivered_level = None
            self._move(event, now, actor)
        elif event is Event.EXTERNAL_ADMITTED:
            self._move(event, now, actor)
        elif event is Event.REFERRAL_CLOSED:
            s.outcome = "referred_out"
            self._move(event, now, actor)
        else:
            s.followup_due = now + timedelta(days=policy.external_followup_days)
            self._raise(Flag.FOLLOWUP_DUE)
            self._notify(
                Recipient.CARE_TEAM, "followup_due", due=s.followup_due.isoformat(), urgent=True
            )
            back = sub.level_at_discharge
            if event is Event.EXTERNAL_DISCHARGE_HOME:
                self._discharge(event, now, actor, outcome="completed")
            elif event is Event.EXTERNAL_DISCHARGE_NEEDS_AUTH:
                assert back is not None
                s.delivered_level = None
                s.requested_level = back
                s.waiting_until = None
                self._move(event, now, actor)
                self._request_authorization(PayerRequestKind.INITIAL, back, True, now)
            else:
                assert back is not None
                s.waiting_until = None
                self._move(event, now, actor)
                self._enroll(back, now)
        return self._decision(sub.event_id)

    def _followup_met(self) -> None:
        self.state.followup_due = None
        self._clear(Flag.FOLLOWUP_DUE)

    # ---------------------------------------------------------------- timers

    def next_wakeup(self) -> datetime | None:
        """The earliest moment something falls due; None when only people can move it."""
        s = self.state
        if self.closed:
            return None
        policy = s.start.policy
        times: list[datetime] = []
        if s.review is not None:
            r = s.review
            if not r.questionnaire_sent:
                times.append(r.due)
            elif not r.reminder_sent:
                times.append(schedule.reminder_at(r.due, policy))
            elif not r.escalated:
                times.append(schedule.escalation_at(r.due, policy))
        if s.pending_payer is not None and not s.pending_payer.escalated:
            times.append(s.pending_payer.decision_due_at)
        if s.appeal_deadline is not None:
            times.append(s.appeal_deadline)
        if s.waiting_until is not None:
            times.append(s.waiting_until)
        if s.followup_due is not None:
            times.append(s.followup_due)
        a = s.authorization
        if a is not None and self._watching_units():
            times.append(auth_rules.concurrent_review_due_at(a.end_date, policy))
        if a is not None and s.phase is CarePhase.IN_TREATMENT and not a.expiry_flagged:
            times.append(_day_after(a.end_date))
        if s.phase is CarePhase.AFTERCARE and s.discharged_at is not None:
            checkins = schedule.aftercare_checkins(s.discharged_at, policy)
            if s.aftercare_checkins_done < len(checkins):
                times.append(checkins[s.aftercare_checkins_done])
            else:
                times.append(s.discharged_at)
        return min(times) if times else None

    def on_timer(self, now: datetime) -> None:
        """Handle everything that has fallen due by `now`."""
        s = self.state
        policy = s.start.policy
        if s.review is not None:
            r = s.review
            if not r.questionnaire_sent and now >= r.due:
                r.questionnaire_sent = True
                self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)
            if not r.reminder_sent and now >= schedule.reminder_at(r.due, policy):
                r.reminder_sent = True
                self._raise(Flag.REVIEW_OVERDUE)
                self._notify(Recipient.CARE_TEAM, "review_overdue", due=r.due.isoformat())
            if not r.escalated and now >= schedule.escalation_at(r.due, policy):
                r.escalated = True
                self._raise(Flag.REVIEW_ESCALATED)
                self._notify(
                    Recipient.SUPERVISOR, "review_escalated", due=r.due.isoformat(), urgent=True
                )
        p = s.pending_payer
        if p is not None and not p.escalated and now >= p.decision_due_at:
            p.escalated = True
            self._raise(Flag.PAYER_OVERDUE)
            for who in (Recipient.SUPERVISOR, Recipient.UTILIZATION_REVIEW):
                self._notify(who, "payer_decision_overdue", reference=p.reference, urgent=True)
        a = s.authorization
        if a is not None and s.phase is CarePhase.IN_TREATMENT:
            self._maybe_request_concurrent_review(now)
            if not a.expiry_flagged and now >= _day_after(a.end_date):
                a.expiry_flagged = True
                self._raise(Flag.AUTHORIZATION_EXPIRED)
                for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
                    self._notify(who, "authorization_expired")
        if s.followup_due is not None and now >= s.followup_due:
            s.followup_due = None
            self._clear(Flag.FOLLOWUP_DUE)
            self._raise(Flag.FOLLOWUP_MISSED)
            self._notify(Recipient.SUPERVISOR, "followup_missed", urgent=True)
        if s.appeal_deadline is not None and now >= s.appeal_deadline:
            s.appeal_deadline = None
            self._clear(Flag.APPEAL_OPEN)
            if s.phase is CarePhase.APPEAL:
                s.outcome = "authorization_denied"
                self._move(Event.APPEAL_WINDOW_CLOSED, now, ENGINE)
        if s.waiting_until is not None and now >= s.waiting_until:
            s.waiting_until = None
            if s.phase is CarePhase.FINANCIAL_COUNSELING:
                self._move(Event.FINANCIAL_HOLD_EXPIRED, now, ENGINE)
            elif s.phase is CarePhase.EXTERNAL_CARE:
                self._move(Event.EXTERNAL_WAIT_EXPIRED, now, ENGINE)
        if s.phase is CarePhase.AFTERCARE and s.discharged_at is not None:
            checkins = schedule.aftercare_checkins(s.discharged_at, policy)
            while s.aftercare_checkins_done < len(checkins) and (
                now >= checkins[s.aftercare_checkins_done]
            ):
                s.aftercare_checkins_done += 1
                day = sorted(policy.aftercare_checkin_days)[s.aftercare_checkins_done - 1]
                if s.followup_due is not None:
                    self._followup_met()
                self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)
                self._notify(Recipient.CARE_TEAM, "aftercare_checkin", day=f"{day:g}")
            if s.aftercare_checkins_done >= len(checkins):
                s.outcome = s.discharge_outcome or "completed"
                self._move(Event.AFTERCARE_COMPLETED, now, ENGINE)


def _day_after(d: date) -> datetime:
    """Midnight UTC after the last covered day: when an authorization has lapsed."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)


def submission_id(submission: object) -> str:
    for name in ("review_id", "decision_id", "assessment_id", "submission_id", "event_id"):
        value = getattr(submission, name, None)
        if isinstance(value, str):
            return value
    raise InvalidSubmission("the submission has no id")


def _as(submission: object, kind: type[T]) -> T:
    if not isinstance(submission, kind):
        raise InvalidSubmission(f"expected {kind.__name__}")
    return submission
