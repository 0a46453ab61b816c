"""Valid request bodies for the API tests (synthetic patients only)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import PROGRAM


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def episode(episode_id: str | None = None, *, member_id: str = "NOAUTH-1") -> dict[str, Any]:
    """NOAUTH members are active with no authorization needed: enrolled at once."""
    return {
        "episode_id": episode_id or new_id("ep"),
        "program_id": PROGRAM,
        "patient": {"patient_ref": "MRN-SYNTH-1", "name": "Synthetic Patient"},
        "coverage": {"payer_id": "SANDBOX", "member_id": member_id},
        "consents": {"payer_disclosure": True},
    }


def assessment(clinician_id: str = "clin-7", total_items: int = 2) -> dict[str, Any]:
    return {
        "assessment_id": new_id("asm"),
        "clinician_id": clinician_id,
        "phq9": {"items": [total_items] * 8 + [0]},
        "determination": {"instrument": "LOCUS", "level": "iop", "rationale": "level 3"},
    }


def review(clinician_id: str = "clin-7", review_id: str | None = None) -> dict[str, Any]:
    return {
        "review_id": review_id or new_id("rev"),
        "clinician_id": clinician_id,
        "phq9": {"items": [1, 1, 1, 1, 1, 1, 1, 1, 0]},
        "hours_attended": 10,
        "units_attended": 3,
    }


def coverage(recorded_by: str = "ur-3") -> dict[str, Any]:
    return {"submission_id": new_id("cov"), "recorded_by": recorded_by, "self_pay": True}


def authorization(recorded_by: str = "ur-3") -> dict[str, Any]:
    return {
        "decision_id": new_id("auth"),
        "recorded_by": recorded_by,
        "kind": "denied",
        "reason": "medical necessity not met",
    }


def decision(clinician_id: str = "clin-7") -> dict[str, Any]:
    return {"decision_id": new_id("dec"), "clinician_id": clinician_id, "action": "continue"}


def event(reported_by: str = "ehr-main", kind: str = "withdrawn") -> dict[str, Any]:
    return {"event_id": new_id("evt"), "reported_by": reported_by, "kind": kind}
