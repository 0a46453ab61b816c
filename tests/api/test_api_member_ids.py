"""Issue 9 on the API: payer member IDs stay in PostgreSQL. A start's goes into `patients`,
a coverage change's into `patient_coverages` under its submission ID; the workflow gets the
start and the update without them, and the payer still gets the right one. A body with no
member ID is a 422; a used coverage submission ID with another member ID a 409."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from temporalio.api.common.v1 import Payload
from temporalio.testing import WorkflowEnvironment

from store.patients import PostgresPatients
from tests.api import bodies
from tests.api.conftest import bearer

CLINIC = bearer("tok-clinic")
UR = bearer("tok-ur")
CARE = bearer("tok-care")


async def _history_text(env: WorkflowEnvironment, episode_id: str) -> str:
    """The start's input and every update's arguments in the episode's history, decoded."""
    handle = env.client.get_workflow_handle(f"care-episode-{episode_id}")
    payloads: list[Payload] = []
    async for event in handle.fetch_history_events():
        payloads += event.workflow_execution_started_event_attributes.input.payloads
        accepted = event.workflow_execution_update_accepted_event_attributes
        payloads += accepted.accepted_request.input.args.payloads
    codec = env.client.data_converter.payload_codec
    plain = await codec.decode(payloads) if codec is not None else payloads
    return "\n".join(p.data.decode() for p in plain)


async def _phase(api: httpx.AsyncClient, episode_id: str, phase: str) -> dict[str, Any]:
    for _ in range(200):
        view = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
        if view["phase"] == phase:
            return dict(view)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{episode_id} never reached {phase}")


async def test_member_ids_reach_the_payer_from_postgres_not_temporal(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    body = bodies.episode(member_id="NOAUTH-MBR-START-5150")
    assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    episode = body["episode_id"]
    answer = await api.post(
        f"/v1/episodes/{episode}/assessment", json=bodies.assessment(), headers=CARE
    )
    assert answer.status_code == 200, answer.text
    await _phase(api, episode, "in_treatment")  # NOAUTH read from PostgreSQL: enrolled

    change = {
        "submission_id": bodies.new_id("cov"),
        "recorded_by": "ur-3",
        "coverage": {"payer_id": "SANDBOX", "member_id": "INACTIVE-MBR-CHANGED-5150"},
    }
    answer = await api.post(f"/v1/episodes/{episode}/coverage", json=change, headers=UR)
    assert answer.status_code == 200, answer.text
    again = await api.post(f"/v1/episodes/{episode}/coverage", json=change, headers=UR)
    assert again.status_code == 200, "the same change again is a retry"
    for _ in range(200):  # the payer is asked about the new member: inactive
        view = (await api.get(f"/v1/episodes/{episode}", headers=CARE)).json()
        if "coverage_inactive" in view["flags"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the changed member ID never reached the payer")

    other = {**change, "coverage": {"payer_id": "SANDBOX", "member_id": "NOAUTH-OTHER-5150"}}
    conflict = await api.post(f"/v1/episodes/{episode}/coverage", json=other, headers=UR)
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["type"].endswith("submission-conflict")

    stored = await api_pool.fetchval(
        "SELECT member_id FROM patient_coverages WHERE episode_id = $1", episode
    )
    assert stored == "INACTIVE-MBR-CHANGED-5150"
    record = await PostgresPatients(api_pool).get(episode)
    assert record is not None and record.member_id == "NOAUTH-MBR-START-5150"
    history = await _history_text(api_env, episode)
    assert str(change["submission_id"]) in history, "control: the update's payload was read"
    assert "MBR-START-5150" not in history and "MBR-CHANGED-5150" not in history


async def test_a_body_without_a_member_id_is_refused_with_nothing_stored(
    api: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    body = bodies.episode()
    body["coverage"] = {"payer_id": "SANDBOX"}
    answer = await api.post("/v1/episodes", json=body, headers=CLINIC)
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["body.coverage.member_id"]
    assert await PostgresPatients(api_pool).get(body["episode_id"]) is None

    started = bodies.episode()
    assert (await api.post("/v1/episodes", json=started, headers=CLINIC)).status_code == 201
    change = {
        "submission_id": bodies.new_id("cov"),
        "recorded_by": "ur-3",
        "coverage": {"payer_id": "SANDBOX"},
    }
    path = f"/v1/episodes/{started['episode_id']}/coverage"
    refused = await api.post(path, json=change, headers=UR)
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["body.coverage.member_id"]
