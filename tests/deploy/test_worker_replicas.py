"""Shutdown and scale on the dev server: SIGTERM lets a running activity finish, and several
worker replicas share one task queue, taking over from one another."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payer_sandbox import SandboxPayer
from config.settings import Settings
from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.payer import EligibilityRequest, EligibilityResult
from tests.workflows.clinic import Adapters, Clinic
from worker.runtime import build_worker


class HeldPayer(SandboxPayer):
    """Holds each eligibility check until released; records how the call ended."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.outcome: str | None = None

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        self.entered.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise
        self.outcome = "completed"
        return await super().check_eligibility(request)


async def replica(
    client: Client, identity: str, queue: str, adapters: Adapters, grace: float
) -> Worker:
    """One worker replica with its own connection and identity (as each container has)."""
    own = await Client.connect(
        client.service_client.config.target_host,
        namespace=client.namespace,
        data_converter=client.data_converter,
        identity=identity,
    )
    return build_worker(
        own, task_queue=queue, activities=adapters.activities(), graceful_shutdown_seconds=grace
    )


async def bounded(predicate_wait: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(predicate_wait.wait(), 60)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def shutdown_while_checking_eligibility(env: WorkflowEnvironment, grace: float) -> str:
    payer = HeldPayer()
    adapters = Adapters(payer=payer)
    queue = f"care-episodes-grace-{uuid.uuid4().hex[:8]}"
    worker = await replica(env.client, "replica-a", queue, adapters, grace)
    running = asyncio.create_task(worker.run())
    clinic = await Clinic.admit(env, queue)
    await clinic.assess(LevelOfCare.IOP, total=16)
    await bounded(payer.entered, "eligibility check started")
    stopping = asyncio.create_task(worker.shutdown())  # what SIGTERM does in worker/__main__
    for _ in range(100):  # let the shutdown begin (and, with no grace, cancel the activity)
        if payer.outcome is not None:
            break
        await asyncio.sleep(0.02)
    payer.release.set()
    await stopping
    await asyncio.gather(running, return_exceptions=True)
    assert payer.outcome is not None
    return payer.outcome


async def test_sigterm_lets_running_activities_finish(dev_env: WorkflowEnvironment) -> None:
    grace = Settings().graceful_shutdown_seconds
    assert grace >= 30
    assert await shutdown_while_checking_eligibility(dev_env, grace) == "completed"


async def test_without_a_grace_period_activities_are_cancelled(
    dev_env: WorkflowEnvironment,
) -> None:
    """The old behaviour (timeout 0), for contrast: the payer call is cut off."""
    assert await shutdown_while_checking_eligibility(dev_env, 0.0) == "cancelled"


async def pollers(client: Client, queue: str) -> set[str]:
    answer = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return {poller.identity for poller in answer.pollers}


async def task_identities(clinic: Clinic) -> list[str]:
    history = await clinic.handle.fetch_history()
    return [
        event.workflow_task_completed_event_attributes.identity
        for event in history.events
        if event.HasField("workflow_task_completed_event_attributes")
    ]


async def test_replicas_share_a_task_queue_and_take_over(dev_env: WorkflowEnvironment) -> None:
    queue = f"care-episodes-replicas-{uuid.uuid4().hex[:8]}"
    adapters = Adapters()  # one shared store, as replicas share PostgreSQL
    first = await replica(dev_env.client, "replica-a", queue, adapters, 5.0)
    second = await replica(dev_env.client, "replica-b", queue, adapters, 5.0)
    async with first:
        clinics = [await Clinic.admit(dev_env, queue, member_id="APPROVE-R") for _ in range(3)]
        for clinic in clinics:
            await clinic.assess(LevelOfCare.IOP, total=16)
        async with second:
            for _ in range(200):
                if await pollers(dev_env.client, queue) >= {"replica-a", "replica-b"}:
                    break
                await asyncio.sleep(0.05)
            assert await pollers(dev_env.client, queue) >= {"replica-a", "replica-b"}
            for clinic in clinics:
                await clinic.reach(CarePhase.IN_TREATMENT)
                assert set(await task_identities(clinic)) == {"replica-a"}
            await first.shutdown()
            # replica-a is gone: its episodes go on, on replica-b.
            for clinic in clinics:
                await clinic.review(12)
                identities = await task_identities(clinic)
                assert identities[-1] == "replica-b", identities
            view = await clinics[0].state()
            assert view.phase is CarePhase.IN_TREATMENT
