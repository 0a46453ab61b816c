"""Operators find episodes by search attribute; the attributes follow the episode."""

from __future__ import annotations

import asyncio

from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.submissions import DecisionAction
from tests.workflows.clinic import Clinic, running_worker
from workflows.search_attributes import (
    CARE_PHASE,
    LEVEL_OF_CARE,
    PROGRAM_ID,
    REVIEW_DUE_AT,
    RISK_FLAG,
)


async def listed(env: WorkflowEnvironment, query: str, workflow_id: str) -> bool:
    """Visibility is eventually consistent: poll briefly for the episode to show up."""
    for _ in range(100):
        found = [w.id async for w in env.client.list_workflows(query)]
        if workflow_id in found:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_search_attributes_track_phase_level_due_date_and_risk(
    dev_env: WorkflowEnvironment,
) -> None:
    async with running_worker(dev_env) as (queue, _):
        clinic = await Clinic.admit(dev_env, queue, member_id="APPROVE-SA")
        await clinic.assess(LevelOfCare.IOP, total=16)
        state = await clinic.reach(CarePhase.IN_TREATMENT)
        await clinic.review(9, item9=1)
        await clinic.state()

        wid = clinic.handle.id
        assert await listed(dev_env, "RiskFlag = true AND CarePhase = 'in_treatment'", wid)
        attributes = (await clinic.handle.describe()).typed_search_attributes
        assert attributes.get(CARE_PHASE) == "in_treatment"
        assert attributes.get(LEVEL_OF_CARE) == "iop"
        assert attributes.get(PROGRAM_ID) == "iop-adult-east"
        assert attributes.get(RISK_FLAG) is True
        due = attributes.get(REVIEW_DUE_AT)
        assert due is not None and state.next_review_due is not None and due > state.next_review_due

        await clinic.decide(DecisionAction.CONTINUE, override_reason="C-SSRS: low risk")
        await clinic.state()
        assert await listed(dev_env, "RiskFlag = false AND ProgramId = 'iop-adult-east'", wid)
        values = " ".join(
            str(v) for v in (await clinic.handle.describe()).search_attributes.values()
        )
        assert "MRN" not in values and "Synthetic" not in values and "APPROVE-SA" not in values
