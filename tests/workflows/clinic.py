"""A synthetic clinic that drives episodes through updates, as real callers would."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.care import CareActivities
from activities.memory import InMemoryOutbox, InMemoryRecordStore
from activities.patients import InMemoryPatients
from activities.payer_sandbox import SandboxPayer
from config.tuning import REST_AFTER_EVENTS, REST_SETTLE_SECONDS
from rules import localtime
from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy
from rules.transitions import CarePhase
from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
from schemas.submissions import (
    AssessmentSubmission,
    AuthorizationDecision,
    AuthorizationKind,
    ClinicianDecision,
    CoverageSubmission,
    CssrsScreen,
    DecisionAction,
    EpisodeEvent,
    EpisodeEventKind,
    LevelDetermination,
    Phq9,
    ReviewSubmission,
    SafetyAssessment,
)
from schemas.view import EngineDecision, EpisodeView
from temporal_client import start_episode
from worker.runtime import build_worker
from workflows.care_episode import CareEpisode
from workflows.state import EpisodeResult

_ids = itertools.count(1)


def phq9(total: int, item9: int = 0) -> Phq9:
    """Nine items summing to `total`, with item 9 as given."""
    items = [0] * 9
    items[8] = item9
    remaining = total - item9
    for i in range(8):
        items[i] = min(3, remaining)
        remaining -= items[i]
    assert remaining == 0, "total out of range"
    return Phq9(items=items)


@dataclass
class Adapters:
    store: InMemoryRecordStore = field(default_factory=InMemoryRecordStore)
    payer: SandboxPayer = field(default_factory=SandboxPayer)
    # The patients table: `Clinic.admit` registers each patient here, as the API does.
    patients: InMemoryPatients = field(default_factory=InMemoryPatients)

    @property
    def outbox(self) -> InMemoryOutbox:
        """The messages the episode's steps queued (each once, as in PostgreSQL)."""
        return self.store.outbox

    def activities(self) -> CareActivities:
        return CareActivities(self.store, self.payer, self.patients)


# The adapters of each running test worker, by its task queue: `Clinic.admit` registers the
# patient in their directory before it starts the workflow, as the API does.
_RUNNING: dict[str, Adapters] = {}


@asynccontextmanager
async def running_worker(
    env: WorkflowEnvironment, adapters: Adapters | None = None
) -> AsyncIterator[tuple[str, Adapters]]:
    adapters = adapters or Adapters()
    task_queue = f"care-episodes-test-{uuid.uuid4().hex[:8]}"
    _RUNNING[task_queue] = adapters
    try:
        async with build_worker(
            env.client, task_queue=task_queue, activities=adapters.activities()
        ):
            yield task_queue, adapters
    finally:
        del _RUNNING[task_queue]


async def chain_histories(clinic: Clinic) -> list[WorkflowHistory]:
    """Histories of every run in the continue-as-new chain, newest first.

    Walks back through each run's `continued_execution_run_id`, which needs neither a
    visibility store nor `describe` (the time-skipping server has trouble with both).
    """
    histories = [await clinic.handle.fetch_history()]
    while True:
        started = histories[-1].events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return histories
        previous = clinic.env.client.get_workflow_handle(
            clinic.handle.id, run_id=started.continued_execution_run_id
        )
        histories.append(await previous.fetch_history())


@dataclass
class Clinic:
    """One synthetic patient's episode, and the people who act on it."""

    env: WorkflowEnvironment
    handle: WorkflowHandle[CareEpisode, EpisodeResult]
    episode_id: str
    # The program's zone: the engine counts follow-up days on its local calendar.
    time_zone: str = ProgramPolicy().time_zone

    @classmethod
    async def admit(
        cls,
        env: WorkflowEnvironment,
        task_queue: str,
        *,
        member_id: str = "M123456",
        age_group: AgeGroup = AgeGroup.ADULT,
        policy: ProgramPolicy | None = None,
        coverage: bool = True,
        history_event_limit: int = 1000,
        search_attributes: bool = True,
        rest_settle_seconds: float = REST_SETTLE_SECONDS,
        rest_after_events: int = REST_AFTER_EVENTS,
        payer_disclosure_consent: bool = True,
        **start_fields: Any,
    ) -> Clinic:
        episode_id = f"ep-{uuid.uuid4().hex[:12]}"
        start = EpisodeStart(
            episode_id=episode_id,
            program_id="iop-adult-east",
            age_group=age_group,
            patient=PatientRef(patient_ref="MRN-SYNTH-1", name="Synthetic Patient"),
            coverage=Coverage(payer_id="SANDBOX", member_id=member_id) if coverage else None,
            consents=Consents(payer_disclosure=payer_disclosure_consent),
            **start_fields,
            # Patient messages at any hour unless a test says otherwise, so that no
            # scenario depends on the hour it runs (engine V4 holds them to 08:00-21:00).
            policy=policy or ProgramPolicy(patient_message_window_hours=(0, 24)),
        )
        # As the API starts one: the patient (name, MRN, birthday, member ID) into the
        # records, the workflow with the opaque key only.
        adapters = _RUNNING.get(task_queue)
        key = adapters.patients.register(start) if adapters is not None else None
        handle = await start_episode(
            env.client,
            start.for_engine(key) if key is not None else start,
            task_queue=task_queue,
            history_event_limit=history_event_limit,
            search_attributes=search_attributes,
            rest_settle_seconds=rest_settle_seconds,
            rest_after_events=rest_after_events,
        )
        return cls(env, handle, episode_id, start.policy.time_zone)

    async def state(self) -> EpisodeView:
        return await self.handle.query(CareEpisode.state)

    async def reach(self, phase: CarePhase, attempts: int = 200) -> EpisodeView:
        """Poll the state query until the episode is in `phase` (for the real-time server)."""
        for _ in range(attempts):
            state = await self.state()
            if state.phase is phase:
                return state
            await asyncio.sleep(0.05)
        raise AssertionError(f"episode never reached {phase}; it is in {state.phase}")

    async def until_review(self, days: float = 7) -> None:
        """Move to two hours before the next review falls due, as a clinic's meeting would.

        Not on the due instant itself: the Java test server can stall an update that lands
        in the same instant as a firing timer.
        """
        await self.wait(days=days, hours=-2)

    async def wait(self, days: float = 0, hours: float = 0) -> None:
        await self.env.sleep(timedelta(days=days, hours=hours))

    async def assess(
        self,
        level: LevelOfCare = LevelOfCare.IOP,
        *,
        total: int = 18,
        item9: int = 0,
        cssrs: list[bool] | None = None,
        await_return: bool = True,
        evaluated: bool = False,
    ) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.submit_assessment,
            AssessmentSubmission(
                assessment_id=f"asmt-{next(_ids)}",
                clinician_id="clin-1",
                phq9=phq9(total, item9),
                cssrs=CssrsScreen(answers=cssrs) if cssrs else None,
                determination=LevelDetermination(
                    instrument="LOCUS", level=level, rationale="synthetic determination"
                ),
                await_return_if_referred_out=await_return,
                safety_assessment=SafetyAssessment(
                    instrument="emergency_evaluation", result="high", plan="admit to inpatient"
                )
                if evaluated
                else None,
            ),
        )

    async def approve(
        self, units: int = 20, level: LevelOfCare | None = None, days: int = 60
    ) -> EngineDecision:
        today = (await self.env.get_current_time()).date()
        return await self.record_authorization(
            kind=AuthorizationKind.APPROVED,
            units=units,
            level=level,
            start_date=today,
            end_date=today + timedelta(days=days),
            authorization_number=f"AUTH-{next(_ids)}",
        )

    async def approve_appeal(self, units: int = 20) -> EngineDecision:
        today = (await self.env.get_current_time()).date()
        return await self.record_authorization(
            kind=AuthorizationKind.APPEAL_APPROVED,
            units=units,
            start_date=today,
            end_date=today + timedelta(days=60),
            authorization_number=f"AUTH-{next(_ids)}",
        )

    async def record_authorization(self, **fields: Any) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.record_authorization,
            AuthorizationDecision(decision_id=f"auth-{next(_ids)}", recorded_by="ur-1", **fields),
        )

    async def review(
        self,
        total: int | None,
        *,
        item9: int = 0,
        hours: float = 10,
        units: int = 3,
        review_id: str | None = None,
        cssrs: list[bool] | None = None,
        period_weeks: float = 1,
    ) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.submit_review,
            ReviewSubmission(
                review_id=review_id or f"rev-{next(_ids)}",
                clinician_id="clin-1",
                phq9=phq9(total, item9) if total is not None else None,
                cssrs=CssrsScreen(answers=cssrs) if cssrs else None,
                hours_attended=hours,
                units_attended=units,
                period_weeks=period_weeks,
            ),
            id=review_id,
        )

    async def decide(
        self,
        action: DecisionAction,
        target: LevelOfCare | None = None,
        *,
        reason: str | None = None,
        override_reason: str | None = None,
        expedited: bool = False,
    ) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.decide,
            ClinicianDecision(
                decision_id=f"dec-{next(_ids)}",
                clinician_id="clin-1",
                action=action,
                target_level=target,
                reason=reason,
                override_reason=override_reason,
                expedited=expedited,
            ),
        )

    async def coverage(
        self, *, self_pay: bool = False, member_id: str | None = None
    ) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.submit_coverage,
            CoverageSubmission(
                submission_id=f"cov-{next(_ids)}",
                recorded_by="fc-1",
                self_pay=self_pay,
                coverage=Coverage(payer_id="SANDBOX", member_id=member_id) if member_id else None,
            ),
        )

    async def event(
        self,
        kind: EpisodeEventKind,
        level_at_discharge: LevelOfCare | None = None,
        **fields: Any,
    ) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.report_event,
            EpisodeEvent(
                event_id=f"evt-{next(_ids)}",
                reported_by="ehr-1",
                kind=kind,
                level_at_discharge=level_at_discharge,
                **fields,
            ),
        )

    async def visit(self, days_after: int = 0, kind: str = "outpatient") -> EngineDecision:
        """A follow-up visit dated `days_after` today, on the program's local calendar (the
        engine's): a UTC date is a day ahead in the evening west of Greenwich."""
        today = localtime.local_date(await self.env.get_current_time(), self.time_zone)
        return await self.event(
            EpisodeEventKind.FOLLOWUP_VISIT,
            visit_date=today + timedelta(days=days_after),
            visit_kind=kind,
        )
