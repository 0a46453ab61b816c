"""Scenario tests of a patient's IOP weeks, end to end: rosters through the API, the
exceptions derived from them in PostgreSQL, the CareEpisode workflow on the time-skipping
server acting on them (messages in the outbox, flags, durable timers). The API's clock
follows the server's, starting on a Monday."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.settings import ApiSettings
from schemas.episode import workflow_id_for
from tests.api import bodies
from tests.api.clocked import Clock, clocked_client
from tests.api.conftest import PROGRAM, bearer
from tests.api.iop_week import (
    approval,
    new_group,
    next_monday,
    record_one,
    seat,
    sessions_of,
    start_episode,
    until_phase,
)

ADMIN = bearer("tok-admin")
CLINIC = bearer("tok-clinic")
CARE = bearer("tok-care")
UR = bearer("tok-ur")


@pytest.fixture(scope="module")
async def clock(api_env: WorkflowEnvironment) -> Clock:
    return Clock(await api_env.get_current_time())


@pytest.fixture(scope="module")
async def iop(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
    clock: Clock,
) -> AsyncIterator[httpx.AsyncClient]:
    async with clocked_client(api_env, api_pool, api_settings, clock) as client:
        yield client


class Week:
    """One patient in one IOP group (Mon-Thu, 3 h), and the rosters recorded for them."""

    def __init__(
        self, api: httpx.AsyncClient, env: WorkflowEnvironment, clock: Clock, pool: asyncpg.Pool
    ) -> None:
        self.api, self.env, self.clock, self.pool = api, env, clock, pool
        self.group_id = f"grp-{uuid.uuid4().hex[:10]}"
        self.episode_id = ""
        self.sessions: list[dict[str, Any]] = []

    async def start(self, *, authorized_units: int | None = None) -> Week:
        await next_monday(self.clock, self.env)
        await new_group(self.api, group_id=self.group_id)
        member = "NOAUTH-1" if authorized_units is None else "M-WAITS-FOR-UR"
        self.episode_id = await start_episode(self.api, member_id=member)
        if authorized_units is not None:
            await self.until_phase("authorization")
            today = self.clock.now.date()
            answer = await self.api.post(
                f"/v1/episodes/{self.episode_id}/authorizations",
                json=approval(authorized_units, today, today + timedelta(days=60)),
                headers=UR,
            )
            assert answer.status_code == 200, answer.text
            await self.until_recorded(
                "SELECT count(*) FROM authorizations WHERE episode_id = $1 AND units_approved = $2",
                authorized_units,
            )
        await self.until_phase("in_treatment")
        await seat(self.api, self.group_id, self.episode_id)
        first = self.clock.now.date()
        listed = await sessions_of(
            self.api, self.group_id, first.isoformat(), (first + timedelta(days=13)).isoformat()
        )
        self.sessions = [
            s for s in listed if datetime.fromisoformat(s["starts_at"]) > self.clock.now
        ]
        assert len(self.sessions) == 8
        return self

    async def until_phase(self, phase: str) -> None:
        await until_phase(self.api, self.env, self.episode_id, phase)

    async def until_recorded(self, sql: str, *args: Any) -> None:
        for _ in range(100):
            if await self.pool.fetchval(sql, self.episode_id, *args):
                return
            await self.env.sleep(timedelta(seconds=5))
        raise AssertionError(f"not recorded: {sql}")

    async def roster(self, index: int, status: str, minutes: int | None = None) -> dict[str, Any]:
        return await record_one(
            self.api, self.clock, self.sessions[index], self.episode_id, status, minutes=minutes
        )

    async def flags(self) -> list[str]:
        state = (await self.api.get(f"/v1/episodes/{self.episode_id}", headers=CARE)).json()
        return list(state["flags"])

    async def messages(self) -> list[tuple[str, str, str]]:
        """(recipient, template, urgency) of every message the engine queued, in order."""
        rows = await self.pool.fetch(
            """SELECT recipient_role, template, urgency FROM notification_outbox
               WHERE episode_id = $1 ORDER BY seq, message_id""",
            self.episode_id,
        )
        return [(r["recipient_role"], r["template"], r["urgency"]) for r in rows]

    async def until_message(self, recipient: str, template: str) -> list[tuple[str, str, str]]:
        for _ in range(100):
            found = await self.messages()
            if any(m[0] == recipient and m[1] == template for m in found):
                return found
            await self.env.sleep(timedelta(seconds=5))
        raise AssertionError(f"no {template} to {recipient}: {await self.messages()}")

    async def updates(self) -> list[str]:
        """The names of every update the episode's workflow accepted, from its history."""
        handle = self.env.client.get_workflow_handle(workflow_id_for(self.episode_id))
        names = []
        async for event in handle.fetch_history_events():
            if event.HasField("workflow_execution_update_accepted_event_attributes"):
                accepted = event.workflow_execution_update_accepted_event_attributes
                names.append(accepted.accepted_request.input.name)
        return names


@pytest.fixture
async def week(
    iop: httpx.AsyncClient, api_env: WorkflowEnvironment, clock: Clock, api_pool: asyncpg.Pool
) -> Week:
    return Week(iop, api_env, clock, api_pool)


async def test_a_week_attended_as_scheduled_costs_the_workflow_nothing(week: Week) -> None:
    await week.start()
    for day in range(4):
        answer = await week.roster(day, "attended")
        assert (answer["notices_sent"], answer["notices_pending"]) == (0, 0)
    assert "record_attendance" not in await week.updates()
    history = (
        await week.api.get(f"/v1/episodes/{week.episode_id}/attendance", headers=CARE)
    ).json()
    assert sum(h["minutes"] for h in history) == 4 * 180
    assert "below_minimum" not in await week.flags()


async def test_a_no_show_messages_the_patient_opens_a_follow_up_and_chases_it(week: Week) -> None:
    await week.start()
    answer = await week.roster(0, "no_show")
    assert answer["notices_sent"] == 1
    assert (await week.updates()).count("record_attendance") == 1
    assert "no_show_followup" in await week.flags()
    messages = await week.until_message("care_team", "no_show_followup")
    assert ("patient", "new_message", "routine") in messages
    assert ("care_team", "no_show_followup", "routine") in messages
    assert "disengaged" not in await week.flags()
    await week.env.sleep(timedelta(hours=25))  # the follow-up's durable timer
    await week.until_message("supervisor", "no_show_followup_missed")


async def test_two_no_shows_in_a_row_disengage_and_attending_again_clears_it(week: Week) -> None:
    await week.start()
    await week.roster(0, "no_show")
    await week.roster(1, "no_show")
    flags = await week.flags()
    assert "disengaged" in flags
    await week.until_message("supervisor", "disengaged")
    # 0 h so far and 6 h left in the week: 9 h can no longer be reached.
    assert "below_minimum" in flags
    resumed = await week.roster(2, "attended")
    assert resumed["notices_sent"] == 1
    flags = await week.flags()
    assert "disengaged" not in flags and "no_show_followup" not in flags


async def test_a_no_show_with_the_risk_flag_open_alerts_the_care_team_urgently(
    week: Week,
) -> None:
    await week.start()
    review = {**bodies.review(), "phq9": {"items": [1, 1, 1, 1, 1, 1, 1, 1, 1]}}
    answer = await week.api.post(
        f"/v1/episodes/{week.episode_id}/reviews", json=review, headers=CARE
    )
    assert answer.status_code == 200, answer.text
    assert "risk" in await week.flags()
    await week.roster(0, "no_show")
    messages = await week.until_message("care_team", "no_show_risk_open")
    assert ("care_team", "no_show_risk_open", "urgent") in messages


async def test_the_week_is_below_minimum_the_day_it_can_no_longer_reach_nine_hours(
    week: Week,
) -> None:
    await week.start()
    first = await week.roster(0, "attended")
    assert first["notices_sent"] == 0
    second = await week.roster(1, "partial", minutes=60)
    assert second["notices_sent"] == 0  # 4 h + 6 h still possible
    third = await week.roster(2, "partial", minutes=60)
    assert third["notices_sent"] == 1  # 5 h + 3 h possible < 9 h, on Wednesday
    assert "below_minimum" in await week.flags()
    await week.until_message("care_team", "week_below_minimum")


async def test_units_running_out_ahead_of_the_end_date_open_the_concurrent_review(
    week: Week,
) -> None:
    await week.start(authorized_units=8)
    for day in range(4):  # four days used, four left: above the threshold of 3
        answer = await week.roster(day, "attended")
        assert answer["notices_sent"] == 0, answer
    # Next Monday, with four units and the schedule's Thursday as the last one, the
    # projected exhaustion is within the five-day lead: the review opens now, 50 days early.
    answer = await week.roster(4, "attended")
    assert answer["notices_sent"] == 1
    assert "authorization_low" in await week.flags()
    await week.until_message("utilization_review", "units_running_out")
    view = (await week.api.get(f"/v1/episodes/{week.episode_id}/week", headers=CARE)).json()
    assert (view["attended"], view["hours"], view["minimum_hours"]) == (1, 3.0, 9.0)
    units = view["units"]
    assert (units["units_used"], units["units_left"]) == (5, 3)
    assert units["projected_exhaustion"] == week.sessions[7]["session_date"]
    state = (await week.api.get(f"/v1/episodes/{week.episode_id}", headers=CARE)).json()
    assert state["pending_payer_request"] is not None


async def test_attendance_beyond_the_authorization_is_unauthorized_and_not_billed(
    week: Week,
) -> None:
    await week.start(authorized_units=2)
    await week.roster(0, "attended")
    await week.roster(1, "attended")
    beyond = await week.roster(2, "attended")
    assert beyond["notices_sent"] >= 1
    assert "unauthorized_service" in await week.flags()
    await week.until_message("utilization_review", "unauthorized_service")
    days = [s["session_date"] for s in week.sessions[:3]]
    lines = (
        await week.api.get(
            f"/v1/programs/{PROGRAM}/billable-days",
            params={"from": days[0], "to": days[2]},
            headers=UR,
        )
    ).json()
    mine = {x["day"]: x for x in lines if x["episode_id"] == week.episode_id}
    assert [mine[d]["billable"] for d in days] == [True, True, False]
    assert mine[days[2]]["reason"] == "not_authorized"
    assert mine[days[0]]["hcpcs"] == "S9480" and mine[days[0]]["units"] == 1
    assert mine[days[0]]["authorization_number"].startswith("AUTH-")


async def test_a_review_contradicting_the_rosters_is_refused_naming_both_numbers(
    week: Week,
) -> None:
    await week.start()
    for day in range(3):
        await week.roster(day, "attended")
    await week.roster(3, "partial", minutes=60)
    wrong = {**bodies.review(), "hours_attended": 12, "units_attended": 4}
    answer = await week.api.post(
        f"/v1/episodes/{week.episode_id}/reviews", json=wrong, headers=CARE
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"].endswith("review-contradicts-attendance")
    assert "hours_attended 12 but the rosters record 10 h" in answer.json()["detail"]
    right = {**bodies.review(), "hours_attended": 10, "units_attended": 4}
    answer = await week.api.post(
        f"/v1/episodes/{week.episode_id}/reviews", json=right, headers=CARE
    )
    assert answer.status_code == 200, answer.text


async def test_the_episode_view_and_timeline_show_the_week_from_the_rosters(week: Week) -> None:
    """Issue 10 item 9: GET /v1/episodes/{id} carries this week (hours against the minimum,
    sessions attended / missed, billable days); the timeline has the no-show, the
    correction (who, why, the value before) and the billable-day decisions."""
    await week.start()
    await week.roster(0, "attended")
    await week.roster(1, "no_show")
    session = week.sessions[1]
    fixed = await week.api.post(
        f"/v1/sessions/{session['session_id']}/roster",
        json={
            "recorded_by": "clin-7",
            "entries": [{"episode_id": week.episode_id, "status": "partial", "minutes": 90}],
            "correction_reason": "came for the second half",
        },
        headers=CARE,
    )
    assert fixed.status_code == 200, fixed.text
    state = (await week.api.get(f"/v1/episodes/{week.episode_id}", headers=CARE)).json()
    w = state["week"]
    assert (w["scheduled"], w["attended"], w["missed"]) == (4, 2, 0)
    assert (w["hours"], w["minimum_hours"]) == (4.5, 9.0)
    assert w["billable_days"] + w["days_not_billable"] == 2
    timeline = (await week.api.get(f"/v1/episodes/{week.episode_id}/timeline", headers=CARE)).json()
    attendance = [
        (e["event"], e["actor"], e["earlier_value"], e["reason"])
        for e in timeline
        if e["kind"] == "attendance"
    ]
    assert attendance == [
        ("no_show", "clin-7", None, None),
        ("attendance_corrected", "clin-7", "no_show (0 min)", "came for the second half"),
    ]
    billing = [e["day"] for e in timeline if e["kind"] == "billing"]
    assert billing == [week.sessions[0]["starts_at"][:10], session["starts_at"][:10]]
