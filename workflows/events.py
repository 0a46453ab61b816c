"""Events from other systems: admission, discharge, withdrawal, entered in error,
a safety assessment recorded in the EHR, and follow-up visits after an inpatient stay."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.levels import LevelOfCare, is_external
from rules.recommendation import Flag
from rules.transitions import Action, Event
from schemas.payer import PayerRequestKind
from schemas.records import Recipient, ReviewRecord
from schemas.submissions import EpisodeEvent, EpisodeEventKind
from schemas.view import EngineDecision
from workflows.engine_core import InvalidSubmission
from workflows.followup import FollowupMixin
from workflows.safety import assessment_fields

DIRECT_EVENTS: dict[EpisodeEventKind, Event] = {
    EpisodeEventKind.WITHDRAWN: Event.WITHDRAWN,
    EpisodeEventKind.ENTERED_IN_ERROR: Event.ENTERED_IN_ERROR,
    EpisodeEventKind.ADMITTED: Event.EXTERNAL_ADMITTED,
    EpisodeEventKind.REFERRAL_CLOSED: Event.REFERRAL_CLOSED,
    EpisodeEventKind.SAFETY_ASSESSMENT: Event.SAFETY_ASSESSMENT_RECORDED,
    EpisodeEventKind.FOLLOWUP_VISIT: Event.FOLLOWUP_VISIT_RECORDED,
    EpisodeEventKind.PAYER_DISCLOSURE_CONSENTED: Event.DISCLOSURE_CONSENT_RECORDED,
}


class EventsMixin(FollowupMixin):
    """What clinic systems report, applied through the same table."""

    def _resolve_event(self, sub: EpisodeEvent) -> Event:
        s = self.state
        kind = sub.kind
        direct = DIRECT_EVENTS.get(kind)
        if direct is not None:
            event = direct
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

    def _apply_event(self, sub: EpisodeEvent, event: Event, now: datetime) -> EngineDecision:
        s = self.state
        actor = sub.reported_by
        reasons: list[str] = []
        if event is Event.WITHDRAWN:
            risk_open = self._risk_open
            self._discharge(event, now, actor, outcome="against_advice")
            self._notify(Recipient.CARE_TEAM, "aftercare_offered")
            if risk_open:
                for who in (Recipient.CARE_TEAM, Recipient.SUPERVISOR):
                    self._notify(who, "withdrawn_with_risk_open", urgent=True)
        elif event is Event.ENTERED_IN_ERROR:
            s.outcome = "entered_in_error"
            s.delivered_level = None
            self._move(event, now, actor)
        elif event is Event.EXTERNAL_ADMITTED:
            if self.v2:
                s.delivered_level = s.requested_level or s.delivered_level or LevelOfCare.INPATIENT
                s.requested_level = None
            self._move(event, now, actor)
        elif event is Event.DISCLOSURE_CONSENT_RECORDED:
            self._consent_recorded(event, now, actor)
        elif event is Event.REFERRAL_CLOSED:
            s.outcome = "referred_out"
            self._move(event, now, actor)
            self._tell_closed(event)
        elif event is Event.SAFETY_ASSESSMENT_RECORDED:
            reasons = self._record_safety_assessment(sub, now)
            self._move(event, now, actor)
        elif event is Event.FOLLOWUP_VISIT_RECORDED:
            reasons = self._record_visit(sub, now)
            self._move(event, now, actor)
        else:
            self._returned_from_external(sub, event, now)
        return self._decision(sub.event_id, reasons=reasons)

    def _record_safety_assessment(self, sub: EpisodeEvent, now: datetime) -> list[str]:
        s = self.state
        was_open = self._risk_open
        s.reviews.append(
            ReviewRecord(
                review_id=sub.event_id,
                kind="safety_assessment",
                clinician_id=sub.reported_by,
                at=now,
                level=s.delivered_level,
                reasons=[sub.reason] if sub.reason else [],
                **assessment_fields(sub.safety_assessment),
            )
        )
        self._clear_risk()
        return ["risk_flag_cleared"] if was_open else ["no_risk_flag_open"]

    def _returned_from_external(self, sub: EpisodeEvent, event: Event, now: datetime) -> None:
        s = self.state
        policy = s.start.policy
        actor = sub.reported_by
        if self.v2:
            self._start_followup(sub.occurred_at or now)
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
