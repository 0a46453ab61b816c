"""The episode's activities, as methods on an object that holds its adapters."""

from __future__ import annotations

import logging
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ports import PatientDirectory, PayerDataError, PayerPort, RecordStore
from rules.levels import AgeGroup
from schemas.episode import AgeGroupCheck, EpisodeStart
from schemas.payer import (
    AuthorizationRequest,
    EligibilityRequest,
    EligibilityResult,
    PayerAnswer,
)
from schemas.records import EffectBatch

log = logging.getLogger(__name__)
PayerRequest = TypeVar("PayerRequest", EligibilityRequest, AuthorizationRequest)


class CareActivities:
    """Dependencies are injected here by the worker; tests pass in-memory adapters."""

    def __init__(
        self,
        store: RecordStore,
        payer: PayerPort,
        patients: PatientDirectory | None = None,
    ) -> None:
        self._store = store
        self._payer = payer
        self._patients = patients

    async def _from_records(self, request: PayerRequest) -> PayerRequest:
        """The request as the payer gets it: engine V3 requests name their episode, and its
        subscriber's name, birth date and (when the workflow has none, as for every episode
        started through the API) member ID come from the store here, at call time, never
        through the workflow. No member ID anywhere: the payer cannot be asked (no retry
        helps; the care team hears as for a member ID the payer refused)."""
        subscriber = None
        if request.episode_id is not None and self._patients is not None:
            subscriber = await self._patients.subscriber(request.episode_id, request.coverage_ref)
        member_id = request.member_id or (subscriber.member_id if subscriber else None)
        if member_id is None:
            raise ApplicationError(
                "no member ID on file for this episode's coverage",
                type=PayerDataError.__name__,
                non_retryable=True,
            )
        if subscriber is None:
            return request.model_copy(update={"member_id": member_id})
        return request.model_copy(update={"member_id": member_id, "subscriber": subscriber})

    @activity.defn(name="record_effects")
    async def record_effects(self, batch: EffectBatch) -> None:
        """Write one step's records and queue its messages in the store's outbox.

        Idempotent on (workflow_id, seq): a retry after a crash writes and queues nothing
        twice, and each message carries a stable message_id the receiver dedupes on.
        """
        await self._store.apply(batch)
        log.info(
            "recorded step",
            extra={
                "workflow_id": batch.workflow_id,
                "seq": batch.seq,
                "transitions": len(batch.transitions),
                "messages": len(batch.notifications),
            },
        )

    @activity.defn(name="check_eligibility")
    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        request = await self._from_records(request)
        try:
            return await self._payer.check_eligibility(request)
        except PayerDataError as bad:
            raise ApplicationError(str(bad), type="PayerDataError", non_retryable=True) from None

    @activity.defn(name="request_authorization")
    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        request = await self._from_records(request)
        try:
            return await self._payer.request_authorization(request)
        except PayerDataError as bad:
            raise ApplicationError(str(bad), type="PayerDataError", non_retryable=True) from None

    @activity.defn(name="age_group_on")
    async def age_group_on(self, check: AgeGroupCheck) -> AgeGroup | None:
        """Engine V4: the patient's age group on `check.on`, from the records (None: they
        know no birthday, or this worker has no patient store; the episode keeps its own).

        Why this shape, and not the day the group changes: the 18th birthday is the birth
        date with 18 added, so any date of it in Temporal's history (the old start's
        `adult_on`, or "N days until the change") would give the birth date away. The
        workflow asks only "adult on this day?", at enrolment and after each review, so its
        history shows no more than that the birthday fell between two reviews; the birth
        date and the birthday stay in PostgreSQL."""
        if self._patients is None:
            return None
        first_adult_day = await self._patients.adult_from(check.episode_id)
        if first_adult_day is None:
            return None
        return AgeGroup.ADULT if check.on >= first_adult_day else AgeGroup.ADOLESCENT

    @activity.defn(name="keep_patient")
    async def keep_patient(self, start: EpisodeStart) -> str | None:
        """Engine V3, for a run that carries a start recorded before the patients table:
        store its patient and contact details; the workflow then keeps only the key it
        returns (None: this worker has no patient store, and the run keeps what it has)."""
        if self._patients is None:
            return None
        return await self._patients.keep_carried(start)
