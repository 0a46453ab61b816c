"""Today's worklists name the patient (issue 11), as the census and the episode page do:
from PostgreSQL's `patients`, within the person's programs, never in a URL or a log."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from api.workbench.accounts import PersonRole
from store.pool import open_pool
from tests.api import bodies
from tests.api.conftest import OTHER_PROGRAM, PROGRAM, bearer
from tests.workbench.conftest import add_account, make_app, person, sign_in

CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")


@pytest.fixture
async def today_app(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    api_worker: None,
) -> FastAPI:
    assert api_worker is None  # wanted for its side effect: the worker runs
    # A page big enough that the risk list shows this test's episode among every other.
    return make_app(api_env, api_pool, api_settings, page_size=500)


@pytest.fixture
async def client(today_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=today_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as c:
        yield c


async def _at_risk(client: httpx.AsyncClient, env: WorkflowEnvironment, name: str) -> str:
    """An episode in treatment whose review raised the risk flag (PHQ-9 item 9)."""
    body = bodies.episode(f"ep-today-{uuid.uuid4().hex[:10]}")
    body["patient"] = {"patient_ref": "MRN-TODAY-1", "name": name}
    assert (await client.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    episode_id = str(body["episode_id"])
    assessed = await client.post(
        f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE
    )
    assert assessed.status_code == 200, assessed.text
    await env.sleep(timedelta(hours=1))
    review = {**bodies.review(), "phq9": {"items": [1, 1, 1, 1, 1, 1, 1, 1, 1]}}
    answer = await client.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=CARE)
    assert answer.status_code == 200, answer.text
    return episode_id


def _risk_row(html: str, episode_id: str) -> str:
    section = html.split('data-list="risk"', 1)[1].split("</section>", 1)[0]
    return next(r for r in section.split("<tr") if f"/app/episodes/{episode_id}" in r)


async def test_today_names_the_patient_in_its_lists_never_in_urls_or_logs(
    today_app: FastAPI,
    client: httpx.AsyncClient,
    api_env: WorkflowEnvironment,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"Ottoline Todaytest{uuid.uuid4().hex[:6]}"
    episode_id = await _at_risk(client, api_env, name)
    who = await add_account(today_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(client, who)).status_code == 303
    caplog.set_level(logging.DEBUG)

    for path in ("/app/", f"/app/?program={PROGRAM}", f"/app/today/lists?program={PROGRAM}"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert f"<td data-patient>{name}</td>" in _risk_row(page.text, episode_id), path
        urls = re.findall(r'(?:href|src|action|hx-get)="([^"]*)"', page.text)
        assert not [u for u in urls if "Todaytest" in u]
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Todaytest" not in logged


async def test_a_person_of_another_program_is_not_told_the_name_on_today(
    today_app: FastAPI, client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    name = f"Ottoline Todaytest{uuid.uuid4().hex[:6]}"
    await _at_risk(client, api_env, name)
    outsider = await add_account(
        today_app, person(PersonRole.CARE_TEAM, programs=frozenset({OTHER_PROGRAM}))
    )
    assert (await sign_in(client, outsider)).status_code == 303
    for path in ("/app/", f"/app/?program={PROGRAM}"):
        page = await client.get(path)
        assert page.status_code == 200
        assert name not in page.text


async def test_today_is_a_few_statements_whatever_its_rows(
    api_env: WorkflowEnvironment,
    api_pg_dsn: str,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    api_worker: None,
    client: httpx.AsyncClient,
) -> None:
    """A signed-in Today page: the session (one statement), then every list with its count
    and the names of its rows, the quality clocks and care-team tasks included (one, in a
    transaction of its own that sets its plan: BEGIN with the settings, and COMMIT);
    never a statement per row."""
    assert api_worker is None
    await _at_risk(client, api_env, f"Ottoline Todaytest{uuid.uuid4().hex[:6]}")
    schema: str = await api_pool.fetchval("SELECT current_schema()")
    seen: list[str] = []

    async def watch(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda query: seen.append(" ".join(query.query.split())))

    pool = await open_pool(
        api_pg_dsn,
        server_settings={"search_path": schema},
        reset_sessions=False,
        init=watch,
    )
    try:
        app = make_app(api_env, pool, api_settings, page_size=500)
        who = await add_account(app, person(PersonRole.CARE_TEAM))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as own:
            assert (await sign_in(own, who)).status_code == 303
            assert (await own.get("/app/")).status_code == 200  # prepared statements warm
            for _ in range(5):
                await asyncio.sleep(0)
            seen.clear()
            page = await own.get("/app/")
            assert page.status_code == 200
            for _ in range(5):
                await asyncio.sleep(0)
    finally:
        await pool.close()
    rows = page.text.count("<td data-patient>")
    assert rows >= 2, "the page lists rows (the risk list at least)"
    kinds = [s.split(" AS ", 1)[0][:22] for s in seen]
    assert sum(s.startswith("WITH live AS") for s in seen) == 1, kinds
    assert sum(s.startswith('WITH "today list:risk"') for s in seen) == 1, kinds
    today = next(s for s in seen if s.startswith('WITH "today list:risk"'))
    assert "FROM quality_clocks" in today and "FROM care_team_tasks" in today, kinds
    assert sum("FROM patients" in s for s in seen) == 1, kinds
    assert sum(s.startswith("BEGIN; SET LOCAL plan_cache_mode") for s in seen) == 1, kinds
    assert sum(s == "COMMIT" for s in seen) == 1, kinds
    assert len(seen) == 4, kinds
