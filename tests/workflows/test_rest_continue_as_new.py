"""Engine V5: an episode at rest continues as new, so a cold episode replays a few events.

A worker holds only so many episodes in its cache; every other episode's next update or
query replays its run's history first. Continuing as new once nothing has happened for
REST_SETTLE keeps that history to a handful of events, while a burst of calls (a review,
then its decision) still lands on one run.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from config.tuning import REST_SETTLE_SECONDS
from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.submissions import DecisionAction
from tests.workflows.clinic import Clinic, chain_histories, running_worker

# A low threshold, as a start may choose, so one assessment's work brings a run to rest.
REST_AFTER_EVENTS = 20


async def _enrolled(clinic: Clinic) -> None:
    await clinic.assess(LevelOfCare.IOP, total=16)
    await clinic.wait(hours=1)
    await clinic.approve(units=20)


def _accepted(history: WorkflowHistory) -> list[str]:
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]


async def test_an_episode_at_rest_continues_on_a_short_run(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _adapters):
        clinic = await Clinic.admit(ts_env, queue, rest_after_events=REST_AFTER_EVENTS)
        await clinic.assess(LevelOfCare.IOP, total=16)
        await clinic.wait(hours=REST_SETTLE_SECONDS / 3600 / 4)  # the payer answers
        before = await clinic.state()
        assert (before.run_count, before.phase) == (1, CarePhase.AUTHORIZATION)
        await clinic.wait(hours=REST_SETTLE_SECONDS / 3600 * 3)
        state = await clinic.state()
        assert state.run_count == 2
        # Nothing was lost on the way: the view is the same but for the run count.
        assert state.phase is CarePhase.AUTHORIZATION
        assert state.model_dump(exclude={"run_count"}) == before.model_dump(exclude={"run_count"})
        current, assessed = await chain_histories(clinic)
        last = assessed.events[-1].event_type
        assert last == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        assert len(current.events) < REST_AFTER_EVENTS <= len(assessed.events)
        assert _accepted(assessed) == ["submit_assessment"] and _accepted(current) == []


async def test_a_review_and_its_decision_land_on_one_run(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _adapters):
        clinic = await Clinic.admit(ts_env, queue, rest_after_events=REST_AFTER_EVENTS)
        await _enrolled(clinic)
        await clinic.until_review()
        runs = (await clinic.state()).run_count
        await clinic.review(12)
        # Within the settle time: the run is still the one the review landed on.
        await clinic.wait(hours=REST_SETTLE_SECONDS / 3600 / 2)
        decided = await clinic.decide(DecisionAction.CONTINUE)
        assert decided.phase.value == "in_treatment"
        assert (await clinic.state()).run_count == runs
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.run_count == runs + 1
        assert state.scores.phq9_history[-1] == 12
        current, burst, *_ = await chain_histories(clinic)
        assert _accepted(burst)[-2:] == ["submit_review", "decide"]
        assert _accepted(current) == []
        assert len(current.events) < REST_AFTER_EVENTS
