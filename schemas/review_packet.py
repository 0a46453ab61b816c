"""The concurrent-review packet: what a utilization reviewer asks for, and nothing more.

No free text beyond the clinician's decision rationale; no contact details. The patient's
identity (name, birth date, member ID) comes from the patients table
(`schemas.review_packet.PatientIdentity`); an episode with no patients row is named by its
opaque ID only.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.records import AUTHORIZED_LEVEL, DELIVERED_LEVEL

# 42 CFR 2.32(a), as revised by the 2024 final rule (89 FR 12472, Feb. 16, 2024; in
# force Apr. 16, 2024, compliance Feb. 16, 2026): each disclosure made with the patient's
# written consent is accompanied by Statement 1 (`PART2_NOTICE`, the long form, quoted
# exactly, its three cases run on as in the rule's text) or Statement 2
# (`PART2_NOTICE_SHORT`). The packet opens with Statement 1 and repeats Statement 2 at
# the foot of every page. Checked 2026-12-02 against the rule's text as republished
# (eCFR-verified compilations); 2.32(b) also asks for a copy of the consent or a clear
# explanation of its scope, which the packet does not carry: the consent on file is a
# yes/no with no recipient, purpose or dates (README, not built yet).
PART2_NOTICE = (
    "This record which has been disclosed to you is protected by Federal confidentiality "
    "rules (42 CFR part 2). These rules prohibit you from using or disclosing this record, "
    "or testimony that describes the information contained in this record, in any civil, "
    "criminal, administrative, or legislative proceedings by any Federal, State, or local "
    "authority, against the patient, unless authorized by the consent of the patient, "
    "except as provided at 42 CFR 2.12(c)(5) or as authorized by a court in accordance "
    "with 42 CFR 2.64 or 2.65. In addition, the Federal rules prohibit you from making "
    "any other use or disclosure of this record unless at least one of the following "
    "applies: (i) Further use or disclosure is expressly permitted by the written consent "
    "of the individual whose information is being disclosed in this record or as "
    "otherwise permitted by 42 CFR part 2. (ii) You are a covered entity or business "
    "associate and have received the record for treatment, payment, or health care "
    "operations, or (iii) You have received the record from a covered entity or business "
    "associate as permitted by 45 CFR part 164, subparts A and E. A general authorization "
    "for the release of medical or other information is NOT sufficient to meet the "
    "required elements of written consent to further use or redisclose the record (see "
    "42 CFR 2.31)."
)
PART2_NOTICE_SHORT = "42 CFR part 2 prohibits unauthorized use or disclosure of these records."


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIdentity(_Row):
    """Who the patient is, read from the patients table (store/patients.py) when a packet
    or a Bundle is made, never from Temporal. A payer's packet holds the minimum a
    utilization reviewer needs to match the member (name, birth date, member ID) and not
    the clinic's MRN; the clinic's own FHIR Bundle carries the MRN (`patient_ref`)."""

    patient_ref: str | None = Field(default=None, description="the clinic's MRN")
    name: str | None = None
    birth_date: date | None = None
    member_id: str | None = Field(default=None, description="the payer's member ID")


class PacketAuthorization(_Row):
    authorization_number: str | None
    payer_id: str | None
    level: str
    status: str
    unit_type: str | None
    units_approved: int | None
    units_used: int | None
    units_left: int | None
    start_date: date | None
    end_date: date | None


class AttendanceWeek(_Row):
    week_of: date = Field(description="the Monday of the ISO week")
    sessions_attended: int
    sessions_missed: int
    hours_attended: float


class ScoreLine(_Row):
    at: datetime
    phq9_total: int | None
    phq9_item9: int | None
    gad7_total: int | None


class CssrsLine(_Row):
    at: datetime
    risk: str | None
    high_risk: bool | None
    behaviour_past_3_months: bool | None
    answers: list[bool] | None


class ClinicianDecision(_Row):
    at: datetime
    clinician_id: str
    decision: str | None
    rationale: str | None = Field(description="the clinician's own reason, as recorded")


class EngineRecommendation(_Row):
    at: datetime
    recommended_action: str
    reasons: list[str]


class ReviewPacket(_Row):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    packet_id: str
    episode_id: str
    program_id: str
    requested_at: datetime
    part2_program: bool
    part2_notice: str | None
    patient: PatientIdentity | None
    # Packets stored before the level names were unified read too (schemas/records.py).
    delivered_level: str | None = Field(validation_alias=DELIVERED_LEVEL)
    authorized_level: str | None = Field(validation_alias=AUTHORIZED_LEVEL)
    level_since: datetime | None = Field(description="when the current delivered level began")
    episode_started_at: datetime
    authorization: PacketAuthorization | None
    attendance_by_week: list[AttendanceWeek]
    scores: list[ScoreLine]
    cssrs: list[CssrsLine]
    latest_decision: ClinicianDecision | None
    recommendation: EngineRecommendation | None
