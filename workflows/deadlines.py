"""Deadlines: when the episode next wakes, and what falls due when it does."""

from __future__ import annotations

from datetime import datetime

from rules import authorization as auth_rules
from rules import schedule
from rules.recommendation import Flag
from rules.transitions import CarePhase, Event
from schemas.records import Recipient
from workflows.engine_core import ENGINE, PATIENT_TEMPLATE, EngineCore, day_after


class DeadlinesMixin(EngineCore):
    """Durable timers in the workflow; the decisions about them here."""

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
        p = s.pending_payer
        if p is not None and not p.escalated and p.decision_due_at is not None:
            times.append(p.decision_due_at)
        if s.appeal_deadline is not None:
            times.append(s.appeal_deadline)
        if s.waiting_until is not None:
            times.append(s.waiting_until)
        if s.eligibility_retry_at is not None:
            times.append(s.eligibility_retry_at)
        if s.followup_due is not None:
            times.append(s.followup_due)
        a = s.authorization
        if a is not None and self._watching_units():
            times.append(auth_rules.concurrent_review_due_at(a.end_date, policy))
        if a is not None and s.phase is CarePhase.IN_TREATMENT and not a.expiry_flagged:
            times.append(day_after(a.end_date))
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
        if p is not None and not p.escalated and p.decision_due_at and now >= p.decision_due_at:
            p.escalated = True
            self._raise(Flag.PAYER_OVERDUE)
            for who in (Recipient.SUPERVISOR, Recipient.UTILIZATION_REVIEW):
                self._notify(who, "payer_decision_overdue", reference=p.reference, urgent=True)
        a = s.authorization
        if a is not None and s.phase is CarePhase.IN_TREATMENT:
            self._maybe_request_concurrent_review(now)
            if not a.expiry_flagged and now >= day_after(a.end_date):
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
        self._eligibility_retry_due(now)
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
