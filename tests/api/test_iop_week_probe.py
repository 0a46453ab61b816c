"""Issue 10 probed over HTTP, as a clinic's integration engineer, a biller and a
utilization-review nurse would try it: rosters sent twice or changed, corrections late or
without a reason, bad minutes and bad text, unseated or waiting participants, seats freed
two at once, holidays, reversed or long export ranges, DST weeks in the group's zone,
unknown IDs and the wrong keys. Real PostgreSQL, the real worker on the time-skipping
server; the API's clock is this module's own (a Monday in March 2026, before the DST
change in New York)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.sessions_ahead import SessionsAhead
from api.settings import ApiSettings
from store.attendance_schedule import sessions_ahead
from tests.api import iop_week
from tests.api.clocked import Clock, clocked_client
from tests.api.conftest import OTHER_PROGRAM, PROGRAM, bearer
from tests.api.iop_week import enrolled, roster, seat, sessions_of

ADMIN = bearer("tok-admin")
CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
UR = bearer("tok-ur")
OPS = bearer("tok-ops")
OTHER = bearer("tok-care-other")

MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock(MONDAY)


@pytest.fixture(scope="module")
async def papi(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
    clock: Clock,
) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(api_env, api_pool, api_settings, clock) as client:
        yield client


def group_body(**changes: Any) -> dict[str, Any]:
    """This module's groups: IDs `prb-…`."""
    return iop_week.group_body("prb", **changes)


async def new_group(api: httpx.AsyncClient, clock: Clock, **changes: Any) -> str:
    """A group defined on this module's Monday."""
    clock.now = MONDAY
    return str((await iop_week.new_group(api, prefix="prb", **changes))["group_id"])


@pytest.fixture(scope="module")
async def crew(papi: httpx.AsyncClient, api_env: WorkflowEnvironment) -> list[str]:
    """Enrolled IOP episodes shared by the tests whose counts do not depend on them."""
    return [await enrolled(papi, api_env) for _ in range(4)]


def after(session: dict[str, Any], **delta: float) -> datetime:
    return datetime.fromisoformat(session["starts_at"]) + timedelta(**delta)


async def recorded(pool: asyncpg.Pool, session_id: str) -> dict[str, tuple[str, int, int]]:
    rows = await pool.fetch(
        "SELECT episode_id, status, minutes, revision FROM attendance WHERE session_id = $1",
        session_id,
    )
    return {r["episode_id"]: (r["status"], r["minutes"], r["revision"]) for r in rows}


def fields(answer: httpx.Response) -> list[str]:
    return [e["field"] for e in answer.json().get("errors") or []]


async def test_probe_an_idempotency_key_reused_for_another_roster_is_refused(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str], api_pool: asyncpg.Pool
) -> None:
    """The API's contract: a retry with the same Idempotency-Key and another body is a 422,
    never applied. A clinic system that numbers its roster messages sends the key."""
    a, b = crew[:2]
    gid = await new_group(papi, clock)
    for e in (a, b):
        await seat(papi, gid, e)
    session = (await sessions_of(papi, gid, "2026-03-02", "2026-03-02"))[0]
    sid = session["session_id"]
    clock.now = after(session, hours=4)
    key = {"Idempotency-Key": f"roster-{uuid.uuid4().hex}"}
    first = roster({"episode_id": a, "status": "attended"})
    answer = await papi.post(f"/v1/sessions/{sid}/roster", json=first, headers={**CARE, **key})
    assert answer.status_code == 200, answer.text
    other = roster({"episode_id": a, "status": "attended"}, {"episode_id": b, "status": "no_show"})
    reused = await papi.post(f"/v1/sessions/{sid}/roster", json=other, headers={**CARE, **key})
    assert reused.status_code == 422, reused.text
    assert reused.json()["type"].endswith("idempotency-key-reused")
    assert set(await recorded(api_pool, sid)) == {a}


async def calls_on(pool: asyncpg.Pool, subject: str) -> list[tuple[str | None, str, str, int]]:
    rows = await pool.fetch(
        "SELECT episode_id, operation, actor, status_code FROM api_calls WHERE subject = $1 "
        "ORDER BY id",
        subject,
    )
    return [(r["episode_id"], r["operation"], r["actor"], r["status_code"]) for r in rows]


async def test_a_roster_sent_again_with_its_key_gets_the_stored_answer_and_records_nothing_twice(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str], api_pool: asyncpg.Pool
) -> None:
    a, b = crew[2:4]
    gid = await new_group(papi, clock)
    for e in (a, b):
        await seat(papi, gid, e)
    session = (await sessions_of(papi, gid, "2026-03-04", "2026-03-04"))[0]
    sid = session["session_id"]
    clock.now = after(session, hours=4)
    key = {"Idempotency-Key": f"roster-{uuid.uuid4().hex}"}
    body = roster({"episode_id": a, "status": "attended"}, {"episode_id": b, "status": "no_show"})
    first = await papi.post(f"/v1/sessions/{sid}/roster", json=body, headers={**CARE, **key})
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    recorded_once = await recorded(api_pool, sid)
    assert set(recorded_once) == {a, b}

    again = await papi.post(f"/v1/sessions/{sid}/roster", json=body, headers={**CARE, **key})
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()  # the stored answer, lines' outcomes as first given
    assert await recorded(api_pool, sid) == recorded_once  # no second revision
    audit = (await papi.get(f"/v1/sessions/{sid}/attendance/{a}/audit", headers=CARE)).json()
    assert [x["revision"] for x in audit] == [1]
    assert await calls_on(api_pool, sid) == [(None, "record_attendance", "clin-7", 200)]


async def test_every_groups_write_leaves_an_audit_row_naming_what_it_changed(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str], api_pool: asyncpg.Pool
) -> None:
    """Group, assignment, session, cancellation, roster and policy writes each leave one
    api_calls row (who, which operation, the answer's status) on the group, session or
    program; an assignment names its episode too, so the episode's timeline shows it."""
    a, b = crew[:2]
    key = {"Idempotency-Key": f"group-{uuid.uuid4().hex}"}
    clock.now = MONDAY
    spec = group_body()
    gid = spec["group_id"]
    made = await papi.post("/v1/groups", json=spec, headers={**ADMIN, **key})
    assert made.status_code == 201, made.text
    replayed = await papi.post("/v1/groups", json=spec, headers={**ADMIN, **key})
    assert (replayed.status_code, replayed.json()) == (201, made.json())  # not 200 "already"
    assert replayed.headers["Idempotent-Replayed"] == "true"
    other = await papi.post("/v1/groups", json=group_body(), headers={**ADMIN, **key})
    assert other.status_code == 422, other.text
    assert other.json()["type"].endswith("idempotency-key-reused")

    for e in (a, b):
        await seat(papi, gid, e)
    extra = await papi.post(
        f"/v1/groups/{gid}/sessions",
        json={
            "session_id": f"{gid}-extra",
            "starts_at": "2026-03-07T14:00:00Z",
            "duration_minutes": 120,
        },
        headers=ADMIN,
    )
    assert extra.status_code == 201, extra.text
    session = (await sessions_of(papi, gid, "2026-03-05", "2026-03-05"))[0]
    sid = session["session_id"]
    clock.now = after(session, hours=4)
    answer = await papi.post(
        f"/v1/sessions/{sid}/roster",
        json=roster({"episode_id": a, "status": "attended"}),
        headers=CARE,
    )
    assert answer.status_code == 200, answer.text
    cancelled = await papi.post(
        f"/v1/sessions/{extra.json()['session_id']}/cancel",
        json={"reason": "holiday"},
        headers=ADMIN,
    )
    assert cancelled.status_code == 200, cancelled.text
    refused = await papi.patch(f"/v1/groups/{gid}", json={"capacity": 1}, headers=ADMIN)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("capacity-below-assignments")
    unseated = await papi.delete(f"/v1/groups/{gid}/assignments/{a}", headers=CARE)
    assert unseated.status_code == 200, unseated.text

    assert await calls_on(api_pool, gid) == [
        (None, "manage_groups", "admin-1", 201),  # the replay and the reused key: no row
        (a, "assign_groups", "clin-7", 201),
        (b, "assign_groups", "clin-7", 201),
        (None, "manage_groups", "admin-1", 201),  # the ad-hoc session
        (None, "manage_groups", "admin-1", 409),  # refused, and recorded so
        (a, "assign_groups", "clin-7", 200),
    ]
    assert await calls_on(api_pool, sid) == [(None, "record_attendance", "clin-7", 200)]
    assert await calls_on(api_pool, extra.json()["session_id"]) == [
        (None, "manage_groups", "admin-1", 200)
    ]
    timeline = (await papi.get(f"/v1/episodes/{a}/timeline", headers=CARE)).json()
    assert [x["operation"] for x in timeline if x["kind"] == "api_call"][-2:] == [
        "assign_groups",
        "assign_groups",
    ]

    before = await api_pool.fetchval("SELECT count(*) FROM api_calls WHERE subject = $1", PROGRAM)
    policy = (await papi.get(f"/v1/programs/{PROGRAM}/attendance-policy", headers=ADMIN)).json()
    put = await papi.put(f"/v1/programs/{PROGRAM}/attendance-policy", json=policy, headers=ADMIN)
    assert put.status_code == 200, put.text
    rows = await calls_on(api_pool, PROGRAM)
    assert len(rows) == before + 1
    assert rows[-1] == (None, "manage_groups", "admin-1", 200)


async def test_probe_a_roster_with_a_bad_correction_records_none_of_its_lines(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str], api_pool: asyncpg.Pool
) -> None:
    """A correction without a reason (none, empty, blank) or after the window refuses the
    whole roster, its new lines too; the earlier value stands with one audit row."""
    a, b = crew[:2]
    gid = await new_group(papi, clock)
    for e in (a, b):
        await seat(papi, gid, e)
    session = (await sessions_of(papi, gid, "2026-03-03", "2026-03-03"))[0]
    sid = session["session_id"]
    clock.now = after(session, hours=4)
    assert (
        await papi.post(
            f"/v1/sessions/{sid}/roster",
            json=roster({"episode_id": a, "status": "no_show"}),
            headers=CARE,
        )
    ).status_code == 200
    changed = ({"episode_id": a, "status": "attended"}, {"episode_id": b, "status": "attended"})
    no_reason = await papi.post(f"/v1/sessions/{sid}/roster", json=roster(*changed), headers=CARE)
    assert no_reason.status_code == 422, no_reason.text
    assert no_reason.json()["type"].endswith("correction-needs-reason")
    assert fields(no_reason) == ["body.entries.0"]
    assert a in no_reason.json()["errors"][0]["message"]
    for reason, field in (("", "body.correction_reason"), ("   ", "body.correction_reason")):
        blank = await papi.post(
            f"/v1/sessions/{sid}/roster", json=roster(*changed, reason=reason), headers=CARE
        )
        assert blank.status_code == 422, (reason, blank.text)
        assert field in fields(blank), blank.text
    assert await recorded(api_pool, sid) == {a: ("no_show", 0, 1)}

    clock.now = after(session, hours=3 + 72, minutes=1)  # the 72 h window closed a minute ago
    late = await papi.post(
        f"/v1/sessions/{sid}/roster", json=roster(*changed, reason="signed in late"), headers=CARE
    )
    assert late.status_code == 409, late.text
    assert late.json()["type"].endswith("correction-window-closed")
    assert fields(late) == ["body.entries.0"]
    assert await recorded(api_pool, sid) == {a: ("no_show", 0, 1)}
    audit = (await papi.get(f"/v1/sessions/{sid}/attendance/{a}/audit", headers=CARE)).json()
    assert [(x["status"], x["revision"]) for x in audit] == [("no_show", 1)]


@pytest.mark.parametrize(
    ("path", "method", "body", "field"),
    [
        ("/v1/groups", "post", group_body(name="Skills\x00"), "body.name"),
        ("/v1/groups", "post", group_body(name="Skills\x1b[31m"), "body.name"),
        ("/v1/groups", "post", group_body(name="Skills\u0085"), "body.name"),
        ("/v1/groups", "post", group_body(name="x" * 201), "body.name"),
        ("/v1/groups", "post", group_body(name="x" * 1_000_000), "body.name"),
        ("/v1/groups", "post", group_body(name=""), "body.name"),
        ("/v1/groups", "post", group_body(facilitator_ref="Dr. Jane Roe"), "body.facilitator_ref"),
        ("/v1/groups", "post", group_body(facilitator_ref="f" * 65), "body.facilitator_ref"),
        ("/v1/groups", "post", group_body(group_id="../g"), "body.group_id"),
        ("/v1/groups", "post", group_body(duration_minutes=721), "body.duration_minutes"),
        ("/v1/groups", "post", group_body(weekdays=[]), "body.weekdays"),
        ("/v1/groups", "post", group_body(weekdays=[1, 1]), "body.weekdays"),
        ("/v1/groups", "post", group_body(start_time="25:00"), "body.start_time"),
        ("/v1/groups", "post", group_body(capacity=101), "body.capacity"),
        ("/v1/sessions/any/cancel", "post", {"reason": "holiday\x7f"}, "body.reason"),
        ("/v1/sessions/any/cancel", "post", {"reason": "h" * 501}, "body.reason"),
        ("/v1/sessions/any/cancel", "post", {"reason": ""}, "body.reason"),
        (
            "/v1/sessions/any/roster",
            "post",
            roster({"episode_id": "ep-1", "status": "attended"}, reason="late\x00"),
            "body.correction_reason",
        ),
        (
            "/v1/sessions/any/roster",
            "post",
            roster({"episode_id": "ep-1", "status": "attended"}, reason="r" * 501),
            "body.correction_reason",
        ),
        (
            "/v1/sessions/any/roster",
            "post",
            {"recorded_by": "clin 7", "entries": [{"episode_id": "ep-1", "status": "attended"}]},
            "body.recorded_by",
        ),
        (
            "/v1/sessions/any/roster",
            "post",
            {"recorded_by": "clin-7", "entries": []},
            "body.entries",
        ),
        (
            "/v1/sessions/any/roster",
            "post",
            roster(*({"episode_id": f"ep-{i}", "status": "attended"} for i in range(201))),
            "body.entries",
        ),
        (
            "/v1/sessions/any/roster",
            "post",
            roster({"episode_id": "ep\n1", "status": "attended"}),
            "body.entries.0.episode_id",
        ),
        (
            "/v1/sessions/any/roster",
            "post",
            roster({"episode_id": "ep-1", "status": "late"}),
            "body.entries.0.status",
        ),
    ],
)
async def test_probe_bad_text_and_huge_strings_are_422_naming_the_field(
    papi: httpx.AsyncClient, path: str, method: str, body: dict[str, Any], field: str
) -> None:
    headers = ADMIN if path == "/v1/groups" or path.endswith("cancel") else CARE
    answer = await papi.request(method.upper(), path, json=body, headers=headers)
    assert answer.status_code == 422, answer.text[:500]
    assert field in fields(answer), answer.text[:500]
    assert "\x00" not in answer.text and "x" * 300 not in answer.text  # no input echoed
    if path == "/v1/groups":
        assert (await papi.get(f"/v1/groups/{body['group_id']}", headers=CARE)).status_code in (
            404,
            422,
        )


async def test_probe_a_group_name_change_with_control_characters_changes_nothing(
    papi: httpx.AsyncClient, clock: Clock
) -> None:
    gid = await new_group(papi, clock)
    answer = await papi.patch(f"/v1/groups/{gid}", json={"name": "New\x1bname"}, headers=ADMIN)
    assert answer.status_code == 422 and fields(answer) == ["body.name"], answer.text
    bad_ref = await papi.patch(f"/v1/groups/{gid}", json={"facilitator_ref": ""}, headers=ADMIN)
    assert bad_ref.status_code == 422, bad_ref.text
    group = (await papi.get(f"/v1/groups/{gid}", headers=CARE)).json()
    assert (group["name"], group["facilitator_ref"]) == ("Skills group", "fac-1")


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"status": "partial", "minutes": -5}, "body.entries.1.minutes"),
        ({"status": "partial", "minutes": 0}, "body.entries.1.minutes"),
        ({"status": "partial"}, "body.entries.1.minutes"),
        ({"status": "partial", "minutes": 181}, "body.entries.1.minutes"),
        ({"status": "attended", "minutes": 181}, "body.entries.1.minutes"),
        ({"status": "attended", "minutes": 0}, "body.entries.1.minutes"),
        ({"status": "attended", "minutes": 721}, "body.entries.1.minutes"),
        ({"status": "no_show", "minutes": 30}, "body.entries.1.minutes"),
        ({"status": "excused", "minutes": 10}, "body.entries.1.minutes"),
        ({"status": "partial", "minutes": 90.5}, "body.entries.1.minutes"),
        ({"status": "attended", "modality": "carrier_pigeon"}, "body.entries.1.modality"),
    ],
)
async def test_probe_minutes_that_do_not_fit_the_session_refuse_the_whole_roster(
    papi: httpx.AsyncClient,
    clock: Clock,
    crew: list[str],
    api_pool: asyncpg.Pool,
    entry: dict[str, Any],
    field: str,
) -> None:
    """Minutes over the session's 180, negative, a partial of 0, an attended 0 (nothing
    credited, yet 'attended'), minutes on an absence: 4xx naming the line, nothing kept."""
    a, b = crew[:2]
    gid = await new_group(papi, clock)
    for e in (a, b):
        await seat(papi, gid, e)
    session = (await sessions_of(papi, gid, "2026-03-02", "2026-03-02"))[0]
    sid = session["session_id"]
    clock.now = after(session, hours=4)
    body = roster({"episode_id": a, "status": "attended"}, {"episode_id": b, **entry})
    answer = await papi.post(f"/v1/sessions/{sid}/roster", json=body, headers=CARE)
    assert answer.status_code == 422, answer.text
    assert field in fields(answer), answer.text
    assert await recorded(api_pool, sid) == {}


async def test_probe_a_participant_waiting_for_a_seat_or_seated_after_the_session_is_refused(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str], api_pool: asyncpg.Pool
) -> None:
    a, b, c = crew[:3]
    gid = await new_group(papi, clock, capacity=1)
    await seat(papi, gid, a)
    assert (await seat(papi, gid, b, wait=True))["status"] == "waiting"
    monday, tuesday = await sessions_of(papi, gid, "2026-03-02", "2026-03-03")
    clock.now = after(monday, hours=4)
    waiting = await papi.post(
        f"/v1/sessions/{monday['session_id']}/roster",
        json=roster(
            {"episode_id": a, "status": "attended"}, {"episode_id": b, "status": "attended"}
        ),
        headers=CARE,
    )
    assert waiting.status_code == 422, waiting.text
    assert fields(waiting) == ["body.entries.1.episode_id"]
    assert b in waiting.json()["errors"][0]["message"]
    # a leaves after Monday; b takes the seat then: b is not on Monday's roster, a is not
    # on Tuesday's, c (never in the group) on neither.
    assert (await papi.delete(f"/v1/groups/{gid}/assignments/{a}", headers=CARE)).status_code == 200
    clock.now = after(tuesday, hours=4)
    for session, episode in ((monday, b), (tuesday, a), (tuesday, c)):
        answer = await papi.post(
            f"/v1/sessions/{session['session_id']}/roster",
            json=roster({"episode_id": episode, "status": "attended"}),
            headers=CARE,
        )
        assert answer.status_code == 422, (session["session_date"], episode, answer.text)
        assert fields(answer) == ["body.entries.0.episode_id"]
    assert await recorded(api_pool, monday["session_id"]) == {}
    assert await recorded(api_pool, tuesday["session_id"]) == {}


async def test_probe_a_duplicate_participant_is_named(
    papi: httpx.AsyncClient, crew: list[str]
) -> None:
    a = crew[0]
    answer = await papi.post(
        "/v1/sessions/any/roster",
        json=roster(
            {"episode_id": a, "status": "attended"}, {"episode_id": a, "status": "no_show"}
        ),
        headers=CARE,
    )
    assert answer.status_code == 422, answer.text
    assert any(a in e["message"] for e in answer.json()["errors"]), answer.text


async def test_probe_two_seats_freed_at_once_go_to_the_first_two_in_line(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str]
) -> None:
    seated, first, second, third = crew
    gid = await new_group(papi, clock, capacity=1)
    await seat(papi, gid, seated)
    for e in (first, second, third):
        clock.now += timedelta(minutes=1)
        assert (await seat(papi, gid, e, wait=True))["status"] == "waiting"
    answer = await papi.patch(f"/v1/groups/{gid}", json={"capacity": 3}, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["seats_used"], answer.json()["seats_free"]) == (3, 0)
    assert answer.json()["waiting"] == 1
    members = {
        m["episode_id"]: m
        for m in (await papi.get(f"/v1/groups/{gid}/members", headers=CARE)).json()
    }
    assert [members[e]["status"] for e in (seated, first, second, third)] == [
        "assigned",
        "assigned",
        "assigned",
        "waiting",
    ]
    assert members[third]["waiting_position"] == 1
    mine = (await papi.get(f"/v1/episodes/{third}/groups", headers=CARE)).json()
    assert [(g["status"], g["waiting_position"]) for g in mine if g["group_id"] == gid] == [
        ("waiting", 1)
    ]
    lower = await papi.patch(f"/v1/groups/{gid}", json={"capacity": 2}, headers=ADMIN)
    assert lower.status_code == 409, lower.text
    assert lower.json()["type"].endswith("capacity-below-assignments")
    census = (await papi.get("/v1/groups", params={"program": PROGRAM}, headers=CARE)).json()
    row = next(g for g in census if g["group_id"] == gid)
    assert (row["capacity"], row["seats_used"], row["seats_free"], row["waiting"]) == (3, 3, 0, 1)


async def test_probe_a_cancelled_holiday_is_nobodys_absence(
    papi: httpx.AsyncClient, clock: Clock, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode = await enrolled(papi, api_env)
    gid = await new_group(papi, clock)
    await seat(papi, gid, episode)
    mon, tue, wed, thu = await sessions_of(papi, gid, "2026-03-09", "2026-03-12")
    clock.now = datetime(2026, 3, 6, 12, tzinfo=UTC)
    cancel = await papi.post(
        f"/v1/sessions/{tue['session_id']}/cancel", json={"reason": "holiday"}, headers=ADMIN
    )
    assert cancel.status_code == 200, cancel.text
    for session in (mon, wed):
        clock.now = after(session, hours=4)
        answer = await papi.post(
            f"/v1/sessions/{session['session_id']}/roster",
            json=roster({"episode_id": episode, "status": "attended"}),
            headers=CARE,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["notices_sent"] == 0  # no no-show, no below-minimum
    week = (
        await papi.get(f"/v1/episodes/{episode}/week", params={"day": "2026-03-11"}, headers=CARE)
    ).json()
    assert [s["session_id"] for s in week["sessions"]] == [
        mon["session_id"],
        wed["session_id"],
        thu["session_id"],
    ]
    assert (week["scheduled"], week["attended"], week["missed"]) == (3, 2, 0)
    assert (week["hours"], week["hours_still_possible"], week["below_minimum"]) == (6.0, 3.0, False)
    notices = await api_pool.fetchval(
        "SELECT count(*) FROM attendance_notices WHERE episode_id = $1", episode
    )
    assert notices == 0
    timeline = (await papi.get(f"/v1/episodes/{episode}/timeline", headers=CARE)).json()
    assert not [e for e in timeline if e.get("event") == "no_show"]
    state = (await papi.get(f"/v1/episodes/{episode}", headers=CARE)).json()
    assert "no_show_followup" not in state["flags"] and "disengaged" not in state["flags"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-10", "to": "2026-03-02"}, "query.to"),
        ({"from": "2026-01-01", "to": "2027-01-03"}, "query.to"),
        ({"from": "2026-03-10", "to": "2026-03-02", "format": "csv"}, "query.to"),
        ({"from": "2026-03-02", "to": "2026-03-10", "format": "xml"}, "query.format"),
        ({"to": "2026-03-10"}, "query.from"),
        ({"from": "2026-02-30", "to": "2026-03-10"}, "query.from"),
    ],
)
async def test_probe_billable_days_with_a_bad_range_are_422(
    papi: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    answer = await papi.get(f"/v1/programs/{PROGRAM}/billable-days", params=params, headers=UR)
    assert answer.status_code == 422, answer.text
    assert field in fields(answer), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")


async def test_probe_billable_days_a_whole_year_and_one_day_are_answered(
    papi: httpx.AsyncClient,
) -> None:
    year = {"from": "2026-01-01", "to": "2027-01-02", "format": "csv"}  # 366 days on
    answer = await papi.get(f"/v1/programs/{PROGRAM}/billable-days", params=year, headers=UR)
    assert answer.status_code == 200, answer.text
    assert answer.text.splitlines()[0].startswith("day,episode_id,level,hcpcs")
    one = {"from": "2026-03-02", "to": "2026-03-02"}
    assert (
        await papi.get(f"/v1/programs/{PROGRAM}/billable-days", params=one, headers=UR)
    ).status_code == 200


async def test_probe_dst_weeks_follow_the_groups_zone(
    papi: httpx.AsyncClient, clock: Clock, api_env: WorkflowEnvironment
) -> None:
    """New York moves to EDT on Sunday 2026-03-08. Sessions keep 19:00 local; the week is
    the group's local Monday to Sunday, also when asked on Sunday evening, which is
    already Monday in UTC."""
    episode = await enrolled(papi, api_env)
    gid = await new_group(
        papi,
        clock,
        time_zone="America/New_York",
        weekdays=[1, 2, 3, 4, 5, 6, 7],
        start_time="19:00",
        duration_minutes=60,
    )
    await seat(papi, gid, episode)
    listed = await sessions_of(papi, gid, "2026-03-07", "2026-03-09")
    assert [(s["session_date"], datetime.fromisoformat(s["starts_at"])) for s in listed] == [
        (date(2026, 3, 7).isoformat(), datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),
        (date(2026, 3, 8).isoformat(), datetime(2026, 3, 8, 23, 0, tzinfo=UTC)),
        (date(2026, 3, 9).isoformat(), datetime(2026, 3, 9, 23, 0, tzinfo=UTC)),
    ]
    sunday = listed[1]
    clock.now = after(sunday, minutes=90)  # Sunday 20:30 EDT = Monday 00:30 UTC
    answer = await papi.post(
        f"/v1/sessions/{sunday['session_id']}/roster",
        json=roster({"episode_id": episode, "status": "attended"}),
        headers=CARE,
    )
    assert answer.status_code == 200, answer.text
    by_day = (
        await papi.get(f"/v1/episodes/{episode}/week", params={"day": "2026-03-08"}, headers=CARE)
    ).json()
    assert by_day["week_start"] == "2026-03-02"
    assert by_day["scheduled"] == 7 and by_day["attended"] == 1
    now = (await papi.get(f"/v1/episodes/{episode}/week", headers=CARE)).json()
    assert now["week_start"] == "2026-03-02", now
    assert now["sessions"][-1]["session_id"] == sunday["session_id"]
    assert now["sessions"][-1]["status"] == "attended"
    view = (await papi.get(f"/v1/episodes/{episode}", headers=CARE)).json()
    assert view["week"]["week_start"] == "2026-03-02", view["week"]


@pytest.mark.parametrize(
    ("method", "path", "body", "slug"),
    [
        ("GET", "/v1/groups/no-such-group", None, "group-not-found"),
        ("GET", "/v1/groups/no-such-group/members", None, "group-not-found"),
        (
            "GET",
            "/v1/groups/no-such-group/sessions?from=2026-03-02&to=2026-03-08",
            None,
            "group-not-found",
        ),
        ("PATCH", "/v1/groups/no-such-group", {"capacity": 5}, "group-not-found"),
        (
            "POST",
            "/v1/groups/no-such-group/sessions",
            {"session_id": "s-1", "starts_at": "2026-03-02T09:00:00Z", "duration_minutes": 60},
            "group-not-found",
        ),
        ("POST", "/v1/groups/no-such-group/assignments", {"episode_id": "x"}, "group-not-found"),
        ("DELETE", "/v1/groups/no-such-group/assignments/x", None, "group-not-found"),
        ("POST", "/v1/sessions/no-such-session/cancel", {"reason": "holiday"}, "session-not-found"),
        (
            "POST",
            "/v1/sessions/no-such-session/roster",
            roster({"episode_id": "x", "status": "attended"}),
            "session-not-found",
        ),
        ("GET", "/v1/sessions/no-such-session/attendance/x/audit", None, "session-not-found"),
        ("GET", "/v1/episodes/no-such-episode/week", None, "episode-not-found"),
        ("GET", "/v1/episodes/no-such-episode/attendance", None, "episode-not-found"),
        ("GET", "/v1/episodes/no-such-episode/groups", None, "episode-not-found"),
    ],
)
async def test_probe_unknown_groups_sessions_and_episodes_are_404(
    papi: httpx.AsyncClient, method: str, path: str, body: dict[str, Any] | None, slug: str
) -> None:
    headers = ADMIN if method == "PATCH" or path.endswith(("cancel", "/sessions")) else CLINIC
    answer = await papi.request(method, path, json=body, headers=headers)
    assert answer.status_code == 404, answer.text
    assert answer.json()["type"].endswith(slug), answer.text


async def test_probe_an_unknown_episode_in_a_known_group_is_404(
    papi: httpx.AsyncClient, clock: Clock
) -> None:
    gid = await new_group(papi, clock)
    assign = await papi.post(
        f"/v1/groups/{gid}/assignments", json={"episode_id": "no-such-episode"}, headers=CARE
    )
    assert assign.status_code == 404, assign.text
    unassign = await papi.delete(f"/v1/groups/{gid}/assignments/no-such-episode", headers=CARE)
    assert unassign.status_code == 404, unassign.text


async def test_probe_who_may_do_what_with_groups_and_rosters(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str], api_pool: asyncpg.Pool
) -> None:
    a = crew[0]
    gid = await new_group(papi, clock)
    await seat(papi, gid, a)
    session = (await sessions_of(papi, gid, "2026-03-04", "2026-03-04"))[0]
    sid = session["session_id"]
    clock.now = after(session, hours=4)
    line = roster({"episode_id": a, "status": "attended"})
    other_actor = {**line, "recorded_by": "clin-99"}
    # Another program's key sees none of it: 404, as for unknown IDs.
    for method, path, body in [
        ("GET", f"/v1/groups/{gid}", None),
        ("GET", f"/v1/groups/{gid}/members", None),
        ("GET", f"/v1/groups/{gid}/sessions?from=2026-03-02&to=2026-03-08", None),
        ("POST", f"/v1/groups/{gid}/assignments", {"episode_id": a}),
        ("POST", f"/v1/sessions/{sid}/roster", {**line, "recorded_by": "clin-9"}),
        ("GET", f"/v1/sessions/{sid}/attendance/{a}/audit", None),
        ("GET", f"/v1/episodes/{a}/week", None),
        ("GET", f"/v1/episodes/{a}/attendance", None),
        ("GET", f"/v1/episodes/{a}/groups", None),
    ]:
        answer = await papi.request(method, path, json=body, headers=OTHER)
        assert answer.status_code == 404, (method, path, answer.text)
    other_groups = (await papi.get("/v1/groups", headers=OTHER)).json()
    assert gid not in {g["group_id"] for g in other_groups}
    # Named programs the key may not see: 403.
    for method, path, body, headers in [
        ("GET", f"/v1/groups?program={PROGRAM}", None, OTHER),
        ("POST", "/v1/groups", group_body(program_id=OTHER_PROGRAM), ADMIN),
        ("PUT", f"/v1/programs/{OTHER_PROGRAM}/attendance-policy", {}, ADMIN),
        (
            "GET",
            f"/v1/programs/{OTHER_PROGRAM}/billable-days?from=2026-03-02&to=2026-03-08",
            None,
            UR,
        ),
    ]:
        answer = await papi.request(method, path, json=body, headers=headers)
        assert answer.status_code == 403, (method, path, answer.text)
    # Roles: program-admin manages groups but does not record attendance; care-team and UR
    # do not manage groups; care-team does not read billing; nobody records for another
    # actor unless its key acts for others (the clinic system's does).
    for method, path, body, headers in [
        ("POST", f"/v1/sessions/{sid}/roster", {**line, "recorded_by": "admin-1"}, ADMIN),
        ("POST", f"/v1/sessions/{sid}/roster", {**line, "recorded_by": "ur-3"}, UR),
        ("POST", f"/v1/sessions/{sid}/roster", {**line, "recorded_by": "ops-1"}, OPS),
        ("POST", f"/v1/sessions/{sid}/roster", other_actor, CARE),
        ("POST", "/v1/groups", group_body(), CARE),
        ("POST", "/v1/groups", group_body(), UR),
        ("PATCH", f"/v1/groups/{gid}", {"capacity": 2}, CARE),
        ("POST", f"/v1/sessions/{sid}/cancel", {"reason": "holiday"}, CARE),
        ("PUT", f"/v1/programs/{PROGRAM}/attendance-policy", {}, CARE),
        ("GET", f"/v1/programs/{PROGRAM}/billable-days?from=2026-03-02&to=2026-03-08", None, CARE),
        ("POST", f"/v1/groups/{gid}/assignments", {"episode_id": a}, UR),
    ]:
        answer = await papi.request(method, path, json=body, headers=headers)
        assert answer.status_code == 403, (method, path, answer.text)
    assert await recorded(api_pool, sid) == {}
    by_clinic = await papi.post(f"/v1/sessions/{sid}/roster", json=other_actor, headers=CLINIC)
    assert by_clinic.status_code == 200, by_clinic.text
    assert (await recorded(api_pool, sid))[a][0] == "attended"
    billing = await papi.get(
        f"/v1/programs/{PROGRAM}/billable-days",
        params={"from": "2026-03-02", "to": "2026-03-08"},
        headers=ADMIN,
    )
    assert billing.status_code == 200


async def test_probe_sessions_exist_ahead_for_a_group_nobody_lists(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str], api_pool: asyncpg.Pool
) -> None:
    """Sessions are 'generated from the schedule ahead of time', not only when someone
    lists them: eight weeks after the group was made (28 days were generated then), the
    API's pass makes the sessions ahead, so the clinic system's roster for today's
    scheduled session and the episode's week find them."""
    a = crew[0]
    gid = await new_group(papi, clock)
    clock.now = datetime(2026, 4, 27, 9, 30, tzinfo=UTC)  # a Monday, the session begun
    await seat(papi, gid, a)
    stop = asyncio.Event()

    def once() -> datetime:  # the pass reads the time once; then the loop stops
        stop.set()
        return clock.now

    await SessionsAhead(api_pool, once).run(stop)  # what api/serve.py runs hourly
    assert await sessions_ahead(api_pool, clock.now) == 0  # once each
    clock.now = datetime(2026, 4, 27, 13, 0, tzinfo=UTC)
    answer = await papi.post(
        f"/v1/sessions/{gid}.20260427/roster",
        json=roster({"episode_id": a, "status": "attended"}),
        headers=CLINIC,
    )
    assert answer.status_code == 200, answer.text
    week = (
        await papi.get(f"/v1/episodes/{a}/week", params={"day": "2026-04-27"}, headers=CARE)
    ).json()
    mine = [s for s in week["sessions"] if s["group_id"] == gid]
    assert [s["status"] for s in mine] == ["attended", None, None, None]
    last = await api_pool.fetchval(
        "SELECT max(session_date) FROM group_sessions WHERE group_id = $1", gid
    )
    assert last == date(2026, 4, 27) + timedelta(days=28)  # generate_ahead_days on


async def test_probe_a_groups_id_leaves_room_for_its_sessions_ids(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str]
) -> None:
    """A scheduled session's ID is the group's and `.YYYYMMDD`: a group ID of 64
    characters made sessions that no session path accepts (at most 64). The longest group
    ID is 55 characters; its sessions take rosters."""
    a = crew[0]
    clock.now = MONDAY
    too_long = await papi.post("/v1/groups", json=group_body(group_id="g" * 56), headers=ADMIN)
    assert too_long.status_code == 422, too_long.text
    assert fields(too_long) == ["body.group_id"]
    gid = await new_group(papi, clock, group_id=f"prb{uuid.uuid4().hex}{'x' * 20}"[:55])
    await seat(papi, gid, a)
    session = (await sessions_of(papi, gid, "2026-03-05", "2026-03-05"))[0]
    clock.now = after(session, hours=4)
    answer = await papi.post(
        f"/v1/sessions/{session['session_id']}/roster",
        json=roster({"episode_id": a, "status": "attended"}),
        headers=CARE,
    )
    assert answer.status_code == 200, answer.text
    audit = await papi.get(
        f"/v1/sessions/{session['session_id']}/attendance/{a}/audit", headers=CARE
    )
    assert audit.status_code == 200 and len(audit.json()) == 1


async def test_probe_ad_hoc_sessions_are_idempotent_and_never_overwritten(
    papi: httpx.AsyncClient, clock: Clock
) -> None:
    gid = await new_group(papi, clock)
    body = {
        "session_id": f"adhoc-{uuid.uuid4().hex[:8]}",
        "starts_at": "2026-03-07T15:00:00Z",
        "duration_minutes": 90,
    }
    first = await papi.post(f"/v1/groups/{gid}/sessions", json=body, headers=ADMIN)
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "ad_hoc" and first.json()["session_date"] == "2026-03-07"
    again = await papi.post(f"/v1/groups/{gid}/sessions", json=body, headers=ADMIN)
    assert again.status_code == 200, again.text
    moved = await papi.post(
        f"/v1/groups/{gid}/sessions",
        json={**body, "starts_at": "2026-03-07T16:00:00Z"},
        headers=ADMIN,
    )
    assert moved.status_code == 409 and moved.json()["type"].endswith("session-id-conflict")
    clash = await papi.post(
        f"/v1/groups/{gid}/sessions",
        json={**body, "session_id": f"adhoc-{uuid.uuid4().hex[:8]}"},
        headers=ADMIN,
    )
    assert clash.status_code == 409 and clash.json()["type"].endswith("session-exists")
    naive = await papi.post(
        f"/v1/groups/{gid}/sessions",
        json={**body, "session_id": "adhoc-naive", "starts_at": "2026-03-07T15:00:00"},
        headers=ADMIN,
    )
    assert naive.status_code == 422 and fields(naive) == ["body.starts_at"], naive.text
    listed = await sessions_of(papi, gid, "2026-03-07", "2026-03-07")
    assert [(s["session_id"], s["starts_at"]) for s in listed] == [
        (body["session_id"], "2026-03-07T15:00:00Z")
    ]


async def test_probe_two_assignments_racing_for_the_last_seat_take_it_once(
    papi: httpx.AsyncClient, clock: Clock, crew: list[str]
) -> None:
    a, b = crew[:2]
    gid = await new_group(papi, clock, capacity=1)
    answers = await asyncio.gather(
        *(
            papi.post(f"/v1/groups/{gid}/assignments", json={"episode_id": e}, headers=CARE)
            for e in (a, b)
        )
    )
    assert sorted(x.status_code for x in answers) == [201, 409], [x.text for x in answers]
    group = (await papi.get(f"/v1/groups/{gid}", headers=CARE)).json()
    assert (group["seats_used"], group["seats_free"]) == (1, 0)
