"""Path 8: withdrawal at any phase → against advice, aftercare offered; error → closed."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.submissions import EpisodeEventKind
from tests.workflows.clinic import Clinic, running_worker
from tests.workflows.test_safety import enrolled


@pytest.mark.parametrize("stage", ["assessment", "authorization", "in_treatment"])
async def test_withdrawal_discharges_against_advice_with_aftercare(
    ts_env: WorkflowEnvironment, stage: str
) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        if stage != "assessment":
            await clinic.assess(LevelOfCare.IOP)
            await clinic.wait(hours=1)
        if stage == "in_treatment":
            await clinic.approve()
        assert (await clinic.state()).phase.value == stage

        left = await clinic.event(EpisodeEventKind.WITHDRAWN)
        assert left.phase is CarePhase.AFTERCARE
        await clinic.wait(hours=1)
        assert "aftercare_offered" in adapters.outbox.templates(clinic.episode_id, "care_team")
        await clinic.wait(days=91)
        result = await clinic.handle.result()
        assert result.outcome == "against_advice"
        assert (await clinic.state()).aftercare_checkins_done == 4


async def test_entered_in_error_closes_without_aftercare(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        clinic = await Clinic.admit(ts_env, queue)
        await enrolled(clinic)
        closed = await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)
        assert closed.phase is CarePhase.CLOSED
        result = await clinic.handle.result()
        assert result.outcome == "entered_in_error"
        assert "aftercare_checkin" not in adapters.outbox.templates(clinic.episode_id)


async def test_nothing_is_allowed_after_close(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        clinic = await Clinic.admit(ts_env, queue)
        await clinic.event(EpisodeEventKind.ENTERED_IN_ERROR)
        await clinic.handle.result()
        with pytest.raises(Exception):  # noqa: B017 - a closed workflow takes no updates
            await clinic.event(EpisodeEventKind.WITHDRAWN)
