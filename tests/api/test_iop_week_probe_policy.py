"""Issue 10 probed through a program's own attendance policy (`PUT
/v1/programs/{id}/attendance-policy`), in programs of this module's own so no other test
sees the change: H0015 billed only in weeks of three qualifying days, the review's weekly
summary as the source, and M absences recommending a level-of-care review. Real
PostgreSQL, the real worker on the time-skipping server; the API's clock follows the
server's."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiKey, ApiSettings, Role
from tests.api import bodies
from tests.api.clocked import Clock, clocked_client
from tests.api.iop_week import (
    Keys,
    approval,
    new_group,
    next_monday,
    record_one,
    seat,
    sessions_of,
    start_episode,
    until_phase,
)

BILLING = "probe-h0015"
REVIEWED = "probe-review-source"
ABSENT = "probe-absences"
PROGRAMS = frozenset({BILLING, REVIEWED, ABSENT})
KEYS = {
    "tok-p-admin": ApiKey(role=Role.PROGRAM_ADMIN, programs=PROGRAMS, actor="admin-1"),
    "tok-p-clinic": ApiKey(
        role=Role.CLINIC_SYSTEM, programs=PROGRAMS, actor="ehr-main", acts_for_others=True
    ),
    "tok-p-care": ApiKey(role=Role.CARE_TEAM, programs=PROGRAMS, actor="clin-7"),
    "tok-p-ur": ApiKey(role=Role.UTILIZATION_REVIEW, programs=PROGRAMS, actor="ur-3"),
}
ADMIN = {"Authorization": "Bearer tok-p-admin"}
CLINIC = {"Authorization": "Bearer tok-p-clinic"}
CARE = {"Authorization": "Bearer tok-p-care"}
UR = {"Authorization": "Bearer tok-p-ur"}
# What the shared IOP-week steps send: this module's own keys.
KEYS_USED = Keys(admin=ADMIN, clinic=CLINIC, care=CARE, ur=UR)


@pytest.fixture(scope="module")
async def clock(api_env: WorkflowEnvironment) -> Clock:
    return Clock(await api_env.get_current_time())


@pytest.fixture(scope="module")
async def papi(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
    clock: Clock,
) -> AsyncIterator[httpx.AsyncClient]:
    settings = api_settings.model_copy(update={"api_keys": {**api_settings.api_keys, **KEYS}})
    async with clocked_client(api_env, api_pool, settings, clock) as client:
        yield client


class Patient:
    """One episode of `program` in one IOP group (Mon-Thu, 3 h), from next Monday."""

    def __init__(self, api: httpx.AsyncClient, env: WorkflowEnvironment, clock: Clock) -> None:
        self.api, self.env, self.clock = api, env, clock
        self.episode_id = ""
        self.sessions: list[dict[str, Any]] = []

    async def start(
        self, program: str, *, units: int | None = None, number: str | None = None
    ) -> Patient:
        monday = await next_monday(self.clock, self.env)
        group = await new_group(self.api, prefix="prp", keys=KEYS_USED, program_id=program)
        self.episode_id = await start_episode(
            self.api,
            member_id="NOAUTH-1" if units is None else "M-WAITS-FOR-UR",
            keys=KEYS_USED,
            program_id=program,
        )
        if units is not None:
            await self.until_phase("authorization")
            answer = await self.api.post(
                f"/v1/episodes/{self.episode_id}/authorizations",
                json=approval(units, monday, monday + timedelta(days=60), number),
                headers=UR,
            )
            assert answer.status_code == 200, answer.text
        await self.until_phase("in_treatment")
        await seat(self.api, group["group_id"], self.episode_id, keys=KEYS_USED)
        last = monday + timedelta(days=13)
        self.sessions = await sessions_of(
            self.api, group["group_id"], monday.isoformat(), last.isoformat(), keys=KEYS_USED
        )
        assert len(self.sessions) == 8
        return self

    async def until_phase(self, phase: str) -> None:
        await until_phase(self.api, self.env, self.episode_id, phase, keys=KEYS_USED)

    async def roster(self, index: int, status: str) -> dict[str, Any]:
        return await record_one(
            self.api, self.clock, self.sessions[index], self.episode_id, status, keys=KEYS_USED
        )

    async def flags(self) -> list[str]:
        state = (await self.api.get(f"/v1/episodes/{self.episode_id}", headers=CARE)).json()
        return list(state["flags"])

    def day(self, index: int) -> date:
        return date.fromisoformat(self.sessions[index]["session_date"])


async def put_policy(api: httpx.AsyncClient, program: str, policy: dict[str, Any]) -> None:
    answer = await api.put(f"/v1/programs/{program}/attendance-policy", json=policy, headers=ADMIN)
    assert answer.status_code == 200, answer.text
    stored = await api.get(f"/v1/programs/{program}/attendance-policy", headers=CARE)
    assert stored.status_code == 200
    for key, value in policy.items():
        assert stored.json()[key] == value, (key, stored.json()[key])


async def test_probe_a_bad_policy_is_422_and_the_stored_one_stands(papi: httpx.AsyncClient) -> None:
    before = (await papi.get(f"/v1/programs/{BILLING}/attendance-policy", headers=CARE)).json()
    for bad, field in [
        ({"billing": {"iop": {"hcpcs": "H0015", "revenue_code": "906"}}}, "body.billing.iop"),
        ({"billing": {"iop": {"hcpcs": "h0015", "revenue_code": "0906"}}}, "body.billing.iop"),
        ({"correction_window_hours": -1}, "body.correction_window_hours"),
        ({"consecutive_no_shows_disengaged": 0}, "body.consecutive_no_shows_disengaged"),
        ({"source": "fax"}, "body.source"),
        ({"surprise": 1}, "body.surprise"),
    ]:
        answer = await papi.put(
            f"/v1/programs/{BILLING}/attendance-policy", json=bad, headers=ADMIN
        )
        assert answer.status_code == 422, (bad, answer.text)
        assert any(e["field"].startswith(field) for e in answer.json()["errors"]), answer.text
    after = (await papi.get(f"/v1/programs/{BILLING}/attendance-policy", headers=CARE)).json()
    assert after == before


async def test_probe_h0015_bills_only_weeks_of_three_qualifying_days(
    papi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    """The program bills IOP as H0015 / 0906 (3 h a day, 3 days a week). Two days attended
    are recorded but not billed (`under_weekly_days`); the third day re-derives the week
    and all three bill."""
    await put_policy(
        papi,
        BILLING,
        {
            "billing": {
                "iop": {
                    "hcpcs": "H0015",
                    "revenue_code": "0906",
                    "min_hours_per_day": 3.0,
                    "min_days_per_week": 3,
                }
            }
        },
    )
    patient = await Patient(papi, api_env, clock).start(BILLING, units=20)

    async def lines() -> dict[str, dict[str, Any]]:
        answer = await papi.get(
            f"/v1/programs/{BILLING}/billable-days",
            params={"from": patient.day(0).isoformat(), "to": patient.day(3).isoformat()},
            headers=UR,
        )
        assert answer.status_code == 200, answer.text
        return {x["day"]: x for x in answer.json() if x["episode_id"] == patient.episode_id}

    await patient.roster(0, "attended")
    await patient.roster(1, "attended")
    two = await lines()
    assert [(x["hcpcs"], x["revenue_code"], x["billable"], x["reason"]) for x in two.values()] == [
        ("H0015", "0906", False, "under_weekly_days")
    ] * 2
    await patient.roster(2, "attended")
    three = await lines()
    assert [(x["billable"], x["units"]) for x in three.values()] == [(True, 1)] * 3
    week = (
        await papi.get(
            f"/v1/episodes/{patient.episode_id}/week",
            params={"day": patient.day(0).isoformat()},
            headers=CARE,
        )
    ).json()
    assert (week["billable_days"], week["days_not_billable"]) == (3, 0)


async def test_probe_a_review_sourced_program_takes_the_reviews_numbers(
    papi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    """With `source: review` the weekly review's hours and units are the program's word,
    also when some rosters were recorded: no contradiction is claimed."""
    await put_policy(papi, REVIEWED, {"source": "review"})
    patient = await Patient(papi, api_env, clock).start(REVIEWED)
    await patient.roster(0, "attended")
    review = {**bodies.review(), "hours_attended": 10, "units_attended": 4}
    answer = await papi.post(
        f"/v1/episodes/{patient.episode_id}/reviews", json=review, headers=CARE
    )
    assert answer.status_code == 200, answer.text


async def test_probe_m_absences_recommend_a_level_review_without_disengaging(
    papi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    """The program's M is 2 and its N 3: no-show, attended, no-show recommends the level
    review at the second absence, with no run long enough to disengage."""
    await put_policy(
        papi, ABSENT, {"absences_for_level_review": 2, "consecutive_no_shows_disengaged": 3}
    )
    patient = await Patient(papi, api_env, clock).start(ABSENT)
    await patient.roster(0, "no_show")
    assert "level_review_recommended" not in await patient.flags()
    await patient.roster(1, "attended")
    await patient.roster(2, "no_show")
    flags = await patient.flags()
    assert "level_review_recommended" in flags
    assert "disengaged" not in flags


async def test_probe_the_csv_export_does_not_hand_a_spreadsheet_a_formula(
    papi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    """An authorization number is free text typed by UR staff; a biller opens the CSV in a
    spreadsheet. A cell that would start a formula (=, +, -, @) is quoted with a leading
    apostrophe (OWASP's CSV-injection advice); the JSON keeps the number as typed."""
    number = '=HYPERLINK("http://x.test","AUTH")'
    patient = await Patient(papi, api_env, clock).start(REVIEWED, units=10, number=number)
    await patient.roster(0, "attended")
    params = {"from": patient.day(0).isoformat(), "to": patient.day(0).isoformat()}
    path = f"/v1/programs/{REVIEWED}/billable-days"
    lines = (await papi.get(path, params=params, headers=UR)).json()
    mine = [x for x in lines if x["episode_id"] == patient.episode_id]
    assert [x["authorization_number"] for x in mine] == [number]
    exported = await papi.get(path, params={**params, "format": "csv"}, headers=UR)
    rows = [
        r
        for r in csv.DictReader(io.StringIO(exported.text))
        if r["episode_id"] == patient.episode_id
    ]
    assert [r["authorization_number"] for r in rows] == ["'" + number]


async def test_probe_a_corrected_no_show_does_not_count_toward_m_absences(
    papi: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock
) -> None:
    """M is 2 in this program. A no-show corrected to attended is no absence: one real
    no-show after it is the episode's first absence, no level review is recommended."""
    await put_policy(
        papi, ABSENT, {"absences_for_level_review": 2, "consecutive_no_shows_disengaged": 3}
    )
    patient = await Patient(papi, api_env, clock).start(ABSENT)
    await patient.roster(0, "no_show")
    session = patient.sessions[0]
    fixed = await papi.post(
        f"/v1/sessions/{session['session_id']}/roster",
        json={
            "recorded_by": "clin-7",
            "entries": [{"episode_id": patient.episode_id, "status": "attended"}],
            "correction_reason": "signed in late",
        },
        headers=CARE,
    )
    assert fixed.status_code == 200, fixed.text
    await patient.roster(1, "no_show")
    assert "level_review_recommended" not in await patient.flags()
