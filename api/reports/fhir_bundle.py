"""FHIR R4 resources from the care records, built and validated with `fhir.resources`'
R4B package (pydantic v2; these resources are unchanged from R4).

Every resource gets a stable `urn:uuid` (UUID 5 of the episode and the record), so the
same records give the same Bundle and every reference resolves inside it. The patient's
name, birth date and MRN come from the patients table at render time
(`store.review_packets.patient_identity`), never from Temporal.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.careteam import CareTeam
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhir.resources.R4B.resource import Resource

from api.reports.fhir_items import GAD7_ITEMS, PHQ9_ITEMS, answered_items
from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from rules.transitions import CarePhase
from schemas.review_packet import PatientIdentity
from store.fhir_records import FhirRecords

LOINC: Final = "http://loinc.org"
PHQ9_PANEL, PHQ9_TOTAL, PHQ9_ITEM9 = "44249-1", "44261-6", "44260-8"
GAD7_PANEL, GAD7_TOTAL = "69737-5", "70274-6"
NAMESPACE: Final = uuid.UUID("6f1d2a4e-7f0b-4b7e-9d55-3c0e2f1a9b10")
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
CONFIDENTIALITY: Final = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CLINICIAN_SYSTEM: Final = "urn:carepath:clinician"
PAYER_SYSTEM: Final = "urn:carepath:payer"
LEVEL_NAMES: Final = {
    LevelOfCare.OP: "Outpatient",
    LevelOfCare.IOP: "Intensive outpatient",
    LevelOfCare.PHP: "Partial hospitalization",
    LevelOfCare.RESIDENTIAL: "Residential",
    LevelOfCare.INPATIENT: "Inpatient",
}
# EpisodeOfCare.status per phase (closed is refined by the outcome).
PHASE_STATUS: Final = {
    CarePhase.REFERRAL: "planned",
    CarePhase.ASSESSMENT: "planned",
    CarePhase.INSURANCE_VERIFICATION: "waitlist",
    CarePhase.FINANCIAL_COUNSELING: "waitlist",
    CarePhase.AUTHORIZATION: "waitlist",
    CarePhase.APPEAL: "waitlist",
    CarePhase.IN_TREATMENT: "active",
    CarePhase.EXTERNAL_CARE: "onhold",
    CarePhase.AFTERCARE: "finished",
    CarePhase.CLOSED: "finished",
}


def urn(episode_id: str, *parts: object) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, '/'.join([episode_id, *map(str, parts)]))}"


def _id(full_url: str) -> str:
    return full_url.removeprefix("urn:uuid:")


def _iso(at: datetime) -> str:
    return at.isoformat()


class BundleBuilder:
    """Collects validated resources under their fullUrls, then makes the Bundle."""

    def __init__(self, episode_id: str, *, part2: bool = False) -> None:
        self.episode_id = episode_id
        self.part2 = part2
        self.entries: list[tuple[str, Resource]] = []

    def add(self, kind: type[Resource], full_url: str, body: dict[str, Any]) -> str:
        body = {"resourceType": kind.__name__, "id": _id(full_url), **body}
        if self.part2:  # 42 CFR Part 2: restricted, with the Part 2 policy label
            body["meta"] = {
                "security": [
                    {"system": CONFIDENTIALITY, "code": "R"},
                    {"system": ACT_CODE, "code": "42CFRPart2"},
                ]
            }
        self.entries.append((full_url, kind.model_validate(body)))
        return full_url

    def bundle(self, *, at: datetime) -> Bundle:
        return Bundle.model_validate(
            {
                "resourceType": "Bundle",
                "id": _id(urn(self.episode_id, "bundle", at.isoformat())),
                "type": "collection",
                "timestamp": _iso(at),
                "entry": [
                    {"fullUrl": url, "resource": r.model_dump(mode="json", exclude_none=True)}
                    for url, r in self.entries
                ],
            }
        )


def _status_history(records: FhirRecords, closed_status: str) -> list[dict[str, Any]]:
    periods: list[dict[str, Any]] = []
    for move in records.transitions:
        phase = CarePhase(str(move["to_phase"]))
        status = closed_status if phase is CarePhase.CLOSED else PHASE_STATUS[phase]
        at = move["at"]
        assert isinstance(at, datetime)
        if periods and periods[-1]["status"] == status:
            continue
        if periods:
            periods[-1]["period"]["end"] = _iso(at)
        periods.append({"status": status, "period": {"start": _iso(at)}})
    return periods


def _closed_status(outcome: object) -> str:
    if outcome == "entered_in_error":
        return "entered-in-error"
    if outcome in ("coverage_unresolved", "denial_upheld", "appeal_window_closed"):
        return "cancelled"
    return "finished"


def add_patient(b: BundleBuilder, identity: PatientIdentity | None) -> str:
    body: dict[str, Any] = {"active": True}
    if identity is not None:
        if identity.patient_ref:
            body["identifier"] = [{"system": "urn:carepath:mrn", "value": identity.patient_ref}]
        if identity.name:
            body["name"] = [{"text": identity.name}]
        if identity.birth_date:
            body["birthDate"] = identity.birth_date.isoformat()
    return b.add(Patient, urn(b.episode_id, "patient"), body)


def add_episode(b: BundleBuilder, records: FhirRecords, patient: str) -> str:
    ep = records.episode
    phase = CarePhase(str(ep["phase"]))
    closed = _closed_status(ep["outcome"])
    team = b.add(
        CareTeam,
        urn(b.episode_id, "care-team"),
        {
            "status": "active" if phase is not CarePhase.CLOSED else "inactive",
            "subject": {"reference": patient},
            "participant": [
                {"member": {"identifier": {"system": CLINICIAN_SYSTEM, "value": c}, "display": c}}
                for c in records.clinicians
            ],
        },
    )
    started = ep["started_at"]
    assert isinstance(started, datetime)
    period: dict[str, str] = {"start": _iso(started)}
    if isinstance(ep["closed_at"], datetime):
        period["end"] = _iso(ep["closed_at"])
    return b.add(
        EpisodeOfCare,
        urn(b.episode_id, "episode"),
        {
            "identifier": [{"system": "urn:carepath:episode", "value": b.episode_id}],
            "status": closed if phase is CarePhase.CLOSED else PHASE_STATUS[phase],
            "statusHistory": _status_history(records, closed),
            "type": [{"text": f"behavioral-health program {ep['program_id']}"}],
            "patient": {"reference": patient},
            "period": period,
            "team": [{"reference": team}],
        },
    )


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


@dataclass(frozen=True)
class Instrument:
    """One scored questionnaire as the records hold it and LOINC codes it."""

    key: str
    panel: str
    total_code: str
    total_text: str
    items: tuple[tuple[str, str], ...]
    # Single item answers kept beside the total (PHQ-9 item 9): (LOINC, display, column).
    kept_items: tuple[tuple[str, str, str], ...] = ()

    def total(self, row: dict[str, object]) -> object:
        return row.get(f"{self.key}_total")

    def response_items(self, row: dict[str, object]) -> list[dict[str, object]]:
        """Every item answer then the total where the row carries the answers (`phq9_items`,
        `gad7_items`: reviews since migration 0720 and the follow-up questionnaires); else
        the items kept on their own (PHQ-9 item 9) then the total: older rows."""
        answers = row.get(f"{self.key}_items")
        if isinstance(answers, list):
            items = answered_items(self.items, answers)
        else:
            texts = dict(self.items)
            items = [
                {"linkId": code, "text": texts[code], "answer": [{"valueInteger": row[column]}]}
                for code, _, column in self.kept_items
                if row.get(column) is not None
            ]
        total = {"linkId": self.total_code, "text": self.total_text}
        return [*items, {**total, "answer": [{"valueInteger": self.total(row)}]}]

    def observations(self, row: dict[str, object]) -> list[tuple[str, str, object]]:
        """(LOINC, display, value) per Observation: the total, then each kept item."""
        kept = [(c, d, row[col]) for c, d, col in self.kept_items if row.get(col) is not None]
        return [(self.total_code, self.total_text, self.total(row)), *kept]


INSTRUMENTS: Final = (
    Instrument(
        "phq9",
        PHQ9_PANEL,
        PHQ9_TOTAL,
        "PHQ-9 total score",
        PHQ9_ITEMS,
        kept_items=((PHQ9_ITEM9, "PHQ-9 item 9", "phq9_item9"),),
    ),
    Instrument("gad7", GAD7_PANEL, GAD7_TOTAL, "GAD-7 total score", GAD7_ITEMS),
)


def add_scores(
    b: BundleBuilder, rows: Iterable[dict[str, object]], patient: str, episode: str
) -> None:
    """A QuestionnaireResponse per PHQ-9 / GAD-7 (every item where the row has them, see
    `Instrument.response_items`) and an Observation per total and for PHQ-9 item 9."""
    survey = [{"coding": [{"system": OBS_CATEGORY, "code": "survey"}]}]
    for row in rows:
        at = row["at"]
        assert isinstance(at, datetime)
        key = f"{row['kind']}/{row['review_id']}/{at.isoformat()}"
        common: dict[str, Any] = {"subject": {"reference": patient}, "authored": _iso(at)}
        if row.get("clinician_id") is not None:
            common["author"] = {
                "identifier": {"system": CLINICIAN_SYSTEM, "value": str(row["clinician_id"])}
            }
        for instrument in INSTRUMENTS:
            if instrument.total(row) is None:
                continue
            qr = b.add(
                QuestionnaireResponse,
                urn(b.episode_id, f"{instrument.key}-qr", key),
                {
                    "questionnaire": f"{LOINC}/q/{instrument.panel}",
                    "status": "completed",
                    "item": instrument.response_items(row),
                    **common,
                },
            )
            for code, display, value in instrument.observations(row):
                b.add(
                    Observation,
                    urn(b.episode_id, "obs", code, key),
                    {
                        "status": "final",
                        "category": survey,
                        "code": _loinc(code, display),
                        "subject": {"reference": patient},
                        "effectiveDateTime": _iso(at),
                        "valueInteger": value,
                        "derivedFrom": [{"reference": qr}],
                        "focus": [{"reference": episode}],
                    },
                )


def add_coverage(
    b: BundleBuilder, payer_id: str | None, patient: str, member_id: str | None = None
) -> str | None:
    """The payer's Coverage; `subscriberId` is the member ID when it is known."""
    if payer_id is None:
        return None
    return b.add(
        Coverage,
        urn(b.episode_id, "coverage", payer_id),
        {
            "status": "active",
            "beneficiary": {"reference": patient},
            "subscriberId": member_id,
            "payor": [
                {"identifier": {"system": PAYER_SYSTEM, "value": payer_id}, "display": payer_id}
            ],
        },
    )


def add_encounters(
    b: BundleBuilder, sessions: Iterable[dict[str, object]], patient: str, episode: str
) -> None:
    for s in sessions:
        start = s["starts_at"]
        assert isinstance(start, datetime)
        minutes = int(str(s["minutes"]))
        virtual = s["modality"] == "telehealth"
        b.add(
            Encounter,
            urn(b.episode_id, "encounter", s["session_id"]),
            {
                "status": "finished",
                "class": {
                    "system": ACT_CODE,
                    "code": "VR" if virtual else "AMB",
                    "display": "virtual" if virtual else "ambulatory",
                },
                "serviceType": {"text": f"{str(s['level']).upper()} group session"},
                "subject": {"reference": patient},
                "episodeOfCare": [{"reference": episode}],
                "period": {"start": _iso(start), "end": _iso(start + timedelta(minutes=minutes))},
                "length": {
                    "value": minutes,
                    "unit": "min",
                    "system": "http://unitsofmeasure.org",
                    "code": "min",
                },
            },
        )


def add_care_plan(b: BundleBuilder, records: FhirRecords, patient: str, episode: str) -> str | None:
    """The current level and its review cadence (the default policy's interval: the
    episode's own policy is in its workflow, not in the records)."""
    ep = records.episode
    if ep["level_delivered"] is None:
        return None
    level = LevelOfCare(str(ep["level_delivered"]))
    interval = ProgramPolicy().review_interval(level)
    active = ep["phase"] == CarePhase.IN_TREATMENT.value
    detail: dict[str, Any] = {
        "kind": "Appointment",
        "code": {"text": "clinical review of the level of care"},
        "status": "scheduled" if active else "stopped",
        "scheduledTiming": {"repeat": {"frequency": 1, "period": interval, "periodUnit": "d"}},
        "description": f"review every {interval:g} days",
    }
    period: dict[str, str] = {}
    if records.level_since is not None:
        period["start"] = _iso(records.level_since)
    body: dict[str, Any] = {
        "status": "active" if active else "completed",
        "intent": "plan",
        "title": f"{LEVEL_NAMES[level]} ({level.value})",
        "category": [{"text": "level of care"}],
        "subject": {"reference": patient},
        "activity": [{"detail": detail}],
        "supportingInfo": [{"reference": episode}],
    }
    if period:
        body["period"] = period
    if isinstance(ep["next_review_due"], datetime):
        body["note"] = [{"text": f"next review due {ep['next_review_due'].date().isoformat()}"}]
    return b.add(CarePlan, urn(b.episode_id, "care-plan", level.value), body)


def episode_bundle(
    records: FhirRecords, *, at: datetime, identity: PatientIdentity | None = None
) -> Bundle:
    b = BundleBuilder(str(records.episode["episode_id"]))
    patient = add_patient(b, identity)
    episode = add_episode(b, records, patient)
    add_coverage(b, records.payer_id, patient, identity.member_id if identity else None)
    add_scores(b, records.scores, patient, episode)
    add_encounters(b, records.sessions, patient, episode)
    add_care_plan(b, records, patient, episode)
    return b.bundle(at=at)


def pdf_document(b: BundleBuilder, pdf: bytes, *, title: str, patient: str, at: datetime) -> str:
    import base64

    return b.add(
        DocumentReference,
        urn(b.episode_id, "document", title, at.isoformat()),
        {
            "status": "current",
            "type": {"text": title},
            "subject": {"reference": patient},
            "date": _iso(at),
            "content": [
                {
                    "attachment": {
                        "contentType": "application/pdf",
                        "data": base64.b64encode(pdf).decode("ascii"),
                        "title": title,
                    }
                }
            ],
        },
    )
