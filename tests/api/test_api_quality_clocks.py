"""Live quality clocks end to end: a substance-use program's episode opens its IET
initiation clock (written to `quality_clocks`); a session attended through the IOP-week
roster path reaches the workflow (an `attended` notice, sent only while a clock is open),
meets initiation and opens engagement; the episode view shows both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from tests.api import bodies
from tests.api.conftest import PROGRAM, bearer

ADMIN = bearer("tok-admin")
CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def api(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    api_worker: None,  # noqa: ARG001
) -> AsyncIterator[tuple[httpx.AsyncClient, Clock]]:
    clock = Clock(await api_env.get_current_time())
    app = create_app(
        ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings, clock=clock)
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as client:
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
    today = (await api_env.get_current_time()).date()
    monday = today + timedelta(days=7 - today.weekday())
    clock.now = datetime.combine(monday, time(8), tzinfo=UTC)
    group_id = f"grp-{uuid.uuid4().hex[:10]}"
    group = {
        "group_id": group_id,
        "program_id": PROGRAM,
        "name": "Recovery skills",
        "level": "iop",
        "weekdays": [1, 2, 3, 4],
        "start_time": "09:00",
        "duration_minutes": 180,
        "capacity": 12,
        "facilitator_ref": "fac-1",
    }
    assert (await client.post("/v1/groups", json=group, headers=ADMIN)).status_code == 201
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
    for _ in range(40):
        state = (await client.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
        if state["phase"] == "in_treatment":
            break
        await api_env.sleep(timedelta(minutes=10))
    assert state["phase"] == "in_treatment", state
    seated = await client.post(
        f"/v1/groups/{group_id}/assignments", json={"episode_id": episode_id}, headers=CARE
    )
    assert seated.status_code == 201, seated.text
    listed = await client.get(
        f"/v1/groups/{group_id}/sessions",
        params={"from": monday.isoformat(), "to": (monday + timedelta(days=6)).isoformat()},
        headers=CARE,
    )
    session = next(s for s in listed.json() if datetime.fromisoformat(s["starts_at"]) > clock.now)
    clock.now = datetime.fromisoformat(session["starts_at"]) + timedelta(hours=4)
    # The workflow's clock too: a session dated after its today does not count yet.
    await api_env.sleep(clock.now - await api_env.get_current_time())
    roster = await client.post(
        f"/v1/sessions/{session['session_id']}/roster",
        json={
            "recorded_by": "clin-7",
            "entries": [{"episode_id": episode_id, "status": "attended"}],
        },
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
