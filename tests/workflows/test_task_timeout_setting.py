"""The episode's workflow task timeout is a setting (README "Reliability": 10 s by default,
Temporal's own; 4 s timed slow tasks out under load): what a start asks for is what
Temporal holds for the episode, and continued runs inherit it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from schemas.episode import EpisodeStart, PatientRef
from temporal_client import WORKFLOW_TASK_TIMEOUT, start_episode
from tests.workflows.clinic import running_worker


def test_the_setting_defaults_to_temporals_10_s_and_reads_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().workflow_task_timeout_seconds == 10.0
    assert timedelta(seconds=10) == WORKFLOW_TASK_TIMEOUT
    monkeypatch.setenv("CAREPATH_WORKFLOW_TASK_TIMEOUT_SECONDS", "7")
    assert Settings().workflow_task_timeout_seconds == 7.0
    monkeypatch.setenv("CAREPATH_WORKFLOW_TASK_TIMEOUT_SECONDS", "0")
    with pytest.raises(ValueError, match="workflow_task_timeout_seconds"):
        Settings()


async def test_the_start_sets_the_timeout_temporal_holds(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, _):
        start = EpisodeStart(program_id="p1", patient=PatientRef(patient_ref="pt_timeout"))
        handle = await start_episode(
            ts_env.client, start, task_queue=queue, task_timeout=timedelta(seconds=7)
        )
        described = await handle.describe()
        config = described.raw_description.execution_config
        assert config.default_workflow_task_timeout.ToTimedelta() == timedelta(seconds=7)
        default = await start_episode(
            ts_env.client,
            EpisodeStart(program_id="p1", patient=PatientRef(patient_ref="pt_default")),
            task_queue=queue,
        )
        config = (await default.describe()).raw_description.execution_config
        assert config.default_workflow_task_timeout.ToTimedelta() == WORKFLOW_TASK_TIMEOUT
