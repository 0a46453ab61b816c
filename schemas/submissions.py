"""What people and systems submit to a running episode (one Workflow Update each)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from rules.instruments import CssrsRisk, cssrs_contradiction
from rules.levels import LevelOfCare
from schemas.episode import Coverage, OpaqueId
from schemas.text import PlainText

Item03 = Annotated[int, Field(ge=0, le=3)]
# Free text that must say something: surrounding blanks are trimmed before the length check.
RealText = Annotated[
    PlainText, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)
]

SUBMISSION_ID_RULE = (
    "Unique per episode and kind of submission (assessment, coverage, authorization, "
    "review, decision, event). Sent again with the same content it is a retry: the first "
    "answer comes back with duplicate=true and nothing changes. Sent again with different "
    "content it is refused with 409 submission-conflict; a correction needs a new ID. "
    "The same ID used by another kind is a different submission."
)
SubmissionId = Annotated[OpaqueId, Field(description=SUBMISSION_ID_RULE)]
# Who a patient's own answers (by link) are recorded as.
PATIENT_ACTOR = "patient"


class Submission(BaseModel):
    """What a person or another system submits to a running episode (one Workflow Update).

    Each kind says which of its fields is its submission ID (`id_field`) and which names
    who submitted it (`actor_field`; None when the actor is always `fixed_actor`). Both
    are checked when the class is defined: a name that is not a text field fails at import.
    """

    id_field: ClassVar[str]
    actor_field: ClassVar[str | None]
    fixed_actor: ClassVar[str | None] = None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        named = [cls.id_field] + ([cls.actor_field] if cls.actor_field else [])
        for name in named:
            field = cls.model_fields.get(name)
            if field is None or field.annotation is not str:
                raise TypeError(f"{cls.__name__}: '{name}' is not a text field")
        if (cls.actor_field is None) == (cls.fixed_actor is None):
            raise TypeError(f"{cls.__name__}: declare actor_field or fixed_actor, not both")

    def identifier(self) -> str:
        """The submission ID: unique per episode and kind (see SUBMISSION_ID_RULE)."""
        value = getattr(self, self.id_field)
        assert isinstance(value, str)
        return value

    def submitted_by(self) -> str:
        """The actor the submission is made in the name of."""
        if self.actor_field is None:
            assert self.fixed_actor is not None
            return self.fixed_actor
        value = getattr(self, self.actor_field)
        assert isinstance(value, str)
        return value


class Phq9(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item03] = Field(min_length=9, max_length=9, description="LOINC 44249-1 items")


class Gad7(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[Item03] = Field(min_length=7, max_length=7)


class CssrsScreen(BaseModel):
    """C-SSRS screener: six yes/no answers (Q6 = suicidal behaviour)."""

    model_config = ConfigDict(extra="forbid")
    answers: list[bool] = Field(min_length=6, max_length=6)
    behaviour_past_3_months: bool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problem = cssrs_contradiction(self.answers, self.behaviour_past_3_months)
        if problem is not None:
            raise ValueError(problem)
        return self


class SafetyAssessment(BaseModel):
    """The result of a safety assessment (or emergency evaluation): what clears `risk`."""

    model_config = ConfigDict(extra="forbid")
    instrument: Literal["C-SSRS", "SAFE-T", "ASQ", "emergency_evaluation", "clinical"]
    result: CssrsRisk = Field(description="the risk level the assessment found")
    plan: RealText = Field(description="the safety plan or disposition")


class LevelDetermination(BaseModel):
    """A clinician's level-of-care determination; licensed grids are not re-scored here."""

    model_config = ConfigDict(extra="forbid")
    instrument: Literal["LOCUS", "ASAM", "CALOCUS", "clinical"]
    level: LevelOfCare
    rationale: PlainText = Field(min_length=1, max_length=2000)


class AssessmentSubmission(Submission):
    model_config = ConfigDict(extra="forbid")
    id_field = "assessment_id"
    actor_field = "clinician_id"
    assessment_id: SubmissionId
    clinician_id: OpaqueId
    phq9: Phq9
    gad7: Gad7 | None = None
    cssrs: CssrsScreen | None = None
    determination: LevelDetermination
    await_return_if_referred_out: bool = True
    safety_assessment: SafetyAssessment | None = Field(
        default=None, description="the emergency evaluation, when a high-risk screen was held"
    )


class CoverageSubmission(Submission):
    """Updated coverage details, or the patient's decision to pay for themselves."""

    model_config = ConfigDict(extra="forbid")
    id_field = "submission_id"
    actor_field = "recorded_by"
    submission_id: SubmissionId
    recorded_by: OpaqueId
    self_pay: bool = False
    coverage: Coverage | None = None

    @model_validator(mode="after")
    def _coverage_or_self_pay(self) -> Self:
        if self.self_pay == (self.coverage is not None):
            raise ValueError("send either coverage details or self_pay=true, not both")
        return self


class AuthorizationKind(StrEnum):
    APPROVED = "approved"
    DENIED = "denied"
    APPEAL_FILED = "appeal_filed"
    APPEAL_APPROVED = "appeal_approved"
    APPEAL_UPHELD = "appeal_upheld"


class UnitType(StrEnum):
    SESSIONS = "sessions"
    DAYS = "days"


class AuthorizationDecision(Submission):
    """A payer's decision as recorded by utilization-review staff."""

    model_config = ConfigDict(extra="forbid")
    id_field = "decision_id"
    actor_field = "recorded_by"
    decision_id: SubmissionId
    recorded_by: OpaqueId
    kind: AuthorizationKind
    level: LevelOfCare | None = None
    units: int | None = Field(default=None, ge=1, le=1000)
    unit_type: UnitType = UnitType.SESSIONS
    start_date: date | None = None
    end_date: date | None = None
    authorization_number: PlainText | None = Field(default=None, min_length=1, max_length=64)
    reason: PlainText | None = Field(default=None, max_length=2000)
    expedited: bool = Field(
        default=False, description="for appeal_filed: an expedited appeal (72 h, not 30 days)"
    )
    next_review_date: date | None = Field(
        default=None, description="for an approval: the payer's date for its next review"
    )

    @model_validator(mode="after")
    def _approval_has_terms(self) -> Self:
        approving = self.kind in (AuthorizationKind.APPROVED, AuthorizationKind.APPEAL_APPROVED)
        if approving:
            missing = [
                name
                for name in ("units", "start_date", "end_date", "authorization_number")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"an approval needs {', '.join(missing)}")
            assert self.start_date is not None and self.end_date is not None
            if self.end_date < self.start_date:
                raise ValueError("end_date is before start_date")
        elif self.kind is not AuthorizationKind.APPEAL_FILED and not self.reason:
            raise ValueError("a denial or upheld appeal needs a reason")
        return self


class ReviewSubmission(Submission):
    """A weekly (or, in OP, monthly) review: measures and attendance for the period."""

    model_config = ConfigDict(extra="forbid")
    id_field = "review_id"
    actor_field = "clinician_id"
    review_id: SubmissionId
    clinician_id: OpaqueId
    phq9: Phq9 | None = None
    gad7: Gad7 | None = None
    cssrs: CssrsScreen | None = None
    hours_attended: float = Field(ge=0, le=168)
    units_attended: int = Field(ge=0, le=31, description="sessions or days, as authorized")
    period_weeks: float = Field(default=1.0, gt=0, le=8)


class PatientMeasureSubmission(Submission):
    """A questionnaire the patient answered through their link (`/p/{token}`).

    `submission_id` comes from the link (one per link), so a resubmission is a retry.
    """

    model_config = ConfigDict(extra="forbid")
    id_field = "submission_id"
    actor_field = None
    fixed_actor = PATIENT_ACTOR
    submission_id: SubmissionId
    instrument: Literal["phq9", "gad7"]
    phq9: Phq9 | None = None
    gad7: Gad7 | None = None

    @model_validator(mode="after")
    def _answers_the_instrument(self) -> Self:
        if (self.phq9 is not None) != (self.instrument == "phq9") or (self.gad7 is not None) != (
            self.instrument == "gad7"
        ):
            raise ValueError(f"a {self.instrument} submission carries exactly its answers")
        return self


class DecisionAction(StrEnum):
    CONTINUE = "continue"
    STEP_DOWN = "step_down"
    STEP_UP = "step_up"
    DISCHARGE = "discharge"


# Actions that change the level of care, and so must name the level to move to.
LEVEL_CHANGES: tuple[DecisionAction, ...] = (DecisionAction.STEP_DOWN, DecisionAction.STEP_UP)


def _level_change_needs_target(schema: dict[str, Any]) -> None:
    """State the target_level rule in the JSON schema (so in the OpenAPI document) too:
    if the action is a level change, then target_level is required and not null."""
    branches = schema["properties"]["target_level"].get("anyOf", [])
    level = next((b for b in branches if b.get("type") != "null"), None)
    schema["if"] = {
        "properties": {"action": {"enum": [a.value for a in LEVEL_CHANGES]}},
        "required": ["action"],
    }
    schema["then"] = {
        "required": ["target_level"],
        "properties": {"target_level": level} if level else {},
    }


class ClinicianDecision(Submission):
    """The clinician's call on a recommendation; the engine guards, it does not decide.

    A step_down or step_up names `target_level` (the JSON schema says so with if/then).
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_level_change_needs_target)
    id_field = "decision_id"
    actor_field = "clinician_id"
    decision_id: SubmissionId
    clinician_id: OpaqueId
    action: DecisionAction
    target_level: LevelOfCare | None = None
    reason: PlainText | None = Field(default=None, max_length=2000)
    override_reason: PlainText | None = Field(
        default=None, max_length=2000, description="safety assessment result when continuing"
    )
    safety_assessment: SafetyAssessment | None = None
    expedited: bool = False

    @model_validator(mode="after")
    def _level_change_names_target(self) -> Self:
        if self.action in LEVEL_CHANGES and self.target_level is None:
            raise ValueError(f"{self.action} needs target_level")
        return self


class EpisodeEventKind(StrEnum):
    ADMITTED = "admitted"
    DISCHARGED = "discharged"
    REFERRAL_CLOSED = "referral_closed"
    WITHDRAWN = "withdrawn"
    ENTERED_IN_ERROR = "entered_in_error"
    # 42 CFR Part 2: the patient's consent to disclose to the payer, obtained after the start.
    PAYER_DISCLOSURE_CONSENTED = "payer_disclosure_consented"
    SAFETY_ASSESSMENT = "safety_assessment"
    FOLLOWUP_VISIT = "followup_visit"


class FollowupVisitKind(StrEnum):
    """Visits that count for HEDIS FUH (an outpatient, IOP, PHP or telehealth visit)."""

    OUTPATIENT = "outpatient"
    IOP = "iop"
    PHP = "php"
    TELEHEALTH = "telehealth"
    COMMUNITY_MENTAL_HEALTH = "community_mental_health"


class AlertResponse(StrEnum):
    """What the care-team member who acknowledged the risk alert did about it."""

    REACHED_PATIENT = "reached_patient"
    LEFT_MESSAGE = "left_message_no_contact"
    SEEN_IN_PERSON = "seen_in_person"
    SAFETY_PLAN_REVIEWED = "safety_plan_reviewed"
    CRISIS_TEAM_CONTACTED = "crisis_team_contacted"
    EMERGENCY_SERVICES_CONTACTED = "emergency_services_contacted"


class AlertAcknowledgement(Submission):
    """A care-team member has seen the open risk flag's urgent alert and says what was
    done. It stops the alert's escalation; only a recorded safety assessment clears the
    flag itself."""

    model_config = ConfigDict(extra="forbid")
    id_field = "acknowledgement_id"
    actor_field = "acknowledged_by"
    acknowledgement_id: SubmissionId
    acknowledged_by: OpaqueId
    response: AlertResponse


class EpisodeEvent(Submission):
    """An event reported by another system (admission, discharge, withdrawal, error)."""

    model_config = ConfigDict(extra="forbid")
    id_field = "event_id"
    actor_field = "reported_by"
    event_id: SubmissionId
    reported_by: OpaqueId
    kind: EpisodeEventKind
    level_at_discharge: LevelOfCare | None = Field(
        default=None, description="for a discharge: the level to return to, or none for home"
    )
    occurred_at: datetime | None = Field(
        default=None, description="when it happened (a discharge's clock starts here)"
    )
    reason: PlainText | None = Field(default=None, max_length=2000)
    safety_assessment: SafetyAssessment | None = None
    visit_date: date | None = Field(default=None, description="for a follow-up visit")
    visit_kind: FollowupVisitKind | None = None

    @model_validator(mode="after")
    def _kind_has_its_fields(self) -> Self:
        if self.kind is EpisodeEventKind.SAFETY_ASSESSMENT and self.safety_assessment is None:
            raise ValueError("a safety_assessment event needs safety_assessment")
        if self.kind is EpisodeEventKind.FOLLOWUP_VISIT and (
            self.visit_date is None or self.visit_kind is None
        ):
            raise ValueError("a followup_visit event needs visit_date and visit_kind")
        return self
