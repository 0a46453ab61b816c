"""The engine's answers: the decision returned by each update, and the `state` view."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from rules.levels import AgeGroup, LevelOfCare
from rules.outcomes import Trend
from rules.recommendation import Flag, RecommendedAction
from rules.schedule import ReviewStatus
from rules.transitions import Action, CarePhase
from schemas.quality import QualityClockView
from schemas.submissions import UnitType
from schemas.week import WeekView


class EngineDecision(BaseModel):
    """Returned at once to whoever submitted an assessment, review, decision or event."""

    model_config = ConfigDict(extra="forbid")
    submission_id: str
    phase: CarePhase
    delivered_level: LevelOfCare | None
    recommended_action: RecommendedAction | None = None
    target_level: LevelOfCare | None = None
    reasons: list[str] = Field(default_factory=list)
    flags: list[Flag] = Field(default_factory=list)
    urgent: bool = False
    allowed_actions: list[Action] = Field(default_factory=list)
    duplicate: bool = False


class AuthorizationView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    authorization_number: str
    level: LevelOfCare
    unit_type: UnitType
    units_approved: int
    units_used: int
    units_left: int
    units_uncovered: int = Field(default=0, description="attended beyond the units approved")
    units_unauthorized: int = Field(default=0, description="attended after the end date")
    start_date: date
    end_date: date
    concurrent_review_requested_at: datetime | None = None
    next_review_date: date | None = None


class PendingPayerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    level: LevelOfCare
    reference: str
    submitted_at: datetime
    decision_due_at: datetime | None = Field(
        default=None, description="none while the request is held (the payer was not asked)"
    )
    expedited: bool = False
    urgent_concurrent: bool = False
    escalated: bool = False


class AppealView(BaseModel):
    """A denial under appeal: what was denied, and once filed, when the payer must decide."""

    model_config = ConfigDict(extra="forbid")
    level: LevelOfCare
    denied_at: datetime
    filed_at: datetime | None = None
    decision_due_at: datetime | None = None
    expedited: bool = False
    escalated: bool = False


class ScoresView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    baseline_phq9: int | None = None
    latest_phq9: int | None = None
    latest_gad7: int | None = None
    phq9_history: list[int] = Field(default_factory=list)
    trend: Trend = Trend.UNKNOWN


class RiskAlertView(BaseModel):
    """The open risk flag's urgent alert: whether someone acknowledged it, and how far its
    escalation went (the flag itself clears only with a recorded safety assessment)."""

    model_config = ConfigDict(extra="forbid")
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    unacknowledged_escalations: int = Field(
        default=0, description="times the supervisor was told nobody had acknowledged it"
    )
    unassessed_escalations: int = Field(
        default=0, description="times the supervisor was told no safety assessment was recorded"
    )
    next_escalation_at: datetime | None = None


class EpisodeView(BaseModel):
    """What the `state` query returns: everything a care team needs at a glance."""

    model_config = ConfigDict(extra="forbid")
    episode_id: str
    program_id: str
    phase: CarePhase
    outcome: str | None = None
    age_group: AgeGroup | None = None
    authorized_level: LevelOfCare | None = None
    delivered_level: LevelOfCare | None = None
    requested_level: LevelOfCare | None = None
    next_review_due: datetime | None = None
    review_status: ReviewStatus | None = None
    authorization: AuthorizationView | None = None
    pending_payer_request: PendingPayerRequest | None = None
    appeal_deadline: datetime | None = Field(
        default=None, description="when the appeal window closes (none once an appeal is filed)"
    )
    appeal: AppealView | None = None
    followup_due: datetime | None = None
    quality_clocks: list[QualityClockView] = Field(
        default_factory=list,
        description="engine V3: live HEDIS FUH / IET windows, open and lately closed",
    )
    aftercare_checkins_done: int = 0
    next_aftercare_checkin_due: datetime | None = Field(
        default=None, description="in aftercare: when the next check-in falls due"
    )
    scores: ScoresView = Field(default_factory=ScoresView)
    flags: list[Flag] = Field(default_factory=list)
    risk_alert: RiskAlertView | None = None
    consecutive_low_attendance_weeks: int = 0
    last_recommendation: EngineDecision | None = None
    allowed_actions: list[Action] = Field(default_factory=list)
    started_at: datetime
    updated_at: datetime
    run_count: int = 1
    # This week's IOP attendance, from the rosters in PostgreSQL: the API adds it to the
    # workflow's answer (None when the episode was never seated in a group).
    week: WeekView | None = None
