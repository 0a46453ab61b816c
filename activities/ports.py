"""The ports activities talk through. Each has a real adapter and an in-memory one.

Adapters are injected into `CareActivities` by the worker; tests pass their own.
"""

from __future__ import annotations

from typing import Protocol

from schemas.payer import AuthorizationRequest, EligibilityRequest, EligibilityResult, PayerAnswer
from schemas.records import EffectBatch, NotificationRequest


class RecordStore(Protocol):
    """Where transitions, reviews, authorizations and the episode row are written.

    `apply` must be idempotent on (batch.workflow_id, batch.seq): a retry writes nothing new.
    A store with an outbox also enqueues `batch.notifications` in the same transaction and
    returns True, so the activity does not send them itself.
    """

    async def apply(self, batch: EffectBatch) -> bool: ...


class Notifier(Protocol):
    """Delivers one message. Must tolerate the same `message_id` twice (dedupe or no-op)."""

    async def send(self, notification: NotificationRequest) -> None: ...


class PayerPort(Protocol):
    """The payer (or its clearinghouse): eligibility and authorization requests."""

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult: ...

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer: ...


class PayerDataError(ValueError):
    """The payer rejected the data itself (unknown member, malformed ID): do not retry."""
