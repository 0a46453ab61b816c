"""The engine's shared core: carried state, effects out, moving through the table.

Every phase change goes through `_move`, which reads the one transition table in
`rules.transitions`; the helpers here are the steps several submissions share
(enrolling, discharging, asking the payer). Deterministic and free of Temporal imports.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel

from rules import authorization as auth_rules
from rules import localtime, schedule
from rules.levels import AgeGroup, LevelOfCare
from rules.payer_deadlines import Priority
from rules.policy import ProgramPolicy
from rules.recommendation import Flag, Recommendation
from rules.transitions import (
    Action,
    CarePhase,
    Event,
    TransitionNotAllowed,
    allowed_actions,
    transition,
)
from schemas.episode import AgeGroupCheck, workflow_id_for
from schemas.payer import PayerRequestKind
from schemas.records import (
    AuthorizationRecord,
    EffectBatch,
    EpisodeSnapshot,
    NotificationRequest,
    Recipient,
    TransitionRecord,
    Urgency,
)
from schemas.submissions import Submission
from schemas.view import EngineDecision, PendingPayerRequest
from workflows import clock_windows
from workflows.state import (
    ENGINE_V2,
    ENGINE_V3,
    ENGINE_V4,
    RECENT_RESULTS_KEPT,
    AuthorizationState,
    Command,
    CommandKind,
    EpisodeState,
    RecentAnswer,
    ReviewClock,
)

T = TypeVar("T")
ENGINE = "engine"
HELD_FOR_CONSENT = "held-for-consent"
PATIENT_TEMPLATE = "new_message"
# The one parameter a patient message may carry: the questionnaire its link opens.
QUESTIONNAIRE_PARAM = "questionnaire"


class InvalidSubmission(ValueError):
    """A submission the phase allows but whose content the rules refuse."""


class SubmissionConflict(ValueError):
    """A submission ID already used, for the same kind, with different content."""

    def __init__(self, action: Action, submission_id: str) -> None:
        self.action = action
        self.submission_id = submission_id
        super().__init__(
            f"{action.value} '{submission_id}' was already accepted with different content; "
            "a correction needs a new submission id"
        )


class EngineCore:
    def __init__(self, state: EpisodeState) -> None:
        self.state = state

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
        return bool(
            s.commands
            or s.transitions
            or s.reviews
            or s.authorizations
            or s.notifications
            or s.clock_records
        )

    def snapshot(self) -> EpisodeSnapshot:
        s = self.state
        return EpisodeSnapshot(
            episode_id=self.episode_id,
            program_id=s.start.program_id,
            phase=s.phase,
            outcome=s.outcome,
            authorized_level=s.authorized_level,
            delivered_level=s.delivered_level,
            started_at=s.started_at,
            closed_at=s.closed_at,
            next_review_due=s.review.due if s.review else None,
            risk_flag=Flag.RISK in s.flags,
            risk_unacknowledged=Flag.RISK in s.flags and s.risk_acknowledged_at is None,
            baseline_phq9=s.baseline_phq9,
            latest_phq9=s.phq9_history[-1] if s.phq9_history else s.baseline_phq9,
            updated_at=s.updated_at,
        )

    def take_commands(self) -> list[Command]:
        commands, self.state.commands = self.state.commands, []
        return commands

    def take_batch(self, run_id: str, now: datetime | None = None) -> EffectBatch | None:
        """The records and messages queued since the last batch; with `now`, patient
        messages outside the local window are held for it (engine V3)."""
        s = self.state
        if not (
            s.transitions or s.reviews or s.authorizations or s.notifications or s.clock_records
        ):
            return None
        if now is not None:
            self._hold_patient_messages(s.notifications, now)
        batch = EffectBatch(
            workflow_id=self.workflow_id,
            run_id=run_id,
            seq=self._next_seq(),
            episode=self.snapshot(),
            transitions=s.transitions,
            reviews=s.reviews,
            authorizations=s.authorizations,
            notifications=s.notifications,
            quality_clocks=s.clock_records,
        )
        s.transitions, s.reviews, s.authorizations, s.notifications = [], [], [], []
        s.clock_records = []
        return batch

    @property
    def _calendar_tz(self) -> str:
        """The zone whose calendar days the authorization arithmetic counts: the program's
        (engine V3, issue 14 item 16); UTC for runs that started before."""
        s = self.state
        return s.start.policy.time_zone if s.engine_version >= ENGINE_V3 else "UTC"

    def _today(self, now: datetime) -> date:
        return localtime.local_date(now, self._calendar_tz)

    def _timing_policy(self) -> ProgramPolicy:
        """The policy the timers read. Engine V4: the patient-message window unset is the
        hours outside the quiet hours (`ProgramPolicy.message_window`, 08:00-21:00 local by
        default). Older runs: the window as the program set it (unset: any hour), so the
        histories recorded under V3 replay with the timers they had."""
        policy = self.state.start.policy
        if self.state.engine_version < ENGINE_V4 or policy.patient_message_window_hours is not None:
            return policy
        window = policy.message_window()
        if window is None:
            return policy
        return policy.model_copy(update={"patient_message_window_hours": window})

    def _hold_patient_messages(self, notes: list[NotificationRequest], now: datetime) -> None:
        """Engine V3: a patient message queued outside the program's local window waits
        for it to open (`not_before`); staff messages go at once."""
        if self.state.engine_version < ENGINE_V3:
            return
        policy = self._timing_policy()
        window = policy.patient_message_window_hours
        if window is None:
            return
        opens = localtime.into_window(now, policy.time_zone, *window)
        if opens <= now:
            return
        for i, n in enumerate(notes):
            if n.recipient is Recipient.PATIENT and n.not_before is None:
                notes[i] = n.model_copy(update={"not_before": opens})

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
        """Queue a message. Patients only ever get the content-free `new_message` (with,
        at most, which questionnaire its link opens)."""
        if recipient is Recipient.PATIENT:
            if not self.state.start.consents.messaging:
                return
            template = PATIENT_TEMPLATE
            params = {k: v for k, v in params.items() if k == QUESTIONNAIRE_PARAM}
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
                delivered_level=s.delivered_level,
                authorized_level=s.authorized_level,
            )
        )
        s.phase = step.to
        s.updated_at = now
        if step.to is CarePhase.CLOSED:
            s.closed_at = now
            s.outcome = s.outcome or step.reason
            s.review = None
            s.waiting_until = None
            s.clock_records += clock_windows.end_open(s.quality_clocks, now)
            self._tell_ur_to_withdraw()
            self._stop_waiting_on_payer()
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
        return decision

    def earlier_result(self, action: Action, submission: Submission) -> EngineDecision | None:
        """The answer already given to this submission, marked as a duplicate.

        Raises SubmissionConflict when the ID was used for this kind with other content.
        """
        s = self.state
        key = answer_key(action, submission)
        found = s.recent_answers.get(key)
        if found is not None:
            if found.fingerprint != fingerprint(submission):
                raise SubmissionConflict(action, submission.identifier())
            return found.decision.model_copy(update={"duplicate": True})
        legacy = s.recent_results.get(submission.identifier())
        return legacy.model_copy(update={"duplicate": True}) if legacy else None

    def remember(self, action: Action, submission: Submission, decision: EngineDecision) -> None:
        """Keep the answer (and what it answered) for retries; the oldest go first."""
        s = self.state
        s.recent_answers[answer_key(action, submission)] = RecentAnswer(
            fingerprint=fingerprint(submission), decision=decision
        )
        while len(s.recent_answers) > RECENT_RESULTS_KEPT:
            s.recent_answers.pop(next(iter(s.recent_answers)))

    def _ensure_allowed(self, event: Event, action: Action) -> Event:
        try:
            transition(self.state.phase, event)
        except TransitionNotAllowed as refused:
            allowed = [a.value for a in allowed_actions(self.state.phase)]
            attempted = f"{action.value} ({event.value})"
            raise TransitionNotAllowed(self.state.phase, attempted, allowed) from refused
        return event

    def _enroll(self, level: LevelOfCare, now: datetime) -> None:
        s = self.state
        changed = s.delivered_level is not level
        s.delivered_level = level
        if s.authorization is not None and s.authorization.level is not level:
            s.authorization = None
            s.authorized_level = None
            self._clear(Flag.AUTHORIZATION_LOW, Flag.AUTHORIZATION_EXPIRED, Flag.UNITS_EXHAUSTED)
        s.requested_level = None
        s.requested_expedited = False
        s.waiting_until = None
        if changed:
            s.level_phq9 = []
            # Comparisons at the new level start from the latest score (issue 14 item 8).
            s.level_entry_phq9 = s.phq9_history[-1] if s.phq9_history else s.baseline_phq9
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
        self._ask_age_group()

    def _request_authorization(
        self,
        kind: PayerRequestKind,
        level: LevelOfCare,
        expedited: bool,
        now: datetime,
        *,
        urgent_concurrent: bool = False,
    ) -> None:
        """Ask the payer, unless 42 CFR Part 2 forbids the disclosure without consent.

        Then the request is held: staff obtain consent, file it themselves, and record the
        payer's decision as for any pending request (whose deadline still escalates).
        """
        s = self.state
        if s.start.policy.part2_program and not self.payer_consent():
            self._raise(Flag.DISCLOSURE_CONSENT_MISSING)
            s.payer_request_seq = None
            s.pending_payer = PendingPayerRequest(
                kind=kind.value,
                level=level,
                reference=HELD_FOR_CONSENT,
                submitted_at=now,
                # The payer was never asked, so no payer deadline runs (engine V2).
                decision_due_at=auth_rules.payer_decision_deadline(now, expedited, s.start.policy)
                if s.engine_version < ENGINE_V2
                else None,
                expedited=expedited,
            )
            self._notify(
                Recipient.UTILIZATION_REVIEW, "payer_disclosure_consent_missing", kind=kind.value
            )
            return
        self._command(
            CommandKind.REQUEST_AUTHORIZATION,
            payer_kind=kind,
            level=level,
            expedited=expedited,
            urgent_concurrent=urgent_concurrent,
        )
        s.payer_request_seq = s.commands[-1].seq

    def _request_level_change(self, target: LevelOfCare, expedited: bool, now: datetime) -> None:
        """Ask the payer for a new level while the patient stays at the current one."""
        s = self.state
        s.requested_level = target
        s.requested_expedited = expedited
        self._request_authorization(PayerRequestKind.INITIAL, target, expedited, now)
        self._notify(
            Recipient.CARE_TEAM,
            "level_change_requested",
            level=target.value,
            priority="expedited" if expedited else "standard",
        )

    def _eligibility_retry_due(self, now: datetime) -> None:
        """The outage's retry time has come: ask the payer again."""
        s = self.state
        if s.eligibility_retry_at is None or now < s.eligibility_retry_at:
            return
        s.eligibility_retry_at = None
        if self._checking_eligibility() and s.coverage is not None:
            self._command(CommandKind.CHECK_ELIGIBILITY)

    def _checking_eligibility(self) -> bool:
        """Verifying insurance, or new coverage given during treatment."""
        s = self.state
        return s.phase is CarePhase.INSURANCE_VERIFICATION or (
            s.phase is CarePhase.IN_TREATMENT and s.rechecking_coverage
        )

    def payer_consent(self) -> bool:
        """Is the patient's consent to disclose to the payer on file (42 CFR Part 2)?"""
        s = self.state
        return s.payer_disclosure_consented or s.start.consents.payer_disclosure

    def _consent_recorded(self, event: Event, now: datetime, actor: str) -> None:
        """Consent obtained after the start: a request held for it goes to the payer now."""
        s = self.state
        s.payer_disclosure_consented = True
        self._clear(Flag.DISCLOSURE_CONSENT_MISSING)
        self._move(event, now, actor)
        held = s.pending_payer
        if held is not None and held.reference == HELD_FOR_CONSENT:
            s.pending_payer = None
            self._request_authorization(
                PayerRequestKind(held.kind), held.level, held.expedited, now
            )

    def _tell_ur_to_withdraw(self) -> None:
        """The episode no longer needs what it asked the payer for: UR withdraws it."""
        s = self.state
        held = s.pending_payer
        if held is None and s.payer_request_seq is None:
            return
        self._notify(
            Recipient.UTILIZATION_REVIEW,
            "payer_request_withdraw",
            reference=held.reference if held else f"request-{s.payer_request_seq}",
            kind=held.kind if held else "authorization",
        )

    def age_group(self) -> AgeGroup:
        """The patient's age group today: the start's, until an adolescent turns 18."""
        return self.state.age_group or self.state.start.age_group

    def _becomes_adult_due(self) -> datetime | None:
        start = self.state.start
        if self.age_group() is not AgeGroup.ADOLESCENT or start.adult_on is None:
            return None
        day_before = start.adult_on - timedelta(days=1)
        return localtime.local_midnight_after(day_before, start.policy.time_zone)

    def _becomes_adult(self, _now: datetime) -> None:
        """The 18th birthday: adult minimums from now on, and the care team is told."""
        self.state.age_group = AgeGroup.ADULT
        self._notify(Recipient.CARE_TEAM, "age_group_changed", age_group=AgeGroup.ADULT.value)

    def _asks_records_for_age(self) -> bool:
        """Engine V4: an adolescent's age group comes from the records, through an activity
        asked at enrolment and after each review (`CareActivities.age_group_on` says why no
        birthday is in Temporal). A start that still names the birthday (`adult_on`,
        recorded before V4 and carried on) keeps its timer (`_becomes_adult_due`)."""
        s = self.state
        return (
            s.engine_version >= ENGINE_V4
            and s.start.adult_on is None
            and self.age_group() is AgeGroup.ADOLESCENT
        )

    def _ask_age_group(self) -> None:
        if self._asks_records_for_age() and not any(
            c.kind is CommandKind.CHECK_AGE_GROUP for c in self.state.commands
        ):
            self._command(CommandKind.CHECK_AGE_GROUP)

    def age_group_check(self, now: datetime) -> AgeGroupCheck:
        """The question the activity answers: an adult on the program's local date today?"""
        return AgeGroupCheck(episode_id=self.episode_id, on=self._today(now))

    def age_group_checked(self, group: AgeGroup | None, now: datetime) -> None:
        """The records' answer (None: they know no birthday). An adolescent who is an adult
        now becomes one, and the care team is told; nothing else changes."""
        if group is AgeGroup.ADULT and self.age_group() is AgeGroup.ADOLESCENT:
            self._becomes_adult(now)

    def _stop_waiting_on_payer(self) -> None:
        """Whatever the payer answers to an earlier request from now on is not applied."""
        self.state.pending_payer = None
        self.state.payer_request_seq = None

    def awaits_payer_answer(self, command: Command) -> bool:
        """Is `command` the request the episode still waits on?

        Runs from before ENGINE_V2 keep their old behaviour (they applied every answer).
        """
        s = self.state
        return s.engine_version < ENGINE_V2 or s.payer_request_seq == command.seq

    def _discharge(self, event: Event, now: datetime, actor: str, *, outcome: str) -> None:
        s = self.state
        s.discharge_outcome = outcome
        s.discharged_at = now
        s.aftercare_checkins_done = 0
        s.delivered_level = None
        s.requested_level = None
        s.waiting_until = None
        self._tell_ur_to_withdraw()
        self._stop_waiting_on_payer()
        self._move(event, now, actor)
        self._notify(Recipient.CARE_TEAM, "discharged", outcome=outcome)
        self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)

    def _followup_met(self) -> None:
        self.state.followup_due = None
        self._clear(Flag.FOLLOWUP_DUE)

    def _expected_auth_level(self) -> LevelOfCare | None:
        s = self.state
        if s.phase is CarePhase.IN_TREATMENT:
            return s.requested_level or s.delivered_level
        return s.requested_level

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

    def _burn_units(self, units: int, now: datetime, *, period_weeks: float = 1.0) -> None:
        """Count attended units against the authorization, and record the burn-down.

        Engine V2: units attended after the end date are not covered (counted apart as
        unauthorized); using every approved unit raises `units_exhausted` once.
        """
        s = self.state
        a = s.authorization
        if a is None:
            return
        v2 = s.engine_version >= ENGINE_V2
        covered, after_end = units, 0
        if v2:
            covered, after_end = auth_rules.split_at_end_date(
                units, period_days=period_weeks * 7, last_day=self._today(now), end_date=a.end_date
            )
            s.units_per_week = units / period_weeks
        a.units_used += covered
        a.units_unauthorized += after_end
        s.authorizations.append(
            AuthorizationRecord(
                authorization_number=a.authorization_number,
                payer_id=s.coverage.payer_id if s.coverage else None,
                level=a.level,
                status=a.status,
                unit_type=a.unit_type.value,
                units_approved=a.units_approved,
                units_used=a.units_used,
                start_date=a.start_date,
                end_date=a.end_date,
                at=now,
            )
        )
        if v2 and after_end:
            for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
                self._notify(who, "units_unauthorized", units=str(after_end))
        if v2 and a.units_used >= a.units_approved and Flag.UNITS_EXHAUSTED not in s.flags:
            self._raise(Flag.UNITS_EXHAUSTED)
            uncovered = auth_rules.units_uncovered(a.units_approved, a.units_used)
            for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
                self._notify(who, "units_exhausted", uncovered=str(uncovered))
        self._maybe_request_concurrent_review(now)

    def _units_expected_before_next_review(self) -> int:
        """Units the patient will likely attend before the next review (engine V2)."""
        s = self.state
        if s.engine_version < ENGINE_V2 or s.units_per_week is None or s.delivered_level is None:
            return 0
        interval = s.start.policy.review_interval(s.delivered_level)
        return auth_rules.units_forecast(s.units_per_week, interval)

    def _maybe_request_concurrent_review(self, now: datetime) -> None:
        s = self.state
        a = s.authorization
        if a is None or not self._watching_units():
            return
        policy = s.start.policy
        review_by = self._review_by(a)
        if auth_rules.needs_concurrent_review(
            a.units_approved,
            a.units_used,
            review_by,
            self._today(now),
            policy,
            expected_units=self._units_expected_before_next_review(),
        ):
            a.concurrent_review_requested_at = now
            self._raise(Flag.AUTHORIZATION_LOW)
            urgent, expedited = False, False
            if s.engine_version >= ENGINE_V2:
                runs_out = localtime.local_midnight_after(review_by, policy.time_zone)
                priority = auth_rules.concurrent_priority(now, runs_out, policy)
                urgent = priority is Priority.URGENT_CONCURRENT
                expedited = not urgent
            self._request_authorization(
                PayerRequestKind.CONCURRENT_REVIEW,
                a.level,
                expedited,
                now,
                urgent_concurrent=urgent,
            )

    def _review_by(self, a: AuthorizationState) -> date:
        """The day the current approval must be extended by: its end, or the payer's
        next-review date if that comes first."""
        if a.next_review_date is not None and a.next_review_date < a.end_date:
            return a.next_review_date
        return a.end_date

    def _decision_due(self, submitted_at: datetime, command: Command) -> datetime:
        """The payer's deadline on a request: by plan type and priority (engine V2)."""
        s = self.state
        policy = s.start.policy
        if s.engine_version < ENGINE_V2:
            return auth_rules.payer_decision_deadline(submitted_at, command.expedited, policy)
        priority = (
            Priority.URGENT_CONCURRENT
            if command.urgent_concurrent
            else Priority.EXPEDITED
            if command.expedited
            else Priority.STANDARD
        )
        plan = s.coverage.plan_type if s.coverage else None
        return auth_rules.decision_due(submitted_at, priority, plan, policy)


def day_after(d: date) -> datetime:
    """Midnight UTC after the last covered day: when an authorization has lapsed."""
    return datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)


def fingerprint(submission: BaseModel) -> str:
    """A hash of the canonical submission: equal for a retry, different for a correction."""
    canonical = json.dumps(
        submission.model_dump(mode="json"), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def answer_key(action: Action, submission: Submission) -> str:
    """Submission IDs are unique per episode and kind: the key names both."""
    return f"{action.value}:{submission.identifier()}"


def expect_type(submission: object, kind: type[T]) -> T:
    if not isinstance(submission, kind):
        raise InvalidSubmission(f"expected {kind.__name__}")
    return submission
