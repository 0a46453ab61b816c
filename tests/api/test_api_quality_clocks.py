"""Live quality clocks end to end: a substance-use program's episode opens its IET
initiation clock (written to `quality_clocks`); a session attended through the IOP-week
roster path reaches the workflow (an `attended` notice, sent only while a clock is open),
meets initiation and opens engagement; the episode view shows both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from tests.api import bodies, iop_week
from tests.api.clocked import Clock, clocked_client
from tests.api.conftest import bearer
from tests.api.iop_week import new_group, next_monday, seat, sessions_of, until_phase

CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")


@pytest.fixture
async def api(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    api_worker: None,  # noqa: ARG001
) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock(await api_env.get_current_time())
    async with clocked_client(api_env, api_pool, api_settings, clock) as client:
        yield client, clock


async def polled(env: WorkflowEnvironment, pool: asyncpg.Pool, sql: str, *args: Any) -> Any:
    for _ in range(100):
        found = await pool.fetchval(sql, *args)
        if found:
            return found
        await env.sleep(timedelta(seconds=5))
    raise AssertionError(f"never recorded: {sql} {args}")


async def test_an_attended_session_meets_iet_initiation_and_opens_engagement(
    api: tuple[httpx.AsyncClient, Clock], api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    client, clock = api
    monday = await next_monday(clock, api_env)
    group_id = (await new_group(client, name="Recovery skills"))["group_id"]
    body = {**bodies.episode(), "policy": {"substance_use_program": True}}
    episode_id = str(body["episode_id"])
    assert (await client.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    opened = await polled(
        api_env,
        api_pool,
        "SELECT status FROM quality_clocks WHERE episode_id = $1 AND measure = 'iet_initiation'",
        episode_id,
    )
    assert opened == "open"
    answer = await client.post(
        f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE
    )
    assert answer.status_code == 200, answer.text
    await until_phase(client, api_env, episode_id, "in_treatment")
    await seat(client, group_id, episode_id)
    sunday = monday + timedelta(days=6)
    listed = await sessions_of(client, group_id, monday.isoformat(), sunday.isoformat())
    session = next(s for s in listed if datetime.fromisoformat(s["starts_at"]) > clock.now)
    clock.now = datetime.fromisoformat(session["starts_at"]) + timedelta(hours=4)
    # The workflow's clock too: a session dated after its today does not count yet.
    await api_env.sleep(clock.now - await api_env.get_current_time())
    roster = await client.post(
        f"/v1/sessions/{session['session_id']}/roster",
        json=iop_week.roster({"episode_id": episode_id, "status": "attended"}),
        headers=CARE,
    )
    assert roster.status_code == 200, roster.text
    assert roster.json()["notices_sent"] == 1
    met = await polled(
        api_env,
        api_pool,
        """SELECT met_on FROM quality_clocks WHERE episode_id = $1
           AND measure = 'iet_initiation' AND status = 'met'""",
        episode_id,
    )
    assert met.isoformat() == session["session_date"]
    engagement = await polled(
        api_env,
        api_pool,
        """SELECT services_needed FROM quality_clocks WHERE episode_id = $1
           AND measure = 'iet_engagement' AND status = 'open'""",
        episode_id,
    )
    assert engagement == 2
    view = (await client.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    shown = {c["measure"]: c for c in view["quality_clocks"]}
    assert shown["iet_initiation"]["status"] == "met"
    assert shown["iet_engagement"]["status"] == "open"
    assert shown["iet_engagement"]["days_left"] is not None
