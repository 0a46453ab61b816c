"""Request examples for the OpenAPI document (and the CLI's docs); all are valid bodies."""

from __future__ import annotations

from typing import Any

from fastapi.openapi.models import Example

EPISODE_START: dict[str, Example] = {
    "adult_iop_referral": {
        "summary": "An adult referred to the IOP program, with coverage",
        "value": {
            "episode_id": "ep-2024-000123",
            "program_id": "iop-adult",
            "age_group": "adult",
            "patient": {"patient_ref": "MRN-000123"},
            "coverage": {"payer_id": "payer-1", "member_id": "M123456"},
            "contact": {"sms": True, "phone": "+15550100"},
            "consents": {"payer_disclosure": True, "messaging": True},
        },
    }
}

_PHQ9 = {"items": [2, 2, 2, 2, 1, 1, 1, 1, 0]}

ASSESSMENT: dict[str, Example] = {
    "iop_indicated": {
        "summary": "Intake assessment indicating IOP",
        "value": {
            "assessment_id": "asm-1",
            "clinician_id": "clin-7",
            "phq9": _PHQ9,
            "gad7": {"items": [1, 1, 2, 1, 1, 0, 1]},
            "determination": {"instrument": "LOCUS", "level": "iop", "rationale": "level 3"},
        },
    }
}

COVERAGE: dict[str, Example] = {
    "new_coverage": {
        "summary": "Updated insurance details",
        "value": {
            "submission_id": "cov-1",
            "recorded_by": "ur-3",
            "coverage": {"payer_id": "payer-2", "member_id": "M999"},
        },
    },
    "self_pay": {
        "summary": "The patient pays for themselves",
        "value": {"submission_id": "cov-2", "recorded_by": "ur-3", "self_pay": True},
    },
}

AUTHORIZATION: dict[str, Example] = {
    "approved": {
        "summary": "Payer approved 12 sessions",
        "value": {
            "decision_id": "auth-1",
            "recorded_by": "ur-3",
            "kind": "approved",
            "level": "iop",
            "units": 12,
            "unit_type": "sessions",
            "start_date": "2025-01-06",
            "end_date": "2025-02-02",
            "authorization_number": "PA-778",
        },
    },
    "denied": {
        "summary": "Payer denied the request",
        "value": {
            "decision_id": "auth-2",
            "recorded_by": "ur-3",
            "kind": "denied",
            "reason": "medical necessity not met",
        },
    },
}

REVIEW: dict[str, Example] = {
    "weekly_review": {
        "summary": "A weekly IOP review",
        "value": {
            "review_id": "rev-2025-w02",
            "clinician_id": "clin-7",
            "phq9": {"items": [1, 1, 1, 1, 1, 1, 0, 0, 0]},
            "hours_attended": 9.5,
            "units_attended": 3,
        },
    }
}

DECISION: dict[str, Example] = {
    "step_down": {
        "summary": "The clinician steps the patient down to OP",
        "value": {
            "decision_id": "dec-1",
            "clinician_id": "clin-7",
            "action": "step_down",
            "target_level": "op",
            "reason": "sustained response",
        },
    }
}

EVENT: dict[str, Example] = {
    "discharged_home": {
        "summary": "Discharged home from an inpatient stay",
        "value": {
            "event_id": "evt-1",
            "reported_by": "ehr-main",
            "kind": "discharged",
            "level_at_discharge": None,
        },
    }
}

ACKNOWLEDGEMENT: dict[str, Example] = {
    "reached_patient": {
        "summary": "The patient was called back and reached",
        "value": {
            "acknowledgement_id": "ack-1",
            "acknowledged_by": "clin-7",
            "response": "reached_patient",
        },
    }
}


def first_value(examples: dict[str, Example]) -> dict[str, Any]:
    value = next(iter(examples.values())).get("value")
    assert isinstance(value, dict)
    return value
