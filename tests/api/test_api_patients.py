"""`POST /v1/episodes` keeps the patient in PostgreSQL and gives the workflow an opaque key;
repeated starts are compared by the body's fingerprint, or, for an episode started before
the patients table, by its first history event (nothing is kept after a 409)."""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from schemas.episode import PATIENT_KEY_PREFIX, EpisodeStart
from store.patients import PostgresPatients
from temporal_client import start_episode
from tests.api import bodies
from tests.api.conftest import bearer
from workflows.state import EpisodeInput

CLINIC = bearer("tok-clinic")


def _body() -> dict[str, Any]:
    body = bodies.episode()
    body["patient"] = {
        "patient_ref": "MRN-PT-4711",
        "name": "Quentin Patientname",
        "birth_date": "1944-04-04",
    }
    body["contact"] = {"sms": True, "phone": "+15550104711"}
    return body


async def _first_input(env: WorkflowEnvironment, episode_id: str) -> EpisodeInput:
    handle = env.client.get_workflow_handle(f"care-episode-{episode_id}")
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        decoded = await env.client.data_converter.decode(payloads, [EpisodeInput])
        assert isinstance(decoded[0], EpisodeInput)
        return decoded[0]
    raise AssertionError("no history")


async def test_the_workflow_gets_only_the_opaque_patient_key(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    body = _body()
    answer = await api.post("/v1/episodes", json=body, headers=CLINIC)
    assert answer.status_code == 201, answer.text
    record = await PostgresPatients(api_pool).get(body["episode_id"])
    assert record is not None
    assert (record.mrn, record.display_name, record.birth_date) == (
        "MRN-PT-4711",
        "Quentin Patientname",
        date(1944, 4, 4),
    )
    started = (await _first_input(api_env, body["episode_id"])).start
    assert started.patient.patient_ref == record.patient_key
    assert record.patient_key.startswith(PATIENT_KEY_PREFIX)
    assert started.patient.name is None and started.patient.birth_date is None
    assert started.contact.phone is None
    text = started.model_dump_json()
    for secret in ("MRN-PT-4711", "Patientname", "1944-04-04", "+15550104711"):
        assert secret not in text


async def test_a_repeat_is_200_and_another_body_409_with_the_row_unchanged(
    api: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    body = _body()
    assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    again = await api.post("/v1/episodes", json=body, headers=CLINIC)
    assert again.status_code == 200, again.text
    renamed = {**body, "patient": {**body["patient"], "name": "Quentin Othername"}}
    refused = await api.post("/v1/episodes", json=renamed, headers=CLINIC)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("episode-id-conflict")
    record = await PostgresPatients(api_pool).get(body["episode_id"])
    assert record is not None and record.display_name == "Quentin Patientname"


async def test_an_episode_started_before_the_patients_table(
    api: httpx.AsyncClient,
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
) -> None:
    """Started the old way (the whole start in the workflow's input, no patient row): the
    same body again is 200 (and the row is kept from then on); another body is 409 and
    leaves no row and no contact details behind."""
    patients = PostgresPatients(api_pool)
    for changed in (False, True):
        body = _body()
        old_start = EpisodeStart.model_validate(body).with_part2(False).without_contact_details()
        await start_episode(api_env.client, old_start, task_queue=api_settings.task_queue)
        sent = {**body, "patient": {**body["patient"], "name": "Other Name"}} if changed else body
        answer = await api.post("/v1/episodes", json=sent, headers=CLINIC)
        if changed:
            assert answer.status_code == 409, answer.text
            assert await patients.get(body["episode_id"]) is None
            contacts = await api_pool.fetchval(
                "SELECT count(*) FROM patient_contacts WHERE episode_id = $1", body["episode_id"]
            )
            assert contacts == 0
        else:
            assert answer.status_code == 200, answer.text
            record = await patients.get(body["episode_id"])
            assert record is not None and record.display_name == "Quentin Patientname"
