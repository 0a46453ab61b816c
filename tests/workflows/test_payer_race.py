"""Issue 8, item 8 on the time-skipping server: UR records the payer's approval while the
engine's own prior-authorization request is still out. The late "pending" answer is
reported to UR and never applied. Deterministic: the payer answers only when the test
lets it, after the approval is recorded."""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment

from activities.payer_sandbox import SandboxPayer
from rules.levels import LevelOfCare
from rules.recommendation import Flag
from rules.transitions import CarePhase
from schemas.payer import AuthorizationRequest, PayerAnswer
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
        assert "payer_answer_not_applied" in adapters.notifier.templates(
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
