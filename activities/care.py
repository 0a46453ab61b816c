"""The episode's activities, as methods on an object that holds its adapters."""

from __future__ import annotations

import logging

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
    Subscriber,
)
from schemas.records import EffectBatch

log = logging.getLogger(__name__)


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

    async def _subscriber(self, episode_id: str | None) -> Subscriber | None:
        """Engine V3 requests name their episode: its subscriber's data comes from the store
        here, at call time, and never passes through the workflow."""
        if episode_id is None or self._patients is None:
            return None
        return await self._patients.subscriber(episode_id)

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
        subscriber = await self._subscriber(request.episode_id)
        if subscriber is not None:
            request = request.model_copy(update={"subscriber": subscriber})
        try:
            return await self._payer.check_eligibility(request)
        except PayerDataError as bad:
            raise ApplicationError(str(bad), type="PayerDataError", non_retryable=True) from None

    @activity.defn(name="request_authorization")
    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        subscriber = await self._subscriber(request.episode_id)
        if subscriber is not None:
            request = request.model_copy(update={"subscriber": subscriber})
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
