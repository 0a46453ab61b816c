"""The workbench names the patient (issue 11) from PostgreSQL's `patients` table, scoped like
everything else, and never in a URL or a log line."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from api.workbench.accounts import PersonRole
from tests.api import bodies
from tests.api.conftest import OTHER_PROGRAM, PART2_PROGRAM, bearer
from tests.workbench.conftest import add_account, make_app, person, sign_in

CLINIC = bearer("tok-clinic")
NAME = "Wilhelmina Nametestperson"
MRN = "MRN-NAMETEST-5150"


@pytest.fixture
async def names_app(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    api_worker: None,
) -> FastAPI:
    assert api_worker is None  # wanted for its side effect: the worker runs
    # A page big enough that the census lists this test's episode among every other one.
    return make_app(api_env, api_pool, api_settings, page_size=500)


@pytest.fixture
async def client(names_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=names_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as c:
        yield c


async def _started(client: httpx.AsyncClient) -> str:
    body = bodies.episode(f"ep-name-{uuid.uuid4().hex[:10]}")
    body["program_id"] = PART2_PROGRAM
    body["patient"] = {"patient_ref": MRN, "name": NAME, "birth_date": "1950-05-05"}
    answer = await client.post("/v1/episodes", json=body, headers=CLINIC)
    assert answer.status_code == 201, answer.text
    return str(body["episode_id"])


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action)="([^"]*)"', html)


async def test_census_and_episode_pages_name_the_patient_never_in_urls_or_logs(
    names_app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    episode_id = await _started(client)
    who = await add_account(
        names_app, person(PersonRole.CARE_TEAM, programs=frozenset({PART2_PROGRAM}))
    )
    assert (await sign_in(client, who)).status_code == 303
    caplog.set_level(logging.DEBUG)

    episode = await client.get(f"/app/episodes/{episode_id}")
    assert episode.status_code == 200
    assert f"<dd data-patient>{NAME}</dd>" in episode.text
    assert MRN in episode.text  # the clinic's reference, for the care team

    census = await client.get(f"/app/census?program={PART2_PROGRAM}&phase=assessment")
    assert census.status_code == 200
    row = next(r for r in census.text.split("<tr>") if f"/app/episodes/{episode_id}" in r)
    assert f"<td data-patient>{NAME}</td>" in row

    for html in (episode.text, census.text):
        assert not [u for u in _urls(html) if "Nametestperson" in u or "NAMETEST" in u]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Nametestperson" not in logged and "NAMETEST" not in logged


async def test_a_person_of_another_program_is_not_told_the_name(
    names_app: FastAPI, client: httpx.AsyncClient
) -> None:
    episode_id = await _started(client)
    outsider = await add_account(
        names_app, person(PersonRole.CARE_TEAM, programs=frozenset({OTHER_PROGRAM}))
    )
    assert (await sign_in(client, outsider)).status_code == 303
    page = await client.get(f"/app/episodes/{episode_id}")
    assert page.status_code == 404
    assert NAME not in page.text
    census = await client.get("/app/census?phase=assessment")
    assert census.status_code == 200
    assert NAME not in census.text
