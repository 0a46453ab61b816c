"""Events from other systems: admission, discharge, withdrawal, entered in error."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules.levels import is_external
from rules.recommendation import Flag
from rules.transitions import Action, Event
from schemas.payer import PayerRequestKind
from schemas.records import Recipient
from schemas.submissions import EpisodeEvent, EpisodeEventKind
from schemas.view import EngineDecision
from workflows.engine_core import EngineCore, InvalidSubmission


class EventsMixin(EngineCore):
    """What clinic systems report, applied through the same table."""

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
        elif kind is EpisodeEventKind.PAYER_DISCLOSURE_CONSENTED:
            event = Event.DISCLOSURE_CONSENT_RECORDED
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
        elif event is Event.DISCLOSURE_CONSENT_RECORDED:
            self._consent_recorded(event, now, actor)
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
