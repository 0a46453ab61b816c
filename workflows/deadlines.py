"""Deadlines: one table of what can fall due, each entry with its `due` and its `fire`.

The episode's next wake-up is the earliest `due` of the table; at a wake-up every entry
whose due has come fires, in the table's order (the order matters: a closing entry ends
the episode for those after it). Adding a deadline is adding one entry here; a test
(`tests/workflows/test_deadline_table.py`) checks that each entry, fired at its due, is no
longer due at that instant, and that every entry has a case there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from rules import authorization as auth_rules
from rules import localtime, schedule
from rules.recommendation import Flag
from rules.transitions import CarePhase, Event
from schemas.records import Recipient
from workflows.closure_referral import ClosureReferralMixin
from workflows.engine_core import ENGINE, PATIENT_TEMPLATE
from workflows.followup import FollowupMixin
from workflows.state import ENGINE_V1, ENGINE_V2, ENGINE_V3


class DeadlinesMixin(FollowupMixin, ClosureReferralMixin):
    """Durable timers in the workflow; the decisions about them in `DEADLINES`."""

    def next_wakeup(self) -> datetime | None:
        """The earliest moment something falls due; None when only people can move it."""
        if self.closed:
            return None
        times = [when for entry in self._active_deadlines() if (when := entry.due(self))]
        return min(times) if times else None

    def on_timer(self, now: datetime) -> None:
        """Fire, in the table's order, every entry that has fallen due by `now`."""
        for entry in self._active_deadlines():
            if self.closed:
                return
            when = entry.due(self)
            if entry.checked_at_every_wakeup or (when is not None and now >= when):
                entry.fire(self, now)

    def _active_deadlines(self) -> list[Deadline]:
        return [d for d in DEADLINES if self.state.engine_version >= d.since]

    def _authorization_lapses_at(self) -> datetime | None:
        """Local midnight after the last authorized day, in the program's time zone."""
        a = self.state.authorization
        if a is None:
            return None
        return localtime.local_midnight_after(a.end_date, self.state.start.policy.time_zone)

    def _close_by_engine(self, event: Event, now: datetime) -> None:
        self._move(event, now, ENGINE)
        self._tell_closed(event)
        self._refer_on_closure(event, now)


Due = Callable[[DeadlinesMixin], datetime | None]
Fire = Callable[[DeadlinesMixin, datetime], None]


@dataclass(frozen=True)
class Deadline:
    """One thing that falls due: when (None while it cannot), and what happens then.

    `since`: the first engine version that has it (older runs keep their commands).
    `checked_at_every_wakeup`: `fire` also runs at wake-ups before `due` (and must then do
    nothing unless it is needed): the units check, which units used can call for early.
    """

    name: str
    due: Due
    fire: Fire
    since: int = ENGINE_V1
    checked_at_every_wakeup: bool = False


# ---------------------------------------------------------------- the review's chases


def _review_chase_due(e: DeadlinesMixin) -> datetime | None:
    """The next chase of the review due: questionnaire, then reminder, then escalation."""
    r = e.state.review
    if r is None:
        return None
    policy = e._timing_policy()
    if not r.questionnaire_sent:
        return schedule.questionnaire_at(r.due, policy)
    if not r.reminder_sent:
        return schedule.reminder_at(r.due, policy)
    if not r.escalated:
        return schedule.escalation_at(r.due, policy)
    return None


def _review_chase(e: DeadlinesMixin, now: datetime) -> None:
    """Every chase whose moment has come (a late wake-up sends each one that was missed)."""
    r = e.state.review
    assert r is not None
    policy = e._timing_policy()
    if not r.questionnaire_sent and now >= schedule.questionnaire_at(r.due, policy):
        r.questionnaire_sent = True
        e._notify(Recipient.PATIENT, PATIENT_TEMPLATE, questionnaire="phq9")
    if not r.reminder_sent and now >= schedule.reminder_at(r.due, policy):
        r.reminder_sent = True
        e._raise(Flag.REVIEW_OVERDUE)
        e._notify(Recipient.CARE_TEAM, "review_overdue", due=r.due.isoformat())
    if not r.escalated and now >= schedule.escalation_at(r.due, policy):
        r.escalated = True
        e._raise(Flag.REVIEW_ESCALATED)
        e._notify(Recipient.SUPERVISOR, "review_escalated", due=r.due.isoformat(), urgent=True)


# ---------------------------------------------------------------- payer and authorization


def _payer_decision_due(e: DeadlinesMixin) -> datetime | None:
    p = e.state.pending_payer
    return p.decision_due_at if p is not None and not p.escalated else None


def _payer_decision_overdue(e: DeadlinesMixin, _now: datetime) -> None:
    p = e.state.pending_payer
    assert p is not None
    p.escalated = True
    e._raise(Flag.PAYER_OVERDUE)
    for who in (Recipient.SUPERVISOR, Recipient.UTILIZATION_REVIEW):
        e._notify(who, "payer_decision_overdue", reference=p.reference, urgent=True)


def _concurrent_review_due(e: DeadlinesMixin) -> datetime | None:
    """When the expiry warning opens on the authorization in use (units watched)."""
    a = e.state.authorization
    if a is None or not e._watching_units():
        return None
    policy = e.state.start.policy
    return auth_rules.concurrent_review_due_at(e._review_by(a), policy, e._calendar_tz)


def _concurrent_review(e: DeadlinesMixin, now: datetime) -> None:
    e._maybe_request_concurrent_review(now)


def _authorization_lapse_due(e: DeadlinesMixin) -> datetime | None:
    a = e.state.authorization
    if a is None or a.expiry_flagged or e.state.phase is not CarePhase.IN_TREATMENT:
        return None
    return e._authorization_lapses_at()


def _authorization_lapsed(e: DeadlinesMixin, _now: datetime) -> None:
    a = e.state.authorization
    assert a is not None
    a.expiry_flagged = True
    e._raise(Flag.AUTHORIZATION_EXPIRED)
    for who in (Recipient.UTILIZATION_REVIEW, Recipient.CARE_TEAM):
        e._notify(who, "authorization_expired")


def _followup_v1_due(e: DeadlinesMixin) -> datetime | None:
    return e.state.followup_due


def _followup_v1_missed(e: DeadlinesMixin, _now: datetime) -> None:
    e.state.followup_due = None
    e._clear(Flag.FOLLOWUP_DUE)
    e._raise(Flag.FOLLOWUP_MISSED)
    e._notify(Recipient.SUPERVISOR, "followup_missed", urgent=True)


def _appeal_decision_due(e: DeadlinesMixin) -> datetime | None:
    a = e.state.appeal
    return a.decision_due_at if a and a.decision_due_at and not a.escalated else None


def _appeal_decision_overdue(e: DeadlinesMixin, _now: datetime) -> None:
    """A filed appeal the payer has not decided in time is chased like any request."""
    a = e.state.appeal
    assert a is not None
    e.state.appeal = a.model_copy(update={"escalated": True})
    e._raise(Flag.PAYER_OVERDUE)
    for who in (Recipient.SUPERVISOR, Recipient.UTILIZATION_REVIEW):
        e._notify(who, "appeal_decision_overdue", urgent=True)


def _appeal_window_due(e: DeadlinesMixin) -> datetime | None:
    return e.state.appeal_deadline


def _appeal_window_closed(e: DeadlinesMixin, now: datetime) -> None:
    """Never appealed: the window closes; in the appeal phase, so does the episode."""
    s = e.state
    if s.appeal is not None and s.appeal.filed_at is None:
        s.appeal = None
    s.appeal_deadline = None
    e._clear(Flag.APPEAL_OPEN)
    if s.phase is CarePhase.APPEAL:
        s.outcome = "authorization_denied"
        e._close_by_engine(Event.APPEAL_WINDOW_CLOSED, now)


def _eligibility_retry_at(e: DeadlinesMixin) -> datetime | None:
    return e.state.eligibility_retry_at


def _eligibility_retry(e: DeadlinesMixin, now: datetime) -> None:
    e._eligibility_retry_due(now)


def _wait_ends_due(e: DeadlinesMixin) -> datetime | None:
    return e.state.waiting_until


def _wait_ended(e: DeadlinesMixin, now: datetime) -> None:
    """The financial hold, or the wait for an external discharge, ran out."""
    s = e.state
    s.waiting_until = None
    if s.phase is CarePhase.FINANCIAL_COUNSELING:
        e._close_by_engine(Event.FINANCIAL_HOLD_EXPIRED, now)
    elif s.phase is CarePhase.EXTERNAL_CARE:
        e._close_by_engine(Event.EXTERNAL_WAIT_EXPIRED, now)


# ---------------------------------------------------------------- aftercare


def _aftercare_due(e: DeadlinesMixin) -> datetime | None:
    """The next check-in; once all are done, at once (the episode then closes)."""
    s = e.state
    if s.phase is not CarePhase.AFTERCARE or s.discharged_at is None:
        return None
    checkins = schedule.aftercare_checkins(s.discharged_at, e._timing_policy())
    if s.aftercare_checkins_done < len(checkins):
        return checkins[s.aftercare_checkins_done]
    return s.discharged_at


def _aftercare_checkins(e: DeadlinesMixin, now: datetime) -> None:
    s = e.state
    assert s.discharged_at is not None
    policy = e._timing_policy()
    checkins = schedule.aftercare_checkins(s.discharged_at, policy)
    while s.aftercare_checkins_done < len(checkins) and (
        now >= checkins[s.aftercare_checkins_done]
    ):
        s.aftercare_checkins_done += 1
        day = sorted(policy.aftercare_checkin_days)[s.aftercare_checkins_done - 1]
        if s.followup_due is not None:
            e._followup_met()
        e._notify(Recipient.PATIENT, PATIENT_TEMPLATE)
        e._notify(Recipient.CARE_TEAM, "aftercare_checkin", day=f"{day:g}")
    if s.aftercare_checkins_done >= len(checkins):
        s.outcome = s.discharge_outcome or "completed"
        e._close_by_engine(Event.AFTERCARE_COMPLETED, now)


# ---------------------------------------------------------------- the IOP week (V2)


def _no_show_followup_due(e: DeadlinesMixin) -> datetime | None:
    track = e.state.attendance
    return track.no_show_followup_due if track else None


def _no_show_followup_missed(e: DeadlinesMixin, _now: datetime) -> None:
    """Nobody saw the patient back by the follow-up's due time: the supervisor hears."""
    track = e.state.attendance
    assert track is not None
    track.no_show_followup_due = None
    e._notify(Recipient.SUPERVISOR, "no_show_followup_missed", urgent=True)


def _below_minimum_ends(e: DeadlinesMixin) -> datetime | None:
    track = e.state.attendance
    return track.below_minimum_until if track else None


def _below_minimum_over(e: DeadlinesMixin, _now: datetime) -> None:
    track = e.state.attendance
    assert track is not None
    track.below_minimum_until = None
    e._clear(Flag.BELOW_MINIMUM)


# ---------------------------------------------------------------- the table

DEADLINES: tuple[Deadline, ...] = (
    Deadline("review_chase", _review_chase_due, _review_chase),
    Deadline("payer_decision_overdue", _payer_decision_due, _payer_decision_overdue),
    Deadline(
        "concurrent_review",
        _concurrent_review_due,
        _concurrent_review,
        checked_at_every_wakeup=True,
    ),
    Deadline("authorization_lapse", _authorization_lapse_due, _authorization_lapsed),
    Deadline("followup_v1", _followup_v1_due, _followup_v1_missed),
    Deadline("appeal_decision_overdue", _appeal_decision_due, _appeal_decision_overdue),
    Deadline("appeal_window", _appeal_window_due, _appeal_window_closed),
    Deadline("eligibility_retry", _eligibility_retry_at, _eligibility_retry),
    Deadline("wait_ends", _wait_ends_due, _wait_ended),
    Deadline("aftercare_checkins", _aftercare_due, _aftercare_checkins),
    Deadline(
        "risk_escalation",
        DeadlinesMixin._risk_escalation_due,
        DeadlinesMixin._escalate_risk,
        ENGINE_V2,
    ),
    Deadline(
        "followup_7", DeadlinesMixin._followup_7_due, DeadlinesMixin._followup_7_missed, ENGINE_V2
    ),
    Deadline(
        "followup_30",
        DeadlinesMixin._followup_30_due,
        DeadlinesMixin._followup_30_missed,
        ENGINE_V2,
    ),
    Deadline(
        "becomes_adult", DeadlinesMixin._becomes_adult_due, DeadlinesMixin._becomes_adult, ENGINE_V2
    ),
    Deadline("no_show_followup", _no_show_followup_due, _no_show_followup_missed, ENGINE_V2),
    Deadline("below_minimum_ends", _below_minimum_ends, _below_minimum_over, ENGINE_V2),
    Deadline(
        "risk_alert_unacknowledged",
        DeadlinesMixin._risk_ack_escalation_due,
        DeadlinesMixin._escalate_unacknowledged,
        ENGINE_V3,
    ),
    Deadline(
        "quality_clock_alert",
        DeadlinesMixin._clock_alert_due,
        DeadlinesMixin._clock_alerts,
        ENGINE_V3,
    ),
    Deadline(
        "quality_clock_close",
        DeadlinesMixin._clock_close_due,
        DeadlinesMixin._clocks_missed,
        ENGINE_V3,
    ),
)
