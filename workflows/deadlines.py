"""Deadlines: when the episode next wakes, and what falls due when it does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rules import authorization as auth_rules
from rules import localtime, schedule
from rules.recommendation import Flag
from rules.transitions import CarePhase, Event
from schemas.records import Recipient
from workflows.engine_core import ENGINE, PATIENT_TEMPLATE
from workflows.followup import FollowupMixin

Due = Callable[[], datetime | None]
Fire = Callable[[datetime], None]


class DeadlinesMixin(FollowupMixin):
    """Durable timers in the workflow; the decisions about them here."""

    def _deadlines(self) -> list[tuple[Due, Fire]]:
        """Engine V2's deadlines, one (due, fire) entry each; the next wake-up is the
        earliest due. (The older deadlines below still use the two lists.)"""
        if not self.v2:
            return []
        return [
            (self._risk_escalation_due, self._escalate_risk),
            (self._followup_7_due, self._followup_7_missed),
            (self._followup_30_due, self._followup_30_missed),
            (self._becomes_adult_due, self._becomes_adult),
        ]

    def _authorization_lapses_at(self) -> datetime | None:
        """Local midnight after the last authorized day, in the program's time zone."""
        a = self.state.authorization
        if a is None:
            return None
        return localtime.local_midnight_after(a.end_date, self.state.start.policy.time_zone)

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
                times.append(schedule.questionnaire_at(r.due, policy))
            elif not r.reminder_sent:
                times.append(schedule.reminder_at(r.due, policy))
            elif not r.escalated:
                times.append(schedule.escalation_at(r.due, policy))
        p = s.pending_payer
        if p is not None and not p.escalated and p.decision_due_at is not None:
            times.append(p.decision_due_at)
        if s.appeal_deadline is not None:
            times.append(s.appeal_deadline)
        times += self._appeal_wakeups()
        if s.waiting_until is not None:
            times.append(s.waiting_until)
        if s.eligibility_retry_at is not None:
            times.append(s.eligibility_retry_at)
        if s.followup_due is not None:
            times.append(s.followup_due)
        a = s.authorization
        if a is not None and self._watching_units():
            times.append(auth_rules.concurrent_review_due_at(self._review_by(a), policy))
        lapses = self._authorization_lapses_at()
        if a is not None and lapses and s.phase is CarePhase.IN_TREATMENT and not a.expiry_flagged:
            times.append(lapses)
        if s.phase is CarePhase.AFTERCARE and s.discharged_at is not None:
            checkins = schedule.aftercare_checkins(s.discharged_at, policy)
            if s.aftercare_checkins_done < len(checkins):
                times.append(checkins[s.aftercare_checkins_done])
            else:
                times.append(s.discharged_at)
        times += [when for due, _ in self._deadlines() if (when := due()) is not None]
        return min(times) if times else None

    def on_timer(self, now: datetime) -> None:
        """Handle everything that has fallen due by `now`."""
        s = self.state
        policy = s.start.policy
        if s.review is not None:
            r = s.review
            if not r.questionnaire_sent and now >= schedule.questionnaire_at(r.due, policy):
                r.questionnaire_sent = True
                self._notify(Recipient.PATIENT, PATIENT_TEMPLATE, questionnaire="phq9")
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
        if p is not None and not p.escalated and p.decision_due_at and now >= p.decision_due_at:
            p.escalated = True
            self._raise(Flag.PAYER_OVERDUE)
            for who in (Recipient.SUPERVISOR, Recipient.UTILIZATION_REVIEW):
                self._notify(who, "payer_decision_overdue", reference=p.reference, urgent=True)
        a = s.authorization
        if a is not None and s.phase is CarePhase.IN_TREATMENT:
            self._maybe_request_concurrent_review(now)
            lapses = self._authorization_lapses_at()
            if not a.expiry_flagged and lapses and now >= lapses:
                a.expiry_flagged = True
                self._raise(Flag.AUTHORIZATION_EXPIRED)
                for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
                    self._notify(who, "authorization_expired")
        if s.followup_due is not None and now >= s.followup_due:
            s.followup_due = None
            self._clear(Flag.FOLLOWUP_DUE)
            self._raise(Flag.FOLLOWUP_MISSED)
            self._notify(Recipient.SUPERVISOR, "followup_missed", urgent=True)
        self._appeal_timer(now)
        if s.appeal_deadline is not None and now >= s.appeal_deadline:
            s.appeal_deadline = None
            self._clear(Flag.APPEAL_OPEN)
            if s.phase is CarePhase.APPEAL:
                s.outcome = "authorization_denied"
                self._close_by_engine(Event.APPEAL_WINDOW_CLOSED, now)
        self._eligibility_retry_due(now)
        if s.waiting_until is not None and now >= s.waiting_until:
            s.waiting_until = None
            if s.phase is CarePhase.FINANCIAL_COUNSELING:
                self._close_by_engine(Event.FINANCIAL_HOLD_EXPIRED, now)
            elif s.phase is CarePhase.EXTERNAL_CARE:
                self._close_by_engine(Event.EXTERNAL_WAIT_EXPIRED, now)
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
                self._close_by_engine(Event.AFTERCARE_COMPLETED, now)
        for due, fire in self._deadlines():
            when = due()
            if when is not None and now >= when and not self.closed:
                fire(now)

    def _close_by_engine(self, event: Event, now: datetime) -> None:
        self._move(event, now, ENGINE)
        self._tell_closed(event)
