"""Issue 10 probed where the engine is involved: an authorization extended while the
patient attends (the earlier days stay billed on the earlier authorization), and a
step-down to OP that ends the IOP groups while today's roster is being recorded. Real
PostgreSQL, the real worker on the time-skipping server; the API's clock follows the
server's (as tests/api/test_api_iop_week.py does)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from tests.api import bodies, iop_week
from tests.api.clocked import Clock, clocked_client
from tests.api.conftest import PROGRAM, bearer
from tests.api.iop_week import (
    approval,
    next_monday,
    record_one,
    roster,
    seat,
    sessions_of,
    start_episode,
    until_phase,
)

ADMIN = bearer("tok-admin")
CARE = bearer("tok-care")
UR = bearer("tok-ur")


@pytest.fixture(scope="module")
async def clock(api_env: WorkflowEnvironment) -> Clock:
    return Clock(await api_env.get_current_time())


@pytest.fixture(scope="module")
async def live(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
    clock: Clock,
) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(api_env, api_pool, api_settings, clock) as client:
        yield client


async def new_group(api: httpx.AsyncClient, **changes: Any) -> str:
    """This module's groups: IDs `prl-…`."""
    return str((await iop_week.new_group(api, prefix="prl", **changes))["group_id"])


async def until(env: WorkflowEnvironment, probe: Any, what: str) -> Any:
    for _ in range(100):
        found = await probe()
        if found:
            return found
        await env.sleep(timedelta(seconds=5))
    raise AssertionError(f"never: {what}")


async def test_probe_days_of_an_earlier_authorization_stay_billed_after_an_extension(
    live: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock, api_pool: asyncpg.Pool
) -> None:
    """AUTH-A covers Monday and Tuesday (2 days); the extension AUTH-B is approved from
    Wednesday. Monday and Tuesday were billable on AUTH-A, and stay so: the extension
    must not turn them into `not_authorized`, nor Wednesday into unauthorized service."""
    monday = await next_monday(clock, api_env)
    gid = await new_group(live)
    episode = await start_episode(live, member_id="M-WAITS-FOR-UR")
    await until_phase(live, api_env, episode, "authorization")
    first, second = f"AUTH-A-{uuid.uuid4().hex[:6]}", f"AUTH-B-{uuid.uuid4().hex[:6]}"
    answer = await live.post(
        f"/v1/episodes/{episode}/authorizations",
        json=approval(2, monday, monday + timedelta(days=1), first),
        headers=UR,
    )
    assert answer.status_code == 200, answer.text
    await until_phase(live, api_env, episode, "in_treatment")

    async def recorded(number: str) -> bool:
        return bool(
            await api_pool.fetchval(
                "SELECT count(*) FROM authorizations WHERE episode_id = $1"
                " AND authorization_number = $2",
                episode,
                number,
            )
        )

    await until(api_env, lambda: recorded(first), first)
    await seat(live, gid, episode)
    thursday = monday + timedelta(days=3)
    mon, tue, wed, _thu = await sessions_of(live, gid, monday.isoformat(), thursday.isoformat())
    await record_one(live, clock, mon, episode)
    await record_one(live, clock, tue, episode)
    wednesday = monday + timedelta(days=2)
    extension = await live.post(
        f"/v1/episodes/{episode}/authorizations",
        json=approval(8, wednesday, wednesday + timedelta(days=60), second),
        headers=UR,
    )
    assert extension.status_code == 200, extension.text
    await until(api_env, lambda: recorded(second), second)
    await record_one(live, clock, wed, episode)

    lines = (
        await live.get(
            f"/v1/programs/{PROGRAM}/billable-days",
            params={"from": monday.isoformat(), "to": wednesday.isoformat()},
            headers=UR,
        )
    ).json()
    mine = {x["day"]: x for x in lines if x["episode_id"] == episode}
    got = [
        (mine[s["session_date"]]["billable"], mine[s["session_date"]]["authorization_number"])
        for s in (mon, tue, wed)
    ]
    assert got == [(True, first), (True, first), (True, second)], mine
    unauthorized = await api_pool.fetchval(
        "SELECT count(*) FROM attendance_notices WHERE episode_id = $1"
        " AND kind = 'unauthorized_service'",
        episode,
    )
    assert unauthorized == 0
    week = (
        await live.get(
            f"/v1/episodes/{episode}/week", params={"day": wednesday.isoformat()}, headers=CARE
        )
    ).json()
    units = week["units"]
    assert (units["authorization_number"], units["units_used"], units["units_left"]) == (
        second,
        1,
        7,
    )
    assert week["billable_days"] == 3 and week["days_not_billable"] == 0


async def test_probe_a_step_down_while_todays_roster_is_recorded_keeps_the_roster(
    live: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock, api_pool: asyncpg.Pool
) -> None:
    """The patient was in the IOP group when today's session began; the step-down to OP
    is decided while the roster is sent. Either order, the roster is recorded (today's
    session was the patient's), and the IOP group is ended; a session after the
    step-down takes no roster line for the patient."""
    episode = await start_episode(live)
    await until_phase(live, api_env, episode, "in_treatment")
    now = await api_env.get_current_time()
    clock.now = now - timedelta(hours=2)
    gid = await new_group(live, weekdays=[7], start_time="23:59")  # no scheduled clash
    today = {
        "session_id": f"prl-today-{uuid.uuid4().hex[:8]}",
        "starts_at": (now - timedelta(minutes=30)).isoformat(),
        "duration_minutes": 180,
    }
    added = await live.post(f"/v1/groups/{gid}/sessions", json=today, headers=ADMIN)
    assert added.status_code == 201, added.text
    clock.now = now - timedelta(hours=1)
    await seat(live, gid, episode)
    clock.now = now + timedelta(minutes=5)
    decision = {
        "decision_id": bodies.new_id("dec"),
        "clinician_id": "clin-7",
        "action": "step_down",
        "target_level": "op",
        "reason": "stable",
    }
    line = roster({"episode_id": episode, "status": "attended"})
    stepped, recorded = await asyncio.gather(
        live.post(f"/v1/episodes/{episode}/decisions", json=decision, headers=CARE),
        live.post(f"/v1/sessions/{today['session_id']}/roster", json=line, headers=CARE),
    )
    assert stepped.status_code == 200, stepped.text
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["lines"][0]["outcome"] == "recorded"

    async def ended() -> dict[str, Any] | None:
        groups = (await live.get(f"/v1/episodes/{episode}/groups", headers=CARE)).json()
        mine = [g for g in groups if g["group_id"] == gid]
        return mine[0] if mine and mine[0]["status"] == "ended" else None

    assignment = await until(api_env, ended, "the IOP group ended")
    assert assignment["end_reason"] == "level_changed"
    history = (await live.get(f"/v1/episodes/{episode}/attendance", headers=CARE)).json()
    assert [(h["session_id"], h["status"]) for h in history] == [(today["session_id"], "attended")]
    # The same roster again, after the step-down, changes nothing and is not refused.
    again = await live.post(f"/v1/sessions/{today['session_id']}/roster", json=line, headers=CARE)
    assert again.status_code == 200, again.text
    assert again.json()["lines"][0]["outcome"] == "unchanged"
    later_start = datetime.fromisoformat(assignment["ended_at"]) + timedelta(days=1)
    later = {
        "session_id": f"prl-later-{uuid.uuid4().hex[:8]}",
        "starts_at": later_start.isoformat(),
        "duration_minutes": 180,
    }
    assert (
        await live.post(f"/v1/groups/{gid}/sessions", json=later, headers=ADMIN)
    ).status_code == 201
    clock.now = later_start + timedelta(hours=4)
    refused = await live.post(f"/v1/sessions/{later['session_id']}/roster", json=line, headers=CARE)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "body.entries.0.episode_id"
    kept = await api_pool.fetchval(
        "SELECT count(*) FROM attendance WHERE session_id = $1", later["session_id"]
    )
    assert kept == 0


async def test_probe_a_no_show_corrected_to_attended_closes_the_follow_up(
    live: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock, api_pool: asyncpg.Pool
) -> None:
    """A correction re-derives everything below it: a no-show corrected to attended (the
    patient had signed in late) is no absence, so the care team's open follow-up closes
    and the supervisor is not told it was missed a day later."""
    monday = await next_monday(clock, api_env)
    gid = await new_group(live)
    episode = await start_episode(live)
    await until_phase(live, api_env, episode, "in_treatment")
    await seat(live, gid, episode)
    session = (await sessions_of(live, gid, monday.isoformat(), monday.isoformat()))[0]
    clock.now = datetime.fromisoformat(session["starts_at"]) + timedelta(hours=4)
    path = f"/v1/sessions/{session['session_id']}/roster"
    no_show = roster({"episode_id": episode, "status": "no_show"})
    first = await live.post(path, json=no_show, headers=CARE)
    assert first.status_code == 200 and first.json()["notices_sent"] == 1, first.text

    async def flags() -> list[str]:
        return list((await live.get(f"/v1/episodes/{episode}", headers=CARE)).json()["flags"])

    assert "no_show_followup" in await flags()
    fixed = roster(
        {"episode_id": episode, "status": "attended"}, reason="signed in late at the front desk"
    )
    answer = await live.post(path, json=fixed, headers=CARE)
    assert answer.status_code == 200, answer.text
    assert answer.json()["lines"][0]["outcome"] == "corrected"
    assert answer.json()["notices_sent"] == 1, answer.text
    assert "no_show_followup" not in await flags()
    await api_env.sleep(timedelta(hours=25))  # past the follow-up's durable timer
    missed = await api_pool.fetchval(
        "SELECT count(*) FROM notification_outbox WHERE episode_id = $1"
        " AND template = 'no_show_followup_missed'",
        episode,
    )
    assert missed == 0


async def test_probe_a_week_that_cannot_reach_the_minimum_is_flagged_though_attended_fully(
    live: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    """Seated on Wednesday in a Mon-Thu group of 3 h, the week can reach 6 h of the 9:
    the week view says `below_minimum` and so must the engine, the day of the first
    roster, even though that session was attended whole."""
    monday = await next_monday(clock, api_env)
    gid = await new_group(live)
    episode = await start_episode(live)
    await until_phase(live, api_env, episode, "in_treatment")
    clock.now = datetime.combine(monday + timedelta(days=2), time(8), tzinfo=UTC)
    await seat(live, gid, episode)
    thursday = monday + timedelta(days=3)
    wednesday = (await sessions_of(live, gid, monday.isoformat(), thursday.isoformat()))[2]
    answer = await record_one(live, clock, wednesday, episode)
    week = (await live.get(f"/v1/episodes/{episode}/week", headers=CARE)).json()
    assert (week["scheduled"], week["hours"], week["hours_still_possible"]) == (2, 3.0, 3.0)
    assert week["below_minimum"] is True
    assert answer["notices_sent"] == 1, answer
    state = (await live.get(f"/v1/episodes/{episode}", headers=CARE)).json()
    assert "below_minimum" in state["flags"]
