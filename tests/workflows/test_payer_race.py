"""The payer misbehaving, on the time-skipping server.

A race (issue 8, item 8): UR records the payer's approval while the engine's own request
is still out; the late "pending" answer is reported to UR and never applied.
Deterministic: the payer answers only when the test lets it, after the approval.
An outage (issue 14, item 15): eligibility cannot be checked; asked again later.
Refused data: the payer rejecting the member ID is not retried (the activity's policy).
"""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment

from activities.payer_sandbox import SandboxPayer
from rules.levels import LevelOfCare
from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.payer import (
    AuthorizationRequest,
    EligibilityRequest,
    EligibilityResult,
    PayerAnswer,
)
from tests.workflows.clinic import Adapters, Clinic, running_worker


class HeldPayer(SandboxPayer):
    """The sandbox payer, but each authorization answer waits until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        self.asked.set()
        await self.release.wait()
        return await super().request_authorization(request)


async def test_approval_recorded_while_the_request_is_out_wins_over_the_late_pending_answer(
    ts_env: WorkflowEnvironment,
) -> None:
    payer = HeldPayer()
    async with running_worker(ts_env, Adapters(payer=payer)) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.assess(LevelOfCare.IOP)
        await asyncio.wait_for(payer.asked.wait(), timeout=60)

        approved = await clinic.approve(units=6)
        assert approved.phase is CarePhase.IN_TREATMENT
        payer.release.set()
        await clinic.wait(hours=1)

        state = await clinic.state()
        assert state.phase is CarePhase.IN_TREATMENT
        assert state.pending_payer_request is None
        assert "payer_answer_not_applied" in adapters.outbox.templates(
            clinic.episode_id, "utilization_review"
        )
        await clinic.wait(days=8)
        assert Flag.PAYER_OVERDUE not in (await clinic.state()).flags

        # Units run low: the concurrent review is asked for (nothing else is pending).
        await clinic.review(12, units=4)
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.authorization is not None
        assert state.authorization.concurrent_review_requested_at is not None
        assert state.pending_payer_request is not None
        assert state.pending_payer_request.kind == "concurrent_review"


class DownPayer(SandboxPayer):
    """Eligibility fails like a clearinghouse outage for the first `failures` calls."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def check_eligibility(self, request: EligibilityRequest) -> EligibilityResult:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("clearinghouse unreachable")
        return await super().check_eligibility(request)


async def test_an_eligibility_outage_retries_later_instead_of_a_financial_hold(
    ts_env: WorkflowEnvironment,
) -> None:
    payer = DownPayer(failures=5)  # every attempt of the first activity
    async with running_worker(ts_env, Adapters(payer=payer)) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        state = await clinic.state()
        assert state.phase is CarePhase.INSURANCE_VERIFICATION
        assert Flag.ELIGIBILITY_UNAVAILABLE in state.flags
        assert Flag.COVERAGE_INACTIVE not in state.flags
        assert "eligibility_unavailable" in adapters.outbox.templates(
            clinic.episode_id, "financial_counseling"
        )

        await clinic.wait(hours=4)
        state = await clinic.state()
        assert state.phase is CarePhase.AUTHORIZATION
        assert Flag.ELIGIBILITY_UNAVAILABLE not in state.flags
        assert payer.eligibility_calls == 1  # the sixth call, the first that got through


async def test_payer_rejecting_the_member_id_is_not_retried(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue, member_id="BADDATA-1")
        await clinic.assess(LevelOfCare.IOP)
        await clinic.wait(hours=1)
        assert (await clinic.state()).phase is CarePhase.FINANCIAL_COUNSELING
        assert adapters.payer.eligibility_calls == 1
