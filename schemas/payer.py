"""What crosses the payer port: eligibility (X12 270/271) and authorization requests."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from rules.levels import LevelOfCare


class Subscriber(BaseModel):
    """The subscriber's name, date of birth and member ID, as X12 270/278 carry them (NM1*IL,
    DMG).

    Read from the patient store by the payer activity, at call time: never part of what
    the workflow sends to the activity (so never in Temporal's history)."""

    model_config = ConfigDict(extra="forbid")
    last_name: str | None = None
    first_name: str | None = None
    birth_date: date | None = None
    member_id: str | None = None


# Engine V3: which episode's patient the payer call is about; the activity reads the
# subscriber's data from the store by it. Older runs send none (and no subscriber data).
# Engine V4 sends no member ID either: the activity reads it there too, for the coverage
# the start gave or for the coverage change `coverage_ref` names.
EPISODE_FIELD_DOC = "engine V3: the episode whose patient the activity looks up in the store"
SUBSCRIBER_FIELD_DOC = "filled in by the activity from the store, never by the workflow"
MEMBER_FIELD_DOC = (
    "up to engine V3 the workflow's; from V4 filled in by the activity from the store"
)
COVERAGE_REF_DOC = (
    "the coverage change (its submission ID) whose member ID the store holds; none: the start's"
)


class EligibilityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str
    payer_id: str
    member_id: str | None = Field(default=None, description=MEMBER_FIELD_DOC)
    service_types: list[str] = Field(default_factory=lambda: ["MH", "CH"])
    episode_id: str | None = Field(default=None, description=EPISODE_FIELD_DOC)
    coverage_ref: str | None = Field(default=None, description=COVERAGE_REF_DOC)
    subscriber: Subscriber | None = Field(default=None, description=SUBSCRIBER_FIELD_DOC)


class AuthRequirement(StrEnum):
    REQUIRED = "Y"
    NOT_REQUIRED = "N"
    UNKNOWN = "U"


class EligibilityResult(BaseModel):
    model_config = ConfigDict(extra="forbid")
    active: bool
    authorization: AuthRequirement = AuthRequirement.UNKNOWN
    copay: float | None = None
    coinsurance_pct: float | None = None
    checked_at: datetime


class PayerRequestKind(StrEnum):
    INITIAL = "initial"
    CONCURRENT_REVIEW = "concurrent_review"


class AuthorizationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(description="workflow ID + sequence: the payer dedupes on it")
    kind: PayerRequestKind
    payer_id: str
    member_id: str | None = Field(default=None, description=MEMBER_FIELD_DOC)
    level: LevelOfCare
    units_requested: int
    expedited: bool = False
    urgent_concurrent: bool = Field(
        default=False, description="an extension filed >= 24 h before expiry (24 h decision)"
    )
    prior_authorization_number: str | None = None
    disclosure_consented: bool = False
    episode_id: str | None = Field(default=None, description=EPISODE_FIELD_DOC)
    coverage_ref: str | None = Field(default=None, description=COVERAGE_REF_DOC)
    subscriber: Subscriber | None = Field(default=None, description=SUBSCRIBER_FIELD_DOC)


class PayerStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class PayerAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference: str
    status: PayerStatus
    units: int | None = None
    start_date: date | None = None
    end_date: date | None = None
    authorization_number: str | None = None
    reason: str | None = None
    next_review_date: date | None = None
