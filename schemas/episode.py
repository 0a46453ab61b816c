"""What a clinic system sends to start an episode."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import date
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import to_jsonable_python

from rules import localtime
from rules.levels import AgeGroup
from rules.payer_deadlines import PlanType
from rules.policy import ProgramPolicy
from schemas.text import PlainText

# Opaque identifiers only: they end up in workflow IDs, so no names, MRNs or member IDs.
OpaqueId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


# What an opaque patient key (store/patients.py) starts with; an MRN in its place marks a
# start recorded before the patients table.
PATIENT_KEY_PREFIX = "pt_"


def new_episode_id() -> str:
    return uuid.uuid4().hex


class PatientRef(BaseModel):
    """Who the patient is. Protected health information: kept in PostgreSQL (the `patients`
    table, store/patients.py); what Temporal receives (`EpisodeStart.for_engine`) holds only
    the opaque patient key in `patient_ref`, with no name or date of birth. Starts recorded
    before that change still carry the MRN, name and date of birth in their history."""

    model_config = ConfigDict(extra="forbid")

    patient_ref: PlainText = Field(
        min_length=1,
        max_length=128,
        description="the clinic's own MRN (kept in PostgreSQL; the workflow gets an opaque key)",
    )
    name: PlainText | None = Field(default=None, max_length=200)
    birth_date: date | None = None


class Coverage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payer_id: PlainText = Field(min_length=1, max_length=64)
    member_id: PlainText | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="required in a request body (422 without it); kept in PostgreSQL, never "
        "sent to the workflow (engine V4: the payer activity reads it from the records)",
    )
    plan_name: PlainText | None = Field(default=None, max_length=200)
    plan_type: PlanType | None = Field(
        default=None,
        description="sets the payer's decision deadlines (commercial/ERISA, "
        "Medicare Advantage, Medicaid); unknown: the program's own",
    )

    def without_member(self) -> Coverage:
        """This coverage as the workflow keeps it: the payer and plan, no member ID."""
        return self.model_copy(update={"member_id": None})


class ContactPreferences(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sms: bool = False
    email: bool = False
    phone: PlainText | None = Field(default=None, max_length=32)
    email_address: PlainText | None = Field(default=None, max_length=200)
    time_zone: PlainText | None = Field(
        default=None, max_length=64, description="the patient's IANA time zone (quiet hours)"
    )
    language: PlainText | None = Field(
        default=None,
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="the patient's language (BCP 47, e.g. es-US): the questionnaire page "
        "uses the program's translation for it when there is one, else English",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is not None:
            localtime.zone(name)  # ValueError (422 naming the field) for an unknown zone
        return name

    def without_addresses(self) -> ContactPreferences:
        """The preferences alone: addresses and zone live in PostgreSQL, never in Temporal."""
        return ContactPreferences(sms=self.sms, email=self.email)


class Consents(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payer_disclosure: bool = Field(
        default=False, description="42 CFR Part 2 consent to disclose to the payer"
    )
    messaging: bool = True


class EpisodeStart(BaseModel):
    """The workflow's input; also the body of `POST /v1/episodes`."""

    model_config = ConfigDict(extra="forbid")

    episode_id: OpaqueId = Field(default_factory=new_episode_id)
    program_id: OpaqueId
    age_group: AgeGroup = AgeGroup.ADULT
    adult_on: date | None = Field(
        default=None,
        description="for an adolescent without a birth date: the day the age group becomes "
        "adult (the 18th birthday). Kept in PostgreSQL with the patient, never sent to the "
        "workflow; the engine asks the records at enrolment and each review",
    )
    patient: PatientRef
    coverage: Coverage | None = None
    contact: ContactPreferences = Field(default_factory=ContactPreferences)
    consents: Consents = Field(default_factory=Consents)
    policy: ProgramPolicy = Field(default_factory=ProgramPolicy)

    def without_contact_details(self) -> EpisodeStart:
        """This start without phone, email address or time zone (how starts recorded before
        the patients table reached the workflow; compared for their repeated starts)."""
        return self.model_copy(update={"contact": self.contact.without_addresses()})

    def for_engine(self, patient_key: str) -> EpisodeStart:
        """This start as the workflow gets it: the patient only as the opaque `patient_key`
        (no MRN, name or date of birth), no 18th birthday (`adult_on`: it gives the birth
        date away), no member ID and no phone, email address or time zone."""
        return self.model_copy(
            update={
                "patient": PatientRef(patient_ref=patient_key),
                "contact": self.contact.without_addresses(),
                "adult_on": None,
                "coverage": self.coverage.without_member() if self.coverage else None,
            }
        )

    def carries_patient_data(self) -> bool:
        """Whether this start still holds the patient (an MRN, name, birth date or contact
        details): recorded before the patients table, it reached the workflow whole."""
        return (
            not self.patient.patient_ref.startswith(PATIENT_KEY_PREFIX)
            or self.patient.name is not None
            or self.patient.birth_date is not None
            or self.contact != self.contact.without_addresses()
        )

    def fingerprint(self) -> str:
        """SHA-256 of this body in canonical form (JSON, sorted keys, defaults filled in):
        two starts are the same start exactly when their fingerprints are equal."""
        canonical = json.dumps(
            _canonical(self.model_dump()), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(canonical.encode()).hexdigest()

    @model_validator(mode="after")
    def _adult_on_for_adolescents(self) -> Self:
        if self.adult_on is not None and self.age_group is not AgeGroup.ADOLESCENT:
            raise ValueError("adult_on is for an adolescent's episode (age_group adolescent)")
        return self

    def with_part2(self, part2: bool) -> EpisodeStart:
        """This start under the program's server-side 42 CFR Part 2 setting."""
        policy = self.policy.model_copy(update={"part2_program": part2})
        return self.model_copy(update={"policy": policy})


class AgeGroupCheck(BaseModel):
    """What the workflow asks the records (engine V4): is this episode's patient an adult on
    `on` (the program's local date)? The answer is the age group alone."""

    model_config = ConfigDict(extra="forbid")
    episode_id: OpaqueId
    on: date


def workflow_id_for(episode_id: str) -> str:
    """The public workflow ID: `care-episode-{episode_id}`."""
    return f"care-episode-{episode_id}"


def _canonical(value: Any) -> Any:
    """JSON-ready, with every set sorted (a frozenset's order follows string hashing, which
    differs per process) and whole floats as integers: the same start must hash the same
    however it was built and in whichever process."""
    if isinstance(value, set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # a number field holds 7 when built, 7.0 once read back from JSON
    return to_jsonable_python(value)
