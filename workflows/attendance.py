"""The IOP week in the workflow: only its exceptions, on durable timers.

Rosters live in PostgreSQL; the API sends a `record_attendance` update only when
something needs the engine (a no-show, a return after one, a week that can no longer
reach its minimum, units about to run out, a session outside the authorization), so a
week attended as scheduled costs the workflow nothing. Engine V2 only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from rules import localtime
from rules.recommendation import Flag
from rules.transitions import Action, Event
from schemas.attendance import AttendanceNotice, AttendanceNoticeKind
from schemas.payer import PayerRequestKind
from schemas.records import Recipient
from schemas.view import EngineDecision
from workflows.deadlines import DeadlinesMixin
from workflows.engine_core import PATIENT_TEMPLATE, InvalidSubmission
from workflows.state import ENGINE_V4, AttendanceTrack

K = AttendanceNoticeKind
EVENTS: dict[AttendanceNoticeKind, Event] = {
    K.NO_SHOW: Event.ATTENDANCE_NO_SHOW,
    K.RESUMED: Event.ATTENDANCE_RESUMED,
    K.BELOW_MINIMUM: Event.WEEK_BELOW_MINIMUM,
    K.UNITS_RUNNING_OUT: Event.UNITS_RUNNING_OUT,
    K.UNAUTHORIZED_SERVICE: Event.UNAUTHORIZED_SERVICE,
    K.ATTENDED: Event.SESSION_ATTENDED,
}


class AttendanceMixin(DeadlinesMixin):
    def _resolve_attendance(self, sub: AttendanceNotice) -> Event:
        if not self.v2:
            raise InvalidSubmission("this run's engine version does not take attendance")
        if sub.kind is K.ATTENDED and not self.v3:
            raise InvalidSubmission("this run's engine version keeps no quality clocks")
        return self._ensure_allowed(EVENTS[sub.kind], Action.RECORD_ATTENDANCE)

    def _track(self) -> AttendanceTrack:
        if self.state.attendance is None:
            self.state.attendance = AttendanceTrack()
        return self.state.attendance

    def _apply_attendance(
        self, sub: AttendanceNotice, event: Event, now: datetime
    ) -> EngineDecision:
        handle: dict[AttendanceNoticeKind, Callable[[AttendanceNotice, datetime], None]] = {
            K.NO_SHOW: self._no_show,
            K.RESUMED: self._resumed,
            K.BELOW_MINIMUM: self._below_minimum,
            K.UNITS_RUNNING_OUT: self._units_running_out,
            K.UNAUTHORIZED_SERVICE: self._unauthorized_service,
            K.ATTENDED: self._attended,
        }
        handle[sub.kind](sub, now)
        self._move(event, now, sub.recorded_by)
        return self._decision(sub.notice_id)

    def _no_show(self, sub: AttendanceNotice, now: datetime) -> None:
        """Same day: a content-free message to the patient and a care-team follow-up
        (urgent at once with the risk flag open); a run of them escalates."""
        track = self._track()
        track.absences = max(track.absences + 1, sub.absences)
        track.no_show_followup_due = now + timedelta(hours=sub.followup_hours)
        self._notify(Recipient.PATIENT, PATIENT_TEMPLATE)
        risk = Flag.RISK in self.state.flags
        self._raise(Flag.NO_SHOW_FOLLOWUP)
        self._notify(
            Recipient.CARE_TEAM,
            "no_show_risk_open" if risk else "no_show_followup",
            urgent=risk,
            due=track.no_show_followup_due.isoformat(),
        )
        if sub.consecutive_no_shows >= sub.disengaged_after and Flag.DISENGAGED not in (
            self.state.flags
        ):
            self._raise(Flag.DISENGAGED)
            self._notify(
                Recipient.SUPERVISOR,
                "disengaged",
                urgent=True,
                consecutive=str(sub.consecutive_no_shows),
            )
        if track.absences >= sub.level_review_after and Flag.LEVEL_REVIEW_RECOMMENDED not in (
            self.state.flags
        ):
            self._raise(Flag.LEVEL_REVIEW_RECOMMENDED)
            self._notify(
                Recipient.CARE_TEAM,
                "level_of_care_review_recommended",
                absences=str(track.absences),
            )

    def _resumed(self, sub: AttendanceNotice, _now: datetime) -> None:
        """Attending again clears `disengaged` and the open follow-up. Engine V4: a no-show
        corrected to attended is no absence, so the count toward a level review follows the
        records' (never up here: a late notice cannot add absences)."""
        track = self._track()
        track.no_show_followup_due = None
        self._clear(Flag.DISENGAGED, Flag.NO_SHOW_FOLLOWUP)
        if sub.absences_now is not None and self.state.engine_version >= ENGINE_V4:
            track.absences = min(track.absences, sub.absences_now)

    def _below_minimum(self, sub: AttendanceNotice, _now: datetime) -> None:
        """Flagged the day the week can no longer reach the minimum; cleared when it ends."""
        assert sub.week_start is not None
        track = self._track()
        tz = self.state.start.policy.time_zone
        track.below_minimum_until = localtime.local_midnight_after(
            sub.week_start + timedelta(days=6), tz
        )
        self._raise(Flag.BELOW_MINIMUM)
        self._notify(
            Recipient.CARE_TEAM,
            "week_below_minimum",
            hours=f"{sub.week_hours or 0:g}",
            possible=f"{sub.week_hours_possible or 0:g}",
            minimum=f"{sub.week_minimum or 0:g}",
        )

    def _units_running_out(self, sub: AttendanceNotice, now: datetime) -> None:
        """Open the concurrent review now, not at the next weekly review."""
        s = self.state
        a = s.authorization
        self._raise(Flag.AUTHORIZATION_LOW)
        if a is not None and self._watching_units():
            a.concurrent_review_requested_at = now
            self._request_authorization(PayerRequestKind.CONCURRENT_REVIEW, a.level, False, now)
        exhaustion = sub.projected_exhaustion
        self._notify(
            Recipient.UTILIZATION_REVIEW,
            "units_running_out",
            units_left="" if sub.units_left is None else str(sub.units_left),
            projected_exhaustion="" if exhaustion is None else exhaustion.isoformat(),
        )

    def _unauthorized_service(self, sub: AttendanceNotice, _now: datetime) -> None:
        """Recorded and reported to utilization review; never counted as authorized."""
        self._track().unauthorized_sessions += 1
        self._raise(Flag.UNAUTHORIZED_SERVICE)
        self._notify(
            Recipient.UTILIZATION_REVIEW,
            "unauthorized_service",
            urgent=True,
            session_date=sub.session_date.isoformat(),
        )

    def _attended(self, sub: AttendanceNotice, now: datetime) -> None:
        """An attended session is a visit for the follow-up windows and the quality clocks."""
        self._visit_counts(sub.session_date, now)
        self._clock_service(sub.session_date, now)
