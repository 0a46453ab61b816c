"""42 CFR Part 2 is the program's server-side setting: an episode start cannot turn it on
or off (through the API, real worker)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from temporalio.testing import WorkflowEnvironment

from api.episodes_client import EpisodeClient
from tests.api import bodies
from tests.api.conftest import PART2_PROGRAM, PROGRAM
from tests.api.test_api_episodes import CARE, CLINIC


async def _started_part2(api_env: WorkflowEnvironment, episode_id: str) -> bool:
    engine = EpisodeClient(api_env.client, task_queue="unused", timeout=timedelta(seconds=10))
    start = await engine.original_start(episode_id)
    assert start is not None
    return start.policy.part2_program


async def test_a_start_cannot_switch_part2_off_for_a_part2_program(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    body = {
        **bodies.episode(member_id="M-PENDS-1"),
        "program_id": PART2_PROGRAM,
        "policy": {"part2_program": False},
        "consents": {"payer_disclosure": False},
    }
    assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    assert await _started_part2(api_env, body["episode_id"])


async def test_a_start_cannot_switch_part2_on_for_another_program(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    body = {**bodies.episode(), "program_id": PROGRAM, "policy": {"part2_program": True}}
    assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    assert not await _started_part2(api_env, body["episode_id"])
    again = await api.post("/v1/episodes", json=body, headers=CLINIC)
    assert again.status_code == 200, again.text  # the same start, idempotent as before
    assert (await api.get(f"/v1/episodes/{body['episode_id']}", headers=CARE)).is_success
