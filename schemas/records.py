"""Rows the workflow hands to activities: transitions, reviews, authorizations, messages.

Every batch is keyed by workflow ID + sequence number, so a retried activity writes once.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from schemas.quality import QualityClock

# An item answer of the PHQ-9 or the GAD-7 (0-3), as the submissions and migration 0720 hold it.
ItemAnswer = Annotated[int, Field(ge=0, le=3)]

# One name for each level everywhere in Python and the HTTP API, as on the episode view:
# `authorized_level`, `delivered_level`. Batches queued before the names were unified,
# parked batches, and the database's columns spell them `level_authorized` /
# `level_delivered`: both spellings are read, the new one is written.
AUTHORIZED_LEVEL = AliasChoices("authorized_level", "level_authorized")
DELIVERED_LEVEL = AliasChoices("delivered_level", "level_delivered")


class TransitionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_phase: CarePhase
    to_phase: CarePhase
    event: Event
    reason: str
    actor: str
    at: datetime
    delivered_level: LevelOfCare | None = Field(default=None, validation_alias=DELIVERED_LEVEL)
    authorized_level: LevelOfCare | None = Field(default=None, validation_alias=AUTHORIZED_LEVEL)


class ReviewRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    review_id: str
    kind: str = Field(
        description="assessment, review, decision, safety_assessment or followup_visit"
    )
    clinician_id: str
    at: datetime
    level: LevelOfCare | None = None
    phq9_total: int | None = None
    phq9_item9: int | None = None
    phq9_items: list[ItemAnswer] | None = Field(
        default=None, min_length=9, max_length=9, description="the nine PHQ-9 item answers"
    )
    gad7_total: int | None = None
    gad7_items: list[ItemAnswer] | None = Field(
        default=None, min_length=7, max_length=7, description="the seven GAD-7 item answers"
    )
    cssrs_high_risk: bool | None = None
    cssrs_answers: list[bool] | None = Field(default=None, description="the six screener answers")
    cssrs_behaviour_past_3_months: bool | None = None
    cssrs_risk: str | None = Field(default=None, description="none, low, moderate or high")
    hours_attended: float | None = None
    units_attended: int | None = None
    recommended_action: str | None = None
    decision: str | None = None
    override_reason: str | None = None
    safety_instrument: str | None = None
    safety_result: str | None = None
    safety_plan: str | None = None
    visit_date: date | None = Field(default=None, description="a follow-up visit's date")
    visit_kind: str | None = None
    reasons: list[str] = Field(default_factory=list)


class AuthorizationStatus(StrEnum):
    """An authorization row's status; the first three grant care."""

    APPROVED = "approved"
    EXTENSION_APPROVED = "extension_approved"
    APPEAL_APPROVED = "appeal_approved"
    INITIAL_REQUESTED = "initial_requested"
    CONCURRENT_REVIEW_REQUESTED = "concurrent_review_requested"
    DENIED = "denied"
    EXTENSION_DENIED = "extension_denied"
    APPEAL_FILED = "appeal_filed"
    APPEAL_UPHELD = "appeal_upheld"


GRANTING_STATUSES: tuple[AuthorizationStatus, ...] = (
    AuthorizationStatus.APPROVED,
    AuthorizationStatus.EXTENSION_APPROVED,
    AuthorizationStatus.APPEAL_APPROVED,
)


class AuthorizationRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    authorization_number: str | None
    payer_id: str | None
    level: LevelOfCare
    status: AuthorizationStatus
    unit_type: str | None = None
    units_approved: int | None = None
    units_used: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    at: datetime


class Recipient(StrEnum):
    CARE_TEAM = "care_team"
    PATIENT = "patient"
    SUPERVISOR = "supervisor"
    UTILIZATION_REVIEW = "utilization_review"
    FINANCIAL_COUNSELING = "financial_counseling"
    OPERATOR = "operator"


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"


class NotificationRequest(BaseModel):
    """A message to send. Never carries clinical detail in its text for the patient.

    `template` names the message; `params` hold non-identifying values (phase, due date).
    """

    model_config = ConfigDict(extra="forbid")
    message_id: str = Field(description="workflow ID + sequence: the receiver dedupes on it")
    episode_id: str
    program_id: str
    recipient: Recipient
    template: str
    urgency: Urgency = Urgency.ROUTINE
    params: dict[str, str] = Field(default_factory=dict)
    # Not to be sent before (a patient message held for the program's local window).
    not_before: datetime | None = None


class EpisodeSnapshot(BaseModel):
    """The episode row clinics query across episodes (census, due lists)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    episode_id: str
    program_id: str
    phase: CarePhase
    outcome: str | None
    authorized_level: LevelOfCare | None = Field(validation_alias=AUTHORIZED_LEVEL)
    delivered_level: LevelOfCare | None = Field(validation_alias=DELIVERED_LEVEL)
    started_at: datetime
    closed_at: datetime | None
    next_review_due: datetime | None
    risk_flag: bool
    risk_unacknowledged: bool = Field(
        default=False, description="the risk flag's urgent alert awaits a care-team acknowledgement"
    )
    baseline_phq9: int | None
    latest_phq9: int | None
    updated_at: datetime


class EffectBatch(BaseModel):
    """Everything one step of the workflow wants written and sent, in one idempotent call."""

    model_config = ConfigDict(extra="forbid")
    workflow_id: str
    run_id: str
    seq: int
    episode: EpisodeSnapshot
    transitions: list[TransitionRecord] = Field(default_factory=list)
    reviews: list[ReviewRecord] = Field(default_factory=list)
    authorizations: list[AuthorizationRecord] = Field(default_factory=list)
    notifications: list[NotificationRequest] = Field(default_factory=list)
    # Engine V3: live quality clocks opened, alerted, met, missed or ended in this step.
    quality_clocks: list[QualityClock] = Field(default_factory=list)
