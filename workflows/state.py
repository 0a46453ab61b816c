"""The episode's carried state: everything that survives a continue-as-new.

A pydantic model, so it travels through the data converter as the next run's input.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ModelWrapValidatorHandler, model_validator

from config.tuning import REST_AFTER_EVENTS, REST_SETTLE_SECONDS
from rules.levels import AgeGroup, LevelOfCare
from rules.policy import stored_policies
from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.episode import Coverage, EpisodeStart
from schemas.payer import PayerRequestKind
from schemas.quality import QualityClock
from schemas.records import (
    AuthorizationRecord,
    AuthorizationStatus,
    NotificationRequest,
    ReviewRecord,
    TransitionRecord,
)
from schemas.submissions import UnitType
from schemas.view import AppealView, EngineDecision, PendingPayerRequest

RECENT_RESULTS_KEPT = 64
SCORES_KEPT = 26

# Engine versions. A run is pinned to the version it started with; it moves to the newest
# at continue-as-new (see `CareEpisode.__init__`). Behaviour that changes the workflow's
# commands (timers, activities, search-attribute upserts) is gated on `engine_version`,
# so histories recorded by an older worker still replay. State carried from a run that
# predates the field reads as version 1.
ENGINE_V1 = 1
ENGINE_V2 = 2
ENGINE_V3 = 3
# Engine V4: patient messages inside the local window by default; the age group from the
# records by an activity (no birthday in Temporal); the payer's member ID read from the
# records by the payer activity (not in the workflow's requests).
ENGINE_V4 = 4
# Engine V5: a run continues as new when it comes to rest (quiet for its input's
# `rest_settle_seconds`, nothing due soon) once it holds `rest_after_events` events, so an
# episode that is not in the worker's cache replays a bounded run, not months of events.
ENGINE_V5 = 5
ENGINE_LATEST = ENGINE_V5
# Newest first: each version's patch marker, looked for in that order at a run's start.
ENGINE_VERSIONS = (ENGINE_V5, ENGINE_V4, ENGINE_V3, ENGINE_V2)


class CommandKind(StrEnum):
    CHECK_ELIGIBILITY = "check_eligibility"
    REQUEST_AUTHORIZATION = "request_authorization"
    # Engine V4: ask the records whether an adolescent is an adult now (no birthday here).
    CHECK_AGE_GROUP = "check_age_group"


class Command(BaseModel):
    """Work the workflow must do through an activity, queued by the engine."""

    model_config = ConfigDict(extra="forbid")
    kind: CommandKind
    seq: int
    payer_kind: PayerRequestKind | None = None
    level: LevelOfCare | None = None
    expedited: bool = False
    urgent_concurrent: bool = False


class AuthorizationState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: AuthorizationStatus = AuthorizationStatus.APPROVED
    authorization_number: str
    level: LevelOfCare
    unit_type: UnitType
    units_approved: int
    units_used: int = 0
    # Attended after the end date: not covered by this authorization.
    units_unauthorized: int = 0
    start_date: date
    end_date: date
    concurrent_review_requested_at: datetime | None = None
    expiry_flagged: bool = False
    # The payer's date for its next concurrent review, if it set one: extensions are
    # timed from it (or from the end date, whichever comes first).
    next_review_date: date | None = None


class RecentAnswer(BaseModel):
    """The answer given to one submission, beside a fingerprint of what was submitted.

    The fingerprint is a hash of the canonical submission (no patient data in clear): it
    tells a retry (same content) from a correction sent under a used ID (a conflict).
    """

    model_config = ConfigDict(extra="forbid")
    fingerprint: str
    decision: EngineDecision


class ReviewClock(BaseModel):
    """Which chases have gone out for the review currently due."""

    model_config = ConfigDict(extra="forbid")
    due: datetime
    questionnaire_sent: bool = False
    reminder_sent: bool = False
    escalated: bool = False


class AttendanceTrack(BaseModel):
    """What the workflow keeps of the IOP week: only what its timers and flags need."""

    model_config = ConfigDict(extra="forbid")
    no_show_followup_due: datetime | None = None
    absences: int = 0
    below_minimum_until: datetime | None = None
    unauthorized_sessions: int = 0


class FollowupClock(BaseModel):
    """HEDIS FUH after an inpatient stay: a visit after the discharge date, within 7 / 30 days."""

    model_config = ConfigDict(extra="forbid")
    discharge_date: date
    due_7: datetime
    due_30: datetime
    met_7: date | None = None
    met_30: date | None = None
    missed_7: bool = False
    missed_30: bool = False


class StoredModel(BaseModel):
    """Read back from Temporal (a run's input, carried state): the program policy inside
    is read leniently, so a running episode never fails to decode (rules/policy.py)."""

    @model_validator(mode="wrap")
    @classmethod
    def _policies_as_stored(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        with stored_policies():
            return handler(data)


class EpisodeState(StoredModel):
    model_config = ConfigDict(extra="forbid")

    start: EpisodeStart
    phase: CarePhase = CarePhase.REFERRAL
    outcome: str | None = None
    discharge_outcome: str | None = None
    started_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None

    coverage: Coverage | None = None
    # The coverage change (its submission ID) in force, whose member ID the records hold
    # (the payer activity reads it by this); None: the start's coverage.
    coverage_ref: str | None = None
    self_pay: bool = False
    # Part 2 consent recorded after the start (the start's consents stay as they were sent).
    payer_disclosure_consented: bool = False
    # The age group now, once it moved on from the start's (an adolescent turned 18).
    age_group: AgeGroup | None = None
    delivered_level: LevelOfCare | None = None
    authorized_level: LevelOfCare | None = None
    requested_level: LevelOfCare | None = None
    requested_expedited: bool = False
    authorization: AuthorizationState | None = None
    pending_payer: PendingPayerRequest | None = None
    # The payer request (its command seq) the episode waits on; an answer to any other
    # request, or one that comes after a decision was recorded, is kept but not applied.
    payer_request_seq: int | None = None
    appeal_deadline: datetime | None = None  # the appeal window; none once filed
    appeal: AppealView | None = None  # engine V2: the denial under appeal
    # Coverage changed during treatment: the eligibility answer applies in treatment.
    rechecking_coverage: bool = False
    eligibility_retry_at: datetime | None = None
    waiting_until: datetime | None = None

    review: ReviewClock | None = None
    followup_due: datetime | None = None
    discharged_at: datetime | None = None
    aftercare_checkins_done: int = 0

    baseline_phq9: int | None = None
    phq9_history: list[int] = Field(default_factory=list)
    level_phq9: list[int] = Field(default_factory=list)
    latest_gad7: int | None = None
    # The patient's latest answers by link, not yet used by a review (which takes them
    # when it brings no scores of its own).
    patient_phq9: list[int] | None = None
    patient_gad7: list[int] | None = None
    consecutive_low_weeks: int = 0
    # Units attended per week in the latest review: the forecast before the next one.
    units_per_week: float | None = None
    flags: list[Flag] = Field(default_factory=list)
    last_recommendation: EngineDecision | None = None
    # Keyed by "action:submission_id": IDs are unique per episode and kind.
    recent_answers: dict[str, RecentAnswer] = Field(default_factory=dict)
    # Before recent_answers: keyed by bare submission ID, no fingerprint. Read, never written.
    recent_results: dict[str, EngineDecision] = Field(default_factory=dict)

    # Engine V2 (clinical safety): when the open risk flag was raised and how far its
    # escalation ladder has gone; the score at entry to the current level; FUH clock.
    risk_raised_at: datetime | None = None
    risk_escalations_done: int = 0
    # The risk alert's acknowledgement (engine V3 chases it while missing).
    risk_acknowledged_at: datetime | None = None
    risk_acknowledged_by: str | None = None
    risk_ack_escalations_done: int = 0
    evaluation_pending: bool = False
    level_entry_phq9: int | None = None
    reviews_without_measures: int = 0
    followup: FollowupClock | None = None
    attendance: AttendanceTrack | None = None
    # Engine V3: the live quality clocks (HEDIS FUH, IET), open and lately closed, and the
    # changes to them not yet written (the records batch takes them).
    quality_clocks: list[QualityClock] = Field(default_factory=list)
    clock_records: list[QualityClock] = Field(default_factory=list)

    engine_version: int = ENGINE_V1
    seq: int = 0
    messages_queued: int = 0
    run_count: int = 1
    commands: list[Command] = Field(default_factory=list)
    transitions: list[TransitionRecord] = Field(default_factory=list)
    reviews: list[ReviewRecord] = Field(default_factory=list)
    authorizations: list[AuthorizationRecord] = Field(default_factory=list)
    notifications: list[NotificationRequest] = Field(default_factory=list)


class EpisodeInput(StoredModel):
    """The workflow's argument: a fresh start, or a start plus the carried state."""

    model_config = ConfigDict(extra="forbid")
    start: EpisodeStart
    state: EpisodeState | None = None
    history_event_limit: int = Field(default=1000, ge=50)
    # Engine V5: how long a run stays quiet before it continues as new (carried from run to
    # run, so a start may choose it without changing a running episode's commands).
    rest_settle_seconds: float = Field(default=REST_SETTLE_SECONDS, ge=1, le=86_400)
    # ... and once the run holds this many events (a small run is cheap to replay).
    rest_after_events: int = Field(default=REST_AFTER_EVENTS, ge=10)


class EpisodeResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    episode_id: str
    outcome: str | None
    closed_at: datetime | None
    runs: int
