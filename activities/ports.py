"""The ports activities talk through. Each has a real adapter and a stand-in for tests.

Adapters are injected into `CareActivities` by the worker; tests pass their own.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from schemas.episode import EpisodeStart
from schemas.payer import (
    AuthorizationRequest,
    EligibilityRequest,
    EligibilityResult,
    PayerAnswer,
    Subscriber,
)
from schemas.records import EffectBatch


class RecordStore(Protocol):
    """Where transitions, reviews, authorizations, the episode row and messages are written.

    `apply` is idempotent on (batch.workflow_id, batch.seq): a retry writes nothing new.
    It queues `batch.notifications` in the store's outbox in the same transaction as the
    records (a message exists if and only if its batch does); the outbox's dispatcher
    delivers them, each under its stable `message_id`. The activity never sends.
    """

    async def apply(self, batch: EffectBatch) -> None: ...


class PayerPort(Protocol):
    """The payer (or its clearinghouse): eligibility and authorization requests."""

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult: ...

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer: ...


class PatientDirectory(Protocol):
    """Where the activities read the patient's data by episode (the payer's subscriber,
    the 18th birthday): PostgreSQL (store/patients.py), never the workflow. None when the
    episode has no patient row."""

    async def subscriber(
        self, episode_id: str, coverage_ref: str | None = None
    ) -> Subscriber | None:
        """The subscriber's name, birth date and member ID: the member ID of the coverage
        change `coverage_ref` names when the records hold it, else the start's."""
        ...

    async def adult_from(self, episode_id: str) -> date | None:
        """The first day the episode's patient is an adult (the 18th birthday, from the
        birth date or the start's `adult_on`); None when the records know neither."""
        ...

    async def keep_carried(self, start: EpisodeStart) -> str:
        """Store the patient an older run carried in its state; returns the patient's key."""
        ...


class PayerDataError(ValueError):
    """The payer rejected the data itself (unknown member, malformed ID): do not retry."""
