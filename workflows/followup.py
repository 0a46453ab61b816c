"""Follow-up after an inpatient stay (HEDIS FUH), on the program's local calendar.

The flags and the supervisor's alert are engine V2's; engine V3 adds the live quality
clocks (`workflows/quality_clocks.py`), which a visit here counts towards as well.

Only a recorded follow-up visit counts: one dated after the discharge date and within
7 (or 30) local calendar days of it. Re-enrollment, an authorization approval or an
aftercare text is not a visit. The clock starts from when the discharge happened.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from rules import localtime
from rules.levels import is_external
from rules.recommendation import Flag
from schemas.records import Recipient, ReviewRecord
from schemas.submissions import EpisodeEvent
from workflows.quality_clocks import QualityClocksMixin
from workflows.state import FollowupClock


class FollowupMixin(QualityClocksMixin):
    def _start_followup(self, discharged_at: datetime) -> None:
        """Start the 7- and 30-day windows, if the patient was admitted (no phantom clock)."""
        s = self.state
        if s.delivered_level is None or not is_external(s.delivered_level):
            return
        tz = s.start.policy.time_zone
        day = localtime.local_date(discharged_at, tz)
        s.followup = FollowupClock(
            discharge_date=day,
            due_7=localtime.local_midnight_after(day + timedelta(days=7), tz),
            due_30=localtime.local_midnight_after(day + timedelta(days=30), tz),
        )
        self._raise(Flag.FOLLOWUP_DUE)
        self._notify(
            Recipient.CARE_TEAM,
            "followup_due",
            urgent=True,
            due=(day + timedelta(days=7)).isoformat(),
        )
        self._open_fuh_clocks(day, discharged_at)

    def _record_visit(self, sub: EpisodeEvent, now: datetime) -> list[str]:
        """Record every visit; say whether (and for which window) it counts."""
        s = self.state
        assert sub.visit_date is not None and sub.visit_kind is not None
        visit = sub.visit_date
        reasons = self._visit_counts(visit, now)
        self._clock_service(visit, now)
        s.reviews.append(
            ReviewRecord(
                review_id=sub.event_id,
                kind="followup_visit",
                clinician_id=sub.reported_by,
                at=now,
                level=s.delivered_level,
                visit_date=visit,
                visit_kind=sub.visit_kind.value,
                reasons=reasons,
            )
        )
        return reasons

    def _visit_counts(self, visit: date, now: datetime) -> list[str]:
        s = self.state
        clock = s.followup
        if clock is None:
            if s.followup_due is not None:  # a clock started by engine V1
                self._followup_met()
                return ["followup_met"]
            return ["no_followup_due"]
        today = localtime.local_date(now, s.start.policy.time_zone)
        if visit > today:
            return ["visit_date_in_future_not_counted"]
        if visit <= clock.discharge_date:
            return ["visit_not_after_discharge_date_not_counted"]
        days = (visit - clock.discharge_date).days
        reasons: list[str] = []
        if days <= 7 and clock.met_7 is None and not clock.missed_7:
            clock.met_7 = visit
            self._clear(Flag.FOLLOWUP_DUE)
            reasons.append("followup_7_day_met")
        if days <= 30 and clock.met_30 is None and not clock.missed_30:
            clock.met_30 = visit
            reasons.append("followup_30_day_met")
        if not reasons:
            reasons.append("visit_outside_followup_windows")
        if clock.met_30 is not None and (clock.met_7 is not None or clock.missed_7):
            s.followup = None
        return reasons

    def _followup_7_due(self) -> datetime | None:
        c = self.state.followup
        return c.due_7 if c and c.met_7 is None and not c.missed_7 else None

    def _followup_7_missed(self, _now: datetime) -> None:
        c = self.state.followup
        assert c is not None
        c.missed_7 = True
        self._clear(Flag.FOLLOWUP_DUE)
        self._raise(Flag.FOLLOWUP_MISSED)
        self._notify(Recipient.SUPERVISOR, "followup_missed", urgent=True, window_days="7")

    def _followup_30_due(self) -> datetime | None:
        c = self.state.followup
        return c.due_30 if c and c.met_30 is None and not c.missed_30 else None

    def _followup_30_missed(self, _now: datetime) -> None:
        c = self.state.followup
        assert c is not None
        c.missed_30 = True
        self._raise(Flag.FOLLOWUP_30_MISSED)
        self._notify(Recipient.SUPERVISOR, "followup_missed", urgent=True, window_days="30")
        self.state.followup = None
