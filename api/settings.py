"""API settings: the worker's settings plus the bearer keys and Temporal call deadlines.

Keys come from `CAREPATH_API_KEYS`, a JSON object mapping each token to its grant, e.g.
`{"tok-1": {"role": "care-team", "programs": ["p1"], "actor": "clin-7"}}`.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from config.settings import Settings
from schemas.episode import OpaqueId

ALL_PROGRAMS = "*"


class Role(StrEnum):
    CLINIC_SYSTEM = "clinic-system"
    CARE_TEAM = "care-team"
    UTILIZATION_REVIEW = "utilization-review"
    OPERATOR = "operator"
    PROGRAM_ADMIN = "program-admin"


class ApiKey(BaseModel):
    """What one bearer token may do: its role, the programs it sees, and who it is."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: Role
    programs: frozenset[str] = Field(description='program ids, or "*" for every program')
    actor: OpaqueId = Field(description="recorded as the actor of every change made with the key")
    acts_for_others: bool = Field(
        default=False,
        description="an integration (e.g. an EHR) may name another clinician in the body",
    )

    def sees(self, program_id: str) -> bool:
        return ALL_PROGRAMS in self.programs or program_id in self.programs


def key_fingerprint(token: str) -> str:
    """Stable owner id for a token, so idempotency rows never store the secret itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class ApiSettings(Settings):
    api_keys: dict[str, ApiKey] = Field(default_factory=dict)
    # Deadline for one Temporal call made while a client waits; past it the answer is 503.
    api_temporal_timeout_seconds: float = 10.0
    # Deadline for the bookkeeping of a mutating call (claim, audit) in PostgreSQL; past it 503.
    api_records_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long an Idempotency-Key claim holds with no answer stored; after it a retry of the
    # same request runs again. Longer than the slowest call (a start makes a few Temporal
    # calls, each up to api_temporal_timeout_seconds).
    api_idempotency_lease_seconds: float = Field(default=60.0, gt=0)
    # How long the API keeps trying to store an answer it already sent, and finish its
    # audit row, when PostgreSQL fails just after the work was done.
    api_settle_retry_seconds: float = Field(default=600.0, gt=0)
    # Attendance notices kept while Temporal was unreachable go out again this often
    # (api/notice_delivery.py), not only with the next roster.
    api_notice_retry_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Set the no-PHI search attributes at start (off for servers without them registered).
    api_start_search_attributes: bool = True
    # 42 CFR Part 2 programs (program IDs, JSON list): the program's setting decides whether
    # payer disclosures need the patient's consent, whatever an episode start sends.
    part2_programs: frozenset[str] = frozenset()
    # Signs the episode list's cursors (api/paging.py). Unset: derived from the API keys,
    # which every API process shares (a random key per process when there are none; set
    # it when several API processes page for workbench users only).
    api_cursor_key: SecretStr | None = None
    # Program-provided translations of the patient's pages, one JSON file per language
    # (api/workbench/patient_text.py); unset: English only.
    patient_translations_dir: Path | None = None


def load_api_settings() -> ApiSettings:
    return ApiSettings()
