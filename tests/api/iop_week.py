"""The bodies and steps the IOP-week API tests share (test_api_groups, test_api_iop_week
and the test_iop_week_probe* modules): a group (Mon-Thu 09:00, 3 h, 12 seats), a roster,
an approval, an episode started and waited for until a phase, a seat, a range's sessions,
and next Monday 08:00 on a module's clock. Each module keeps its own clock, its group-ID
prefix and, where it has programs of its own, its own keys (`Keys`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from tests.api import bodies
from tests.api.clocked import Clock
from tests.api.conftest import PROGRAM, bearer


@dataclass(frozen=True)
class Keys:
    """The headers a module's calls go out with, per role."""

    admin: dict[str, str]
    clinic: dict[str, str]
    care: dict[str, str]
    ur: dict[str, str]


KEYS = Keys(bearer("tok-admin"), bearer("tok-clinic"), bearer("tok-care"), bearer("tok-ur"))


def group_body(prefix: str = "grp", **changes: Any) -> dict[str, Any]:
    return {
        "group_id": f"{prefix}-{uuid.uuid4().hex[:10]}",
        "program_id": PROGRAM,
        "name": "Skills group",
        "level": "iop",
        "weekdays": [1, 2, 3, 4],
        "start_time": "09:00:00",
        "duration_minutes": 180,
        "modality": "in_person",
        "capacity": 12,
        "facilitator_ref": "fac-1",
        **changes,
    }


async def new_group(
    api: httpx.AsyncClient, *, prefix: str = "grp", keys: Keys = KEYS, **changes: Any
) -> dict[str, Any]:
    """A group defined (201), as the API answers it."""
    answer = await api.post("/v1/groups", json=group_body(prefix, **changes), headers=keys.admin)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def roster(*entries: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"recorded_by": "clin-7", "entries": list(entries)}
    if reason is not None:
        body["correction_reason"] = reason
    return body


def approval(units: int, first: date, last: date, number: str | None = None) -> dict[str, Any]:
    """UR's approval of `units` IOP days from `first` to `last`."""
    return {
        "decision_id": bodies.new_id("auth"),
        "recorded_by": "ur-3",
        "kind": "approved",
        "level": "iop",
        "units": units,
        "unit_type": "days",
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "authorization_number": number or f"AUTH-{uuid.uuid4().hex[:6]}",
    }


async def start_episode(
    api: httpx.AsyncClient, *, member_id: str = "NOAUTH-1", keys: Keys = KEYS, **fields: Any
) -> str:
    """An episode started (`fields` over `bodies.episode`'s) and assessed for IOP."""
    body = {**bodies.episode(member_id=member_id), **fields}
    assert (await api.post("/v1/episodes", json=body, headers=keys.clinic)).status_code == 201
    episode_id = str(body["episode_id"])
    answer = await api.post(
        f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=keys.care
    )
    assert answer.status_code == 200, answer.text
    return episode_id


async def until_phase(
    api: httpx.AsyncClient,
    env: WorkflowEnvironment,
    episode_id: str,
    phase: str,
    *,
    keys: Keys = KEYS,
    tries: int = 40,
    step: timedelta = timedelta(minutes=10),
) -> None:
    """Skip the server's time `step` at a time until the episode is in `phase`."""
    for _ in range(tries):
        state = (await api.get(f"/v1/episodes/{episode_id}", headers=keys.care)).json()
        if state["phase"] == phase:
            return
        await env.sleep(step)
    raise AssertionError(f"never reached {phase}: {state}")


async def enrolled(api: httpx.AsyncClient, env: WorkflowEnvironment) -> str:
    """An episode in treatment at IOP (no authorization needed: the default member)."""
    episode_id = await start_episode(api)
    await until_phase(api, env, episode_id, "in_treatment", tries=20, step=timedelta(minutes=30))
    return episode_id


async def seat(
    api: httpx.AsyncClient,
    group_id: str,
    episode_id: str,
    *,
    wait: bool = False,
    keys: Keys = KEYS,
) -> dict[str, Any]:
    answer = await api.post(
        f"/v1/groups/{group_id}/assignments",
        json={"episode_id": episode_id, "wait_if_full": wait},
        headers=keys.care,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def sessions_of(
    api: httpx.AsyncClient, group_id: str, first: str, last: str, *, keys: Keys = KEYS
) -> list[Any]:
    answer = await api.get(
        f"/v1/groups/{group_id}/sessions", params={"from": first, "to": last}, headers=keys.care
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json())


async def next_monday(clock: Clock, env: WorkflowEnvironment) -> date:
    """Next Monday, with the clock at 08:00 UTC on it; never behind the server's time (other
    tests move it), so the engine's week is the one the test records."""
    today = max(clock.now, await env.get_current_time()).date()
    monday = today + timedelta(days=7 - today.weekday())
    clock.now = datetime.combine(monday, time(8), tzinfo=UTC)
    return monday


async def record_one(
    api: httpx.AsyncClient,
    clock: Clock,
    session: dict[str, Any],
    episode_id: str,
    status: str = "attended",
    *,
    minutes: int | None = None,
    keys: Keys = KEYS,
) -> dict[str, Any]:
    """A one-line roster for `session`, recorded 4 h after it starts (the clock moves)."""
    clock.now = datetime.fromisoformat(session["starts_at"]) + timedelta(hours=4)
    entry: dict[str, Any] = {"episode_id": episode_id, "status": status}
    if minutes is not None:
        entry["minutes"] = minutes
    answer = await api.post(
        f"/v1/sessions/{session['session_id']}/roster", json=roster(entry), headers=keys.care
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
