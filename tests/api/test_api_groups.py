"""Groups, sessions, assignments, rosters and billable days over the API (real PostgreSQL,
real worker on the time-skipping server). The API's clock is this module's own, so
sessions can be in the past or the future on purpose."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from tests.api import bodies
from tests.api.clocked import Clock, clocked_client
from tests.api.conftest import PROGRAM, bearer
from tests.api.iop_week import enrolled, group_body, new_group, roster, seat, sessions_of

ADMIN = bearer("tok-admin")
CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
UR = bearer("tok-ur")


@pytest.fixture(scope="module")
def clock() -> Clock:
    # A Monday at 08:00 UTC, in the past so the workflow's own time is unaffected.
    return Clock(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
async def gapi(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
    clock: Clock,
) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(api_env, api_pool, api_settings, clock) as client:
        yield client


async def test_a_group_is_defined_once_and_its_sessions_follow_the_schedule(
    gapi: httpx.AsyncClient,
) -> None:
    body = group_body()
    first = await gapi.post("/v1/groups", json=body, headers=ADMIN)
    assert first.status_code == 201, first.text
    assert first.json()["seats_free"] == 12
    again = await gapi.post("/v1/groups", json=body, headers=ADMIN)
    assert again.status_code == 200
    changed = await gapi.post("/v1/groups", json={**body, "capacity": 8}, headers=ADMIN)
    assert changed.status_code == 409
    assert changed.json()["type"].endswith("group-id-conflict")
    week = await sessions_of(gapi, body["group_id"], "2026-03-02", "2026-03-08")
    assert [s["session_date"] for s in week] == [
        "2026-03-02",
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
    ]
    assert all(s["duration_minutes"] == 180 and s["kind"] == "scheduled" for s in week)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"capacity": 0}, "capacity"),
        ({"weekdays": [0, 8]}, "weekdays"),
        ({"level": "inpatient"}, "level"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ],
)
async def test_a_bad_group_is_422_naming_the_field(
    gapi: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    answer = await gapi.post("/v1/groups", json=group_body(**change), headers=ADMIN)
    assert answer.status_code == 422, answer.text
    assert any(e["field"] == f"body.{field}" for e in answer.json()["errors"])


async def test_only_program_admin_and_clinic_system_manage_groups(
    gapi: httpx.AsyncClient,
) -> None:
    answer = await gapi.post("/v1/groups", json=group_body(), headers=CARE)
    assert answer.status_code == 403
    assert (await gapi.post("/v1/groups", json=group_body(), headers=CLINIC)).status_code == 201
    other = await gapi.get(
        "/v1/groups", params={"program": PROGRAM}, headers=bearer("tok-care-other")
    )
    assert other.status_code == 403


async def test_capacity_refuses_one_more_or_queues_it_and_a_freed_seat_goes_to_the_queue(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    group = await new_group(gapi, capacity=1)
    gid = group["group_id"]
    first, second, third = [await enrolled(gapi, api_env) for _ in range(3)]
    await seat(gapi, gid, first)
    full = await gapi.post(
        f"/v1/groups/{gid}/assignments", json={"episode_id": second}, headers=CARE
    )
    assert full.status_code == 409
    assert full.json()["type"].endswith("group-full")
    waiting = []
    for episode in (second, third):
        answer = await gapi.post(
            f"/v1/groups/{gid}/assignments",
            json={"episode_id": episode, "wait_if_full": True},
            headers=CARE,
        )
        assert answer.status_code == 201, answer.text
        waiting.append(answer.json())
    assert [w["status"] for w in waiting] == ["waiting", "waiting"]
    assert [w["waiting_position"] for w in waiting] == [1, 2]
    census = (await gapi.get(f"/v1/groups/{gid}", headers=CARE)).json()
    assert (census["seats_used"], census["seats_free"], census["waiting"]) == (1, 0, 2)

    ended = await gapi.delete(f"/v1/groups/{gid}/assignments/{first}", headers=CARE)
    assert ended.status_code == 200, ended.text
    members = (await gapi.get(f"/v1/groups/{gid}/members", headers=CARE)).json()
    by_episode = {m["episode_id"]: m for m in members}
    assert by_episode[second]["status"] == "assigned"
    assert by_episode[third]["status"] == "waiting"
    assert by_episode[third]["waiting_position"] == 1


async def test_capacity_below_current_assignments_is_refused_and_unchanged(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    group = await new_group(gapi, capacity=3)
    gid = group["group_id"]
    for _ in range(2):
        await seat(gapi, gid, await enrolled(gapi, api_env))
    answer = await gapi.patch(f"/v1/groups/{gid}", json={"capacity": 1}, headers=ADMIN)
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"].endswith("capacity-below-assignments")
    assert answer.json()["errors"][0]["field"] == "body.capacity"
    assert (await gapi.get(f"/v1/groups/{gid}", headers=CARE)).json()["capacity"] == 3
    ok = await gapi.patch(f"/v1/groups/{gid}", json={"capacity": 2}, headers=ADMIN)
    assert ok.status_code == 200 and ok.json()["seats_free"] == 0


async def test_only_an_enrolled_episode_at_the_groups_level_is_seated(
    gapi: httpx.AsyncClient,
) -> None:
    group = await new_group(gapi, level="php")
    body = bodies.episode()
    assert (await gapi.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    answer = await gapi.post(
        f"/v1/groups/{group['group_id']}/assignments",
        json={"episode_id": body["episode_id"]},
        headers=CARE,
    )
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("episode-not-at-group-level")
    unknown = await gapi.post(
        f"/v1/groups/{group['group_id']}/assignments", json={"episode_id": "nope"}, headers=CARE
    )
    assert unknown.status_code == 404


async def week_with_three(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> tuple[str, list[str], list[dict[str, Any]]]:
    """A group, three seated episodes, and its sessions in the week after seating."""
    group = await new_group(gapi)
    gid = group["group_id"]
    episodes = [await enrolled(gapi, api_env) for _ in range(3)]
    for e in episodes:
        await seat(gapi, gid, e)
    day = clock.now.date()
    week = await sessions_of(gapi, gid, day.isoformat(), (day + timedelta(days=14)).isoformat())
    upcoming = [s for s in week if datetime.fromisoformat(s["starts_at"]) > clock.now]
    return gid, episodes, upcoming


async def test_a_roster_is_recorded_whole_and_again_changes_nothing(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock, api_pool: asyncpg.Pool
) -> None:
    _gid, (a, b, c), upcoming = await week_with_three(gapi, api_env, clock)
    session = upcoming[0]
    sid = session["session_id"]
    body = roster(
        {"episode_id": a, "status": "attended"},
        {"episode_id": b, "status": "partial", "minutes": 90, "modality": "telehealth"},
        {"episode_id": c, "status": "no_show"},
    )
    future = await gapi.post(f"/v1/sessions/{sid}/roster", json=body, headers=CARE)
    assert future.status_code == 422
    assert future.json()["type"].endswith("session-in-future")

    clock.now = datetime.fromisoformat(session["starts_at"]) + timedelta(hours=4)
    first = await gapi.post(f"/v1/sessions/{sid}/roster", json=body, headers=CARE)
    assert first.status_code == 200, first.text
    assert [line["outcome"] for line in first.json()["lines"]] == ["recorded"] * 3
    again = await gapi.post(f"/v1/sessions/{sid}/roster", json=body, headers=CARE)
    assert [line["outcome"] for line in again.json()["lines"]] == ["unchanged"] * 3
    history = (await gapi.get(f"/v1/episodes/{b}/attendance", headers=CARE)).json()
    assert [(h["status"], h["minutes"], h["modality"]) for h in history] == [
        ("partial", 90, "telehealth")
    ]
    attended = (await gapi.get(f"/v1/episodes/{a}/attendance", headers=CARE)).json()
    assert attended[0]["minutes"] == 180
    audit_rows = await api_pool.fetchval(
        "SELECT count(*) FROM attendance_audit WHERE session_id = $1", sid
    )
    assert audit_rows == 3


async def test_bad_rosters_name_the_item_and_record_nothing(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock, api_pool: asyncpg.Pool
) -> None:
    _gid, (a, b, _), upcoming = await week_with_three(gapi, api_env, clock)
    sid = upcoming[0]["session_id"]
    clock.now = datetime.fromisoformat(upcoming[0]["starts_at"]) + timedelta(hours=4)
    stranger = await enrolled(gapi, api_env)
    cases: list[tuple[dict[str, Any], int, str]] = [
        (
            roster(
                {"episode_id": a, "status": "attended"},
                {"episode_id": b, "status": "partial", "minutes": 200},
            ),
            422,
            "body.entries.1.minutes",
        ),
        (
            roster(
                {"episode_id": a, "status": "attended"},
                {"episode_id": stranger, "status": "attended"},
            ),
            422,
            "body.entries.1.episode_id",
        ),
        (
            roster({"episode_id": a, "status": "attended"}, {"episode_id": a, "status": "no_show"}),
            422,
            "body",
        ),
        (roster({"episode_id": a, "status": "partial"}), 422, "body.entries.0.minutes"),
    ]
    for body, status, field in cases:
        answer = await gapi.post(f"/v1/sessions/{sid}/roster", json=body, headers=CARE)
        assert answer.status_code == status, answer.text
        assert any(e["field"] == field for e in answer.json()["errors"]), answer.text
    unknown = await gapi.post(
        "/v1/sessions/no-such-session/roster",
        json=roster({"episode_id": a, "status": "attended"}),
        headers=CARE,
    )
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("session-not-found")
    recorded = await api_pool.fetchval("SELECT count(*) FROM attendance WHERE session_id = $1", sid)
    assert recorded == 0


async def test_a_correction_keeps_the_earlier_value_with_who_and_why_within_the_window(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    _gid, (a, _, _), upcoming = await week_with_three(gapi, api_env, clock)
    session = upcoming[0]
    sid = session["session_id"]
    clock.now = datetime.fromisoformat(session["starts_at"]) + timedelta(hours=4)
    first = roster({"episode_id": a, "status": "no_show"})
    assert (
        await gapi.post(f"/v1/sessions/{sid}/roster", json=first, headers=CARE)
    ).status_code == 200
    fixed = roster({"episode_id": a, "status": "attended"})
    no_reason = await gapi.post(f"/v1/sessions/{sid}/roster", json=fixed, headers=CARE)
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "body.entries.0"
    with_reason = roster({"episode_id": a, "status": "attended"}, reason="arrived late, signed in")
    answer = await gapi.post(f"/v1/sessions/{sid}/roster", json=with_reason, headers=CLINIC)
    assert answer.status_code == 200, answer.text
    assert answer.json()["lines"][0] == {"episode_id": a, "outcome": "corrected", "revision": 2}
    history = (await gapi.get(f"/v1/episodes/{a}/attendance", headers=CARE)).json()
    assert history[0]["status"] == "attended" and history[0]["revision"] == 2
    audit = (await gapi.get(f"/v1/sessions/{sid}/attendance/{a}/audit", headers=CARE)).json()
    assert [(x["status"], x["recorded_by"], x["reason"]) for x in audit] == [
        ("no_show", "clin-7", None),
        ("attended", "clin-7", "arrived late, signed in"),
    ]
    clock.now += timedelta(days=30)
    late = roster({"episode_id": a, "status": "excused"}, reason="too late")
    closed = await gapi.post(f"/v1/sessions/{sid}/roster", json=late, headers=CARE)
    assert closed.status_code == 409
    assert closed.json()["type"].endswith("correction-window-closed")


async def test_an_attendance_audit_of_an_unknown_session_or_episode_is_a_404_problem(
    gapi: httpx.AsyncClient, clock: Clock
) -> None:
    group = await new_group(gapi)
    day = clock.now.date()
    week = await sessions_of(gapi, group["group_id"], str(day), str(day + timedelta(days=7)))
    sid = week[0]["session_id"]
    body = bodies.episode()
    assert (await gapi.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    known = str(body["episode_id"])
    for path, slug in [
        (f"/v1/sessions/{sid}/attendance/no-such-episode/audit", "episode-not-found"),
        (f"/v1/sessions/no-such-session/attendance/{known}/audit", "session-not-found"),
        ("/v1/sessions/no-such-session/attendance/no-such-episode/audit", "session-not-found"),
    ]:
        answer = await gapi.get(path, headers=CARE)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["type"].endswith(f"/{slug}"), answer.text
    # A known episode with nothing recorded in a known session: an empty trail, not a 404.
    empty = await gapi.get(f"/v1/sessions/{sid}/attendance/{known}/audit", headers=CARE)
    assert empty.status_code == 200 and empty.json() == [], empty.text


async def test_a_cancelled_session_takes_no_roster(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    _gid, (a, _, _), upcoming = await week_with_three(gapi, api_env, clock)
    sid = upcoming[0]["session_id"]
    cancelled = await gapi.post(
        f"/v1/sessions/{sid}/cancel", json={"reason": "holiday"}, headers=ADMIN
    )
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    clock.now = datetime.fromisoformat(upcoming[0]["starts_at"]) + timedelta(hours=4)
    answer = await gapi.post(
        f"/v1/sessions/{sid}/roster",
        json=roster({"episode_id": a, "status": "attended"}),
        headers=CARE,
    )
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("session-cancelled")


async def test_billable_days_come_from_attendance_as_json_and_csv(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    _gid, (a, b, _), upcoming = await week_with_three(gapi, api_env, clock)
    first_day = upcoming[0]["session_date"]
    for session in upcoming[:2]:
        clock.now = datetime.fromisoformat(session["starts_at"]) + timedelta(hours=4)
        body = roster(
            {"episode_id": a, "status": "attended"},
            {"episode_id": b, "status": "partial", "minutes": 120},
        )
        answer = await gapi.post(
            f"/v1/sessions/{session['session_id']}/roster", json=body, headers=CARE
        )
        assert answer.status_code == 200, answer.text
    last_day = upcoming[1]["session_date"]
    params = {"from": first_day, "to": last_day}
    lines = (
        await gapi.get(f"/v1/programs/{PROGRAM}/billable-days", params=params, headers=UR)
    ).json()
    mine = [line for line in lines if line["episode_id"] in (a, b)]
    by = {(x["episode_id"], x["day"]): x for x in mine}
    assert len(by) == 4
    # NOAUTH members have no authorization: attended days are recorded, not billed.
    assert by[(a, first_day)]["hours"] == 3.0
    assert by[(a, first_day)]["hcpcs"] == "S9480" and by[(a, first_day)]["revenue_code"] == "0905"
    assert by[(a, first_day)]["reason"] == "not_authorized"
    assert by[(b, first_day)]["reason"] == "under_daily_minimum"
    assert all(x["units"] == 0 for x in mine)
    exported = await gapi.get(
        f"/v1/programs/{PROGRAM}/billable-days", params={**params, "format": "csv"}, headers=UR
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {(r["episode_id"], r["day"]) for r in rows if r["episode_id"] in (a, b)} == set(by)
    care = await gapi.get(f"/v1/programs/{PROGRAM}/billable-days", params=params, headers=CARE)
    assert care.status_code == 403


async def test_a_step_down_ends_the_episodes_iop_groups_and_frees_the_seat(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    group = await new_group(gapi, capacity=1)
    gid = group["group_id"]
    leaving, next_in_line = await enrolled(gapi, api_env), await enrolled(gapi, api_env)
    await seat(gapi, gid, leaving)
    queued = await gapi.post(
        f"/v1/groups/{gid}/assignments",
        json={"episode_id": next_in_line, "wait_if_full": True},
        headers=CARE,
    )
    assert queued.json()["status"] == "waiting"
    decision = {
        "decision_id": bodies.new_id("dec"),
        "clinician_id": "clin-7",
        "action": "step_down",
        "target_level": "op",
        "reason": "stable",
    }
    answer = await gapi.post(f"/v1/episodes/{leaving}/decisions", json=decision, headers=CARE)
    assert answer.status_code == 200, answer.text
    for _ in range(50):
        groups = (await gapi.get(f"/v1/episodes/{leaving}/groups", headers=CARE)).json()
        if groups[0]["status"] == "ended":
            break
        await api_env.sleep(timedelta(seconds=5))
    assert groups[0]["status"] == "ended" and groups[0]["end_reason"] == "level_changed"
    members = (await gapi.get(f"/v1/groups/{gid}/members", headers=CARE)).json()
    assert [(m["episode_id"], m["status"]) for m in members] == [(next_in_line, "assigned")]


async def test_the_same_roster_sent_twice_at_once_is_recorded_once(
    gapi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock, api_pool: asyncpg.Pool
) -> None:
    _gid, (a, b, c), upcoming = await week_with_three(gapi, api_env, clock)
    sid = upcoming[0]["session_id"]
    clock.now = datetime.fromisoformat(upcoming[0]["starts_at"]) + timedelta(hours=4)
    body = roster(*({"episode_id": e, "status": "attended"} for e in (a, b, c)))
    first, second = await asyncio.gather(
        *(gapi.post(f"/v1/sessions/{sid}/roster", json=body, headers=CARE) for _ in range(2))
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    outcomes = sorted(
        {line["outcome"] for line in first.json()["lines"]}
        | {line["outcome"] for line in second.json()["lines"]}
    )
    assert outcomes == ["recorded", "unchanged"]
    audit = await api_pool.fetchval(
        "SELECT count(*) FROM attendance_audit WHERE session_id = $1", sid
    )
    assert audit == 3
