"""Path 9: a 52-week episode keeps each run's history bounded with continue-as-new."""

from __future__ import annotations

import asyncio

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.view import EngineDecision
from tests.workflows.clinic import Clinic, chain_histories, running_worker

HISTORY_LIMIT = 120


async def run_lengths(clinic: Clinic) -> list[int]:
    return [len(history.events) for history in await chain_histories(clinic)]


async def test_year_long_episode_continues_as_new_and_loses_nothing(
    ts_env: WorkflowEnvironment,
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, history_event_limit=HISTORY_LIMIT)
        await clinic.assess(LevelOfCare.IOP, total=18)
        await clinic.wait(hours=1)
        await clinic.approve(units=200, days=400)
        for week in range(52):
            await clinic.until_review()
            await clinic.review(14 + week % 3, hours=10, units=3, review_id=f"year-rev-{week}")
        state = await clinic.state()
        assert state.run_count > 2
        assert state.authorization is not None
        assert state.authorization.units_used == 52 * 3
        assert len(state.scores.phq9_history) == 26  # the view keeps the latest half-year

        lengths = await run_lengths(clinic)
        assert len(lengths) == state.run_count
        assert max(lengths) < HISTORY_LIMIT + 40
        assert state.started_at < state.updated_at

        stored = {
            r.review_id
            for b in adapters.store.batches.values()
            for r in b.reviews
            if r.kind == "review"
        }
        assert stored == {f"year-rev-{week}" for week in range(52)}


async def review_as_clients_do(clinic: Clinic, review_id: str) -> EngineDecision:
    """One review, sent again while Temporal answers RESOURCE_EXHAUSTED ("workflow is
    closing": the run is continuing as new and the SDK's own retries ran out, seen at load
    average 20). The API answers that 503 with Retry-After; a client sends the same
    submission again, and the engine answers it once."""
    for attempt in range(30):
        try:
            return await clinic.review(12, hours=10, units=1, review_id=review_id)
        except RPCError as error:
            if error.status is not RPCStatusCode.RESOURCE_EXHAUSTED or attempt == 29:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def test_updates_arriving_during_continue_as_new_are_not_lost(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_worker(dev_env) as (queue, _adapters):
        clinic = await Clinic.admit(dev_env, queue, history_event_limit=60)
        await clinic.assess(LevelOfCare.IOP, total=18)
        await clinic.reach(CarePhase.AUTHORIZATION)
        await clinic.approve(units=500, days=400)
        burst = [review_as_clients_do(clinic, f"burst-{i}") for i in range(40)]
        answers = await asyncio.gather(*burst)
        assert {a.submission_id for a in answers} == {f"burst-{i}" for i in range(40)}
        state = await clinic.state()
        assert state.run_count > 1
        assert state.authorization is not None
        assert state.authorization.units_used == 40
        description = await clinic.handle.describe()
        assert description.status is WorkflowExecutionStatus.RUNNING
