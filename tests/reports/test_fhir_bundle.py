"""The episode's FHIR R4 Bundle: every resource validates (fhir.resources R4B), codes are
the LOINC ones, and every reference resolves inside the Bundle."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from api.reports.fhir_bundle import episode_bundle
from schemas.review_packet import PatientIdentity
from store.fhir_records import FhirRecords


def at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


RECORDS = FhirRecords(
    episode={
        "episode_id": "ep_1",  # an underscore: not a valid FHIR id, so ids are UUIDs
        "program_id": "iop-adult",
        "phase": "in_treatment",
        "outcome": None,
        "level_authorized": "iop",
        "level_delivered": "iop",
        "started_at": at(1, 5),
        "closed_at": None,
        "next_review_due": at(2, 9),
        "updated_at": at(2, 2),
    },
    transitions=[
        {
            "at": at(1, 5),
            "from_phase": "referral",
            "to_phase": "assessment",
            "event": "referral_received",
            "level_delivered": None,
        },
        {
            "at": at(1, 6),
            "from_phase": "assessment",
            "to_phase": "authorization",
            "event": "assessed_program_level",
            "level_delivered": None,
        },
        {
            "at": at(1, 8),
            "from_phase": "authorization",
            "to_phase": "in_treatment",
            "event": "auth_approved",
            "level_delivered": "iop",
        },
    ],
    scores=[
        {
            "review_id": "a1",
            "kind": "assessment",
            "at": at(1, 6),
            "clinician_id": "clin-7",
            "phq9_total": 18,
            "phq9_item9": 1,
            "gad7_total": 12,
        },
        {
            "review_id": "r1",
            "kind": "review",
            "at": at(2, 2),
            "clinician_id": "clin-8",
            "phq9_total": 11,
            "phq9_item9": None,
            "gad7_total": None,
        },
    ],
    sessions=[
        {
            "session_id": "s1",
            "starts_at": at(1, 12),
            "minutes": 180,
            "modality": "in_person",
            "status": "attended",
            "level": "iop",
        },
        {
            "session_id": "s2",
            "starts_at": at(1, 13),
            "minutes": 120,
            "modality": "telehealth",
            "status": "partial",
            "level": "iop",
        },
    ],
    payer_id="SANDBOX",
    clinicians=["clin-7", "clin-8"],
    level_since=at(1, 8),
)


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [entry["resource"] for entry in bundle["entry"]]


def _references(node: object) -> list[str]:
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_references(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_references(item))
    return found


def _bundle() -> dict[str, Any]:
    built = episode_bundle(RECORDS, at=at(2, 3))
    out: dict[str, Any] = built.model_dump(mode="json", exclude_none=True)
    return out


def test_every_resource_validates_and_every_reference_resolves() -> None:
    bundle = _bundle()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    urls = {entry["fullUrl"] for entry in bundle["entry"]}
    for resource in _resources(bundle):
        model = get_fhir_model_class(resource["resourceType"])
        model.model_validate(resource)  # raises on an invalid resource
    assert set(_references(bundle)) <= urls
    again = _bundle()
    assert [e["fullUrl"] for e in again["entry"]] == [e["fullUrl"] for e in bundle["entry"]]


def test_resources_and_codes() -> None:
    resources = _resources(_bundle())
    kinds = [r["resourceType"] for r in resources]
    assert kinds.count("QuestionnaireResponse") == 3  # two PHQ-9, one GAD-7
    assert kinds.count("Encounter") == 2
    assert kinds.count("EpisodeOfCare") == kinds.count("CarePlan") == kinds.count("Coverage") == 1
    qrs = [r["questionnaire"] for r in resources if r["resourceType"] == "QuestionnaireResponse"]
    assert sorted(qrs) == [
        "http://loinc.org/q/44249-1",
        "http://loinc.org/q/44249-1",
        "http://loinc.org/q/69737-5",
    ]
    codes = sorted(
        (r["code"]["coding"][0]["code"], r["valueInteger"])
        for r in resources
        if r["resourceType"] == "Observation"
    )
    assert codes == [("44260-8", 1), ("44261-6", 11), ("44261-6", 18), ("70274-6", 12)]
    assert all(
        r["code"]["coding"][0]["system"] == "http://loinc.org"
        for r in resources
        if r["resourceType"] == "Observation"
    )
    [episode] = [r for r in resources if r["resourceType"] == "EpisodeOfCare"]
    assert episode["status"] == "active"
    assert [h["status"] for h in episode["statusHistory"]] == ["planned", "waitlist", "active"]
    assert episode["statusHistory"][0]["period"]["end"] == "2026-01-06T09:00:00Z"
    [team] = [r for r in resources if r["resourceType"] == "CareTeam"]
    assert [p["member"]["identifier"]["value"] for p in team["participant"]] == [
        "clin-7",
        "clin-8",
    ]
    encounters = [r for r in resources if r["resourceType"] == "Encounter"]
    assert [e["class"]["code"] for e in encounters] == ["AMB", "VR"]
    assert encounters[1]["period"]["end"] == "2026-01-13T11:00:00Z"
    [plan] = [r for r in resources if r["resourceType"] == "CarePlan"]
    assert plan["status"] == "active" and "iop" in plan["title"]
    assert plan["activity"][0]["detail"]["scheduledTiming"]["repeat"]["period"] == 7.0


def test_patient_identity_when_known_and_closed_status() -> None:
    identity = PatientIdentity(patient_ref="MRN-1", name="Pat Example")
    bundle = episode_bundle(RECORDS, at=at(2, 3), identity=identity)
    [patient] = [
        r for r in _resources(bundle.model_dump(mode="json")) if r["resourceType"] == "Patient"
    ]
    assert patient["identifier"][0]["value"] == "MRN-1"
    closed = FhirRecords(
        **{
            **RECORDS.__dict__,
            "episode": {
                **RECORDS.episode,
                "phase": "closed",
                "outcome": "entered_in_error",
                "closed_at": at(2, 4),
            },
        }
    )
    resources = _resources(episode_bundle(closed, at=at(2, 5)).model_dump(mode="json"))
    [episode] = [r for r in resources if r["resourceType"] == "EpisodeOfCare"]
    assert episode["status"] == "entered-in-error"


def test_packet_bundle_names_the_member_without_the_mrn() -> None:
    from api.reports.packet import packet_bundle
    from bench.outcomes_bench import sample_packet

    identity = PatientIdentity(name="Pat Example", birth_date=date(1990, 4, 2), member_id="M-7")
    packet = sample_packet().model_copy(update={"patient": identity})
    resources = _resources(packet_bundle(packet, b"%PDF-", at=at(6, 1)).model_dump(mode="json"))
    [patient] = [r for r in resources if r["resourceType"] == "Patient"]
    assert patient["name"] == [{"text": "Pat Example"}]
    assert patient["birthDate"] == "1990-04-02"
    assert "identifier" not in patient
    [coverage] = [r for r in resources if r["resourceType"] == "Coverage"]
    assert coverage["subscriberId"] == "M-7"
    assert coverage["beneficiary"]["reference"] == next(
        e["fullUrl"]
        for e in packet_bundle(packet, b"%PDF-", at=at(6, 1)).model_dump(mode="json")["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )
