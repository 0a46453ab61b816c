"""What the engine shows: the `state` query's view and the row clinics query."""

from __future__ import annotations

from datetime import datetime

from rules import authorization as auth_rules
from rules import localtime, outcomes, schedule
from rules.recommendation import Flag
from rules.transitions import CarePhase, allowed_actions
from schemas.quality import ClockStatus, QualityClockView
from schemas.view import AuthorizationView, EpisodeView, RiskAlertView, ScoresView
from workflows.safety import SafetyMixin


class ViewMixin(SafetyMixin):
    """Reading the carried state, never changing it."""

    def view(self, now: datetime) -> EpisodeView:
        s = self.state
        return EpisodeView(
            episode_id=self.episode_id,
            program_id=s.start.program_id,
            phase=s.phase,
            outcome=s.outcome,
            age_group=self.age_group(),
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
            appeal=s.appeal,
            followup_due=s.followup_due or self._followup_open_due(),
            quality_clocks=self._quality_clock_views(now),
            aftercare_checkins_done=s.aftercare_checkins_done,
            next_aftercare_checkin_due=self._next_aftercare_checkin(),
            scores=ScoresView(
                baseline_phq9=s.baseline_phq9,
                latest_phq9=s.phq9_history[-1] if s.phq9_history else s.baseline_phq9,
                latest_gad7=s.latest_gad7,
                phq9_history=list(s.phq9_history),
                trend=outcomes.trend(self._scores_with_baseline(), s.start.policy),
            ),
            flags=list(s.flags),
            risk_alert=self._risk_alert_view(),
            consecutive_low_attendance_weeks=s.consecutive_low_weeks,
            last_recommendation=s.last_recommendation,
            allowed_actions=allowed_actions(s.phase),
            started_at=s.started_at,
            updated_at=s.updated_at,
            run_count=s.run_count,
        )

    def _risk_alert_view(self) -> RiskAlertView | None:
        s = self.state
        if Flag.RISK not in s.flags or s.risk_raised_at is None:
            return None
        dues = [d for d in (self._risk_ack_escalation_due(), self._risk_escalation_due()) if d]
        return RiskAlertView(
            raised_at=s.risk_raised_at,
            acknowledged_at=s.risk_acknowledged_at,
            acknowledged_by=s.risk_acknowledged_by,
            unacknowledged_escalations=s.risk_ack_escalations_done,
            unassessed_escalations=s.risk_escalations_done,
            next_escalation_at=min(dues) if dues else None,
        )

    def _followup_open_due(self) -> datetime | None:
        c = self.state.followup
        if c is None:
            return None
        return c.due_7 if c.met_7 is None and not c.missed_7 else c.due_30

    def _quality_clock_views(self, now: datetime) -> list[QualityClockView]:
        today = localtime.local_date(now, self.state.start.policy.time_zone)
        return [
            QualityClockView(
                **c.model_dump(),
                days_left=(c.last_day - today).days if c.status is ClockStatus.OPEN else None,
            )
            for c in self.state.quality_clocks
        ]

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
            units_uncovered=auth_rules.units_uncovered(a.units_approved, a.units_used),
            units_unauthorized=a.units_unauthorized,
            start_date=a.start_date,
            end_date=a.end_date,
            concurrent_review_requested_at=a.concurrent_review_requested_at,
            next_review_date=a.next_review_date,
        )

    def _next_aftercare_checkin(self) -> datetime | None:
        """When the next aftercare check-in falls due (the same schedule the timers use)."""
        s = self.state
        if s.phase is not CarePhase.AFTERCARE or s.discharged_at is None:
            return None
        checkins = schedule.aftercare_checkins(s.discharged_at, self._timing_policy())
        done = s.aftercare_checkins_done
        return checkins[done] if done < len(checkins) else None

    def _scores_with_baseline(self) -> list[int]:
        s = self.state
        base = [s.baseline_phq9] if s.baseline_phq9 is not None else []
        return base + s.phq9_history
