"""The workbench's pages over the API's own records and engine: what a person sees, and
that a form goes through the same Workflow Update as the API (actor from the session,
errors beside fields, 409 with allowed actions, a re-sent form answered once)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.workbench.accounts import PersonRole
from tests.api import bodies
from tests.api.conftest import OTHER_PROGRAM, PROGRAM, bearer
from tests.timeline import timeline_until
from tests.workbench.conftest import Person, add_account, csrf_of, person, sign_in

CLINIC = bearer("tok-clinic")
CARE_KEY = bearer("tok-care")
RISKY_PHQ9 = [1, 1, 1, 1, 1, 1, 1, 1, 1]  # item 9 > 0: thoughts of self-harm


async def enrolled(client: httpx.AsyncClient, env: WorkflowEnvironment) -> str:
    body = bodies.episode()
    assert (await client.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    episode_id = str(body["episode_id"])
    answer = await client.post(
        f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE_KEY
    )
    assert answer.status_code == 200, answer.text
    await env.sleep(timedelta(hours=1))
    state = (await client.get(f"/v1/episodes/{episode_id}", headers=CARE_KEY)).json()
    assert state["phase"] == "in_treatment", state
    return episode_id


async def signed_in(app: FastAPI, client: httpx.AsyncClient, role: PersonRole) -> Person:
    who = await add_account(app, person(role))
    assert (await sign_in(client, who)).status_code == 303
    return who


def review_form(page_html: str, phq9: list[int] | None, **fields: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf_of(page_html),
        "submission_ref": re.search(r'name="submission_ref" value="([^"]+)"', page_html).group(1),  # type: ignore[union-attr]
        "hours_attended": "10",
        "units_attended": "3",
    }
    for index, value in enumerate(phq9 or []):
        form[f"phq9.items.{index}"] = str(value)
    form.update(fields)
    return form


async def test_pages_show_the_records_and_carry_security_headers(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    today = await browser_client.get("/app/")
    assert today.status_code == 200
    csp = today.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert today.headers["x-content-type-options"] == "nosniff"
    assert today.headers["referrer-policy"] == "no-referrer"
    assert today.headers["cache-control"] == "no-store"
    assert "<script>" not in today.text and " style=" not in today.text

    census = await browser_client.get("/app/census?program=iop-adult")
    api_census = (await browser_client.get("/v1/census?program=iop-adult", headers=CARE_KEY)).json()
    cell = next(
        row for row in api_census if row["phase"] == "in_treatment" and row["level"] == "iop"
    )
    assert f'data-phase="in_treatment" data-level="iop">{cell["episodes"]}<' in census.text
    total = sum(row["episodes"] for row in api_census)
    assert f'Open episodes by phase and level <span class="count-inline">({total})' in census.text

    page = await browser_client.get(f"/app/episodes/{episode_id}")
    assert page.status_code == 200
    assert "in treatment" in page.text
    assert f'href="/app/episodes/{episode_id}/review"' in page.text  # allowed in this phase
    assert f'href="/app/episodes/{episode_id}/assessment"' not in page.text  # not allowed
    assert "Synthetic Patient" in page.text  # the display name, from PostgreSQL (patients)


async def test_review_form_submits_as_the_person_raises_the_risk_flag_and_is_answered_once(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    who = await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    shown = await browser_client.get(f"/app/episodes/{episode_id}/review")
    assert shown.status_code == 200
    assert "Thoughts that you would be better off dead" in shown.text
    form = review_form(shown.text, RISKY_PHQ9)
    answer = await browser_client.post(f"/app/episodes/{episode_id}/review", data=form)
    assert answer.status_code == 200, answer.text
    assert "risk flag" in answer.text
    # A reload or a second click re-sends the same form (the same submission id).
    again = await browser_client.post(f"/app/episodes/{episode_id}/review", data=form)
    assert again.status_code == 200
    assert "risk flag" in again.text
    state = (await browser_client.get(f"/v1/episodes/{episode_id}", headers=CARE_KEY)).json()
    assert state["scores"]["phq9_history"] == [9]  # one review, not two
    assert "risk" in state["flags"]
    ref = form["submission_ref"]

    def recorded(entries: list[dict[str, Any]]) -> bool:
        kinds = {e["kind"] for e in entries if ref in (e.get("review_id"), e.get("submission_id"))}
        return {"review", "api_call"} <= kinds

    timeline = await timeline_until(browser_client, episode_id, CARE_KEY, recorded)
    reviews = [e for e in timeline if e["kind"] == "review" and e["review_id"] == ref]
    assert [e["actor"] for e in reviews] == [who.actor]
    calls = [
        e
        for e in timeline
        if e["kind"] == "api_call" and e["submission_id"] == form["submission_ref"]
    ]
    assert {e["actor"] for e in calls} == {who.actor}

    today = await browser_client.get("/app/")
    risk_section = today.text.split('id="list-risk"')[1].split("</section>")[0]
    assert episode_id in risk_section
    chart = await browser_client.get(f"/app/episodes/{episode_id}/scores.svg")
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/svg+xml"
    assert b"PHQ-9" in chart.content and b"remission" in chart.content


async def test_form_errors_sit_beside_their_fields_and_record_nothing(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    shown = await browser_client.get(f"/app/episodes/{episode_id}/review")
    form = review_form(shown.text, [1, 1, 1], hours_attended="-2")
    answer = await browser_client.post(f"/app/episodes/{episode_id}/review", data=form)
    assert answer.status_code == 422
    assert 'id="f-hours_attended-error"' in answer.text
    assert 'aria-describedby="f-hours_attended-error"' in answer.text
    assert 'id="f-phq9-items-3-error"' in answer.text  # the first unanswered item
    assert 'id="f-phq9-items-0-error"' not in answer.text
    assert 'value="1" checked' in answer.text  # answers given are kept
    state = (await browser_client.get(f"/v1/episodes/{episode_id}", headers=CARE_KEY)).json()
    assert state["scores"]["phq9_history"] == []  # no review recorded


async def test_continue_with_the_risk_flag_open_needs_the_override_then_succeeds(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    shown = await browser_client.get(f"/app/episodes/{episode_id}/review")
    risky = await browser_client.post(
        f"/app/episodes/{episode_id}/review", data=review_form(shown.text, RISKY_PHQ9)
    )
    assert risky.status_code == 200
    decision = await browser_client.get(f"/app/episodes/{episode_id}/decision")
    assert "risk flag open" in decision.text
    assert "The engine&#39;s recommendation" in decision.text or "recommendation" in decision.text
    ref = re.search(r'name="submission_ref" value="([^"]+)"', decision.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": csrf_of(decision.text), "submission_ref": ref, "action": "continue"}
    refused = await browser_client.post(f"/app/episodes/{episode_id}/decision", data=form)
    assert refused.status_code == 422
    assert 'id="f-override_reason-error"' in refused.text
    assert "override_reason" in refused.text
    accepted = await browser_client.post(
        f"/app/episodes/{episode_id}/decision",
        data={**form, "override_reason": "C-SSRS low risk today; safety plan reviewed"},
    )
    assert accepted.status_code == 200, accepted.text
    state = (await browser_client.get(f"/v1/episodes/{episode_id}", headers=CARE_KEY)).json()
    assert "risk" not in state["flags"]


async def test_the_risk_alert_is_acknowledged_from_the_episode_page_as_the_person(
    wb_app: FastAPI,
    browser_client: httpx.AsyncClient,
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    who = await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    link = f'href="/app/episodes/{episode_id}/acknowledge"'
    assert link not in (await browser_client.get(f"/app/episodes/{episode_id}")).text
    shown = await browser_client.get(f"/app/episodes/{episode_id}/review")
    risky = await browser_client.post(
        f"/app/episodes/{episode_id}/review", data=review_form(shown.text, RISKY_PHQ9)
    )
    assert risky.status_code == 200
    page = await browser_client.get(f"/app/episodes/{episode_id}")
    assert "Risk alert not acknowledged" in page.text and link in page.text
    await unacknowledged_until(api_pool, episode_id, True)
    form_page = await browser_client.get(f"/app/episodes/{episode_id}/acknowledge")
    assert form_page.status_code == 200 and "What was done" in form_page.text
    ref = re.search(r'name="submission_ref" value="([^"]+)"', form_page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": csrf_of(form_page.text), "submission_ref": ref}
    missing = await browser_client.post(f"/app/episodes/{episode_id}/acknowledge", data=form)
    assert missing.status_code == 422 and 'id="f-response-error"' in missing.text
    done = await browser_client.post(
        f"/app/episodes/{episode_id}/acknowledge", data={**form, "response": "reached_patient"}
    )
    assert done.status_code == 200, done.text
    state = (await browser_client.get(f"/v1/episodes/{episode_id}", headers=CARE_KEY)).json()
    assert state["risk_alert"]["acknowledged_by"] == who.actor
    assert "risk" in state["flags"]  # acknowledged, not assessed
    after = await browser_client.get(f"/app/episodes/{episode_id}")
    assert f"Risk alert acknowledged by {who.actor}" in after.text and link not in after.text
    await unacknowledged_until(api_pool, episode_id, False)


async def unacknowledged_until(pool: asyncpg.Pool, episode_id: str, wanted: bool) -> None:
    """The episodes row says whether the alert awaits acknowledgement (the records reach
    PostgreSQL just after the Update's answer: polled)."""
    found = None
    for _ in range(100):
        found = await pool.fetchval(
            "SELECT risk_unacknowledged FROM episodes WHERE episode_id = $1", episode_id
        )
        if found is wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"risk_unacknowledged stayed {found}")


async def test_today_marks_a_risk_alert_nobody_acknowledged(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    tag = uuid.uuid4().hex[:8]
    # Due in 2001, so these two sort first in the risk list whatever else the suite made.
    due = datetime(2001, 1, 1, tzinfo=UTC)
    for episode, waiting in ((f"ep-unacked-{tag}", True), (f"ep-acked-{tag}", False)):
        await api_pool.execute(
            """INSERT INTO episodes (episode_id, workflow_id, program_id, phase,
                level_delivered, started_at, updated_at, last_seq, risk_flag,
                risk_unacknowledged, next_review_due)
            VALUES ($1, $2, $3, 'in_treatment', 'iop', $4, $4, 0, true, $5, $6)""",
            episode,
            f"care-episode-{episode}",
            PROGRAM,
            datetime.now(UTC),
            waiting,
            due + (timedelta(0) if waiting else timedelta(minutes=1)),
        )
    await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    lists = await browser_client.get("/app/today/lists")
    section = lists.text.split('id="list-risk"', 1)[1].split("</section>", 1)[0]
    rows = {
        r.split('href="/app/episodes/', 1)[1].split('"', 1)[0]: r for r in section.split("<tr>")[2:]
    }
    assert "data-unacknowledged" in rows[f"ep-unacked-{tag}"]
    assert "data-unacknowledged" not in rows[f"ep-acked-{tag}"]


async def test_a_form_the_phase_does_not_allow_names_the_allowed_actions(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    shown = await browser_client.get(f"/app/episodes/{episode_id}/assessment")
    assert shown.status_code == 409
    assert "Allowed now:" in shown.text and "submit review" in shown.text
    items = {f"phq9.items.{i}": "1" for i in range(9)}
    ref = re.search(r'name="submission_ref" value="([^"]+)"', shown.text).group(1)  # type: ignore[union-attr]
    posted = await browser_client.post(
        f"/app/episodes/{episode_id}/assessment",
        data={
            "csrf_token": csrf_of(shown.text),
            "submission_ref": ref,
            **items,
            "determination.instrument": "LOCUS",
            "determination.level": "iop",
            "determination.rationale": "again",
        },
    )
    assert posted.status_code == 409  # the engine's own refusal, through the Update
    assert "submit review" in posted.text


@pytest.mark.parametrize("role", [PersonRole.SUPERVISOR, PersonRole.UTILIZATION_REVIEW])
async def test_roles_without_the_form_are_refused(
    wb_app: FastAPI,
    browser_client: httpx.AsyncClient,
    api_env: WorkflowEnvironment,
    role: PersonRole,
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    await signed_in(wb_app, browser_client, role)
    page = await browser_client.get(f"/app/episodes/{episode_id}")
    assert page.status_code == 200
    assert f'href="/app/episodes/{episode_id}/review"' not in page.text
    form = await browser_client.get(f"/app/episodes/{episode_id}/review")
    assert form.status_code == 403


async def test_an_episode_of_another_program_is_not_found(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled(browser_client, api_env)
    outsider = await add_account(
        wb_app, person(PersonRole.CARE_TEAM, programs=frozenset({OTHER_PROGRAM}))
    )
    assert (await sign_in(browser_client, outsider)).status_code == 303
    assert (await browser_client.get(f"/app/episodes/{episode_id}")).status_code == 404
    assert (await browser_client.get(f"/app/episodes/{episode_id}/review")).status_code == 404
    today = await browser_client.get("/app/")
    assert episode_id not in today.text


async def test_today_lists_a_no_show_at_a_session_held_today(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    """A roster's no-show shows on Today the same day, linked to its episode; an excused
    absence at the same session does not."""
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    group, session = f"grp-{tag}", f"ses-{tag}"
    absent, excused = f"ep-absent-{tag}", f"ep-excused-{tag}"
    for episode in (absent, excused):
        await api_pool.execute(
            """INSERT INTO episodes (episode_id, workflow_id, program_id, phase,
                level_delivered, started_at, updated_at, last_seq)
            VALUES ($1, $2, $3, 'in_treatment', 'iop', $4, $4, 0)""",
            episode,
            f"care-episode-{episode}",
            PROGRAM,
            now,
        )
    await api_pool.execute(
        """INSERT INTO care_groups (group_id, program_id, name, level, weekdays, start_time,
            duration_minutes, modality, capacity, facilitator_ref, time_zone, created_at)
        VALUES ($1, $2, 'Evening skills', 'iop', '{1,2,3,4,5,6,7}', '09:00', 180,
                'in_person', 12, 'f-1', 'UTC', $3)""",
        group,
        PROGRAM,
        now,
    )
    await api_pool.execute(
        """INSERT INTO group_sessions (session_id, group_id, session_date, starts_at,
            duration_minutes, modality, kind)
        VALUES ($1, $2, $3, $4, 180, 'in_person', 'scheduled')""",
        session,
        group,
        now.date(),
        now - timedelta(minutes=5),
    )
    for episode, status in ((absent, "no_show"), (excused, "excused")):
        await api_pool.execute(
            """INSERT INTO attendance (session_id, episode_id, status, minutes, modality,
                recorded_by, recorded_at)
            VALUES ($1, $2, $3, 0, 'in_person', 'clinic', $4)""",
            session,
            episode,
            status,
            now,
        )
    await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    lists = await browser_client.get("/app/today/lists")
    assert lists.status_code == 200
    section = lists.text.split('id="list-no-shows"', 1)[1].split("</section>", 1)[0]
    assert f'href="/app/episodes/{absent}"' in section
    assert "Evening skills" in section
    assert excused not in section


async def test_the_episode_page_shows_this_weeks_attendance(
    wb_app: FastAPI, browser_client: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    """Issue 10 item 9: hours against the minimum, sessions and billable days on the page."""
    from datetime import UTC, datetime
    from uuid import uuid4

    episode_id = await enrolled(browser_client, api_env)
    group_id = f"grp-{uuid4().hex[:8]}"
    group = {
        "group_id": group_id,
        "program_id": bodies.episode()["program_id"],
        "name": "Skills",
        "level": "iop",
        "weekdays": [1],
        "start_time": "09:00",
        "duration_minutes": 180,
        "capacity": 12,
        "facilitator_ref": "fac-1",
    }
    assert (await browser_client.post("/v1/groups", json=group, headers=CLINIC)).status_code == 201
    started = datetime.now(UTC) - timedelta(minutes=20)
    session = {
        "session_id": f"s-{uuid4().hex[:8]}",
        "starts_at": started.isoformat(),
        "duration_minutes": 180,
    }
    made = await browser_client.post(
        f"/v1/groups/{group_id}/sessions", json=session, headers=CLINIC
    )
    assert made.status_code == 201, made.text
    seated = await browser_client.post(
        f"/v1/groups/{group_id}/assignments", json={"episode_id": episode_id}, headers=CARE_KEY
    )
    assert seated.status_code == 201, seated.text
    roster = {
        "recorded_by": "clin-care",
        "entries": [{"episode_id": episode_id, "status": "partial", "minutes": 60}],
    }
    recorded = await browser_client.post(
        f"/v1/sessions/{session['session_id']}/roster", json=roster, headers=CLINIC
    )
    assert recorded.status_code == 200, recorded.text
    await signed_in(wb_app, browser_client, PersonRole.CARE_TEAM)
    page = await browser_client.get(f"/app/episodes/{episode_id}")
    assert page.status_code == 200
    assert "This week" in page.text and "data-week" in page.text
    assert "<strong>1 h</strong> of the 9 h minimum" in page.text
    assert "1 attended, 0 missed" in page.text
    # Issue 10 item 10: the census shows the group's seats used and free and its waiting list.
    census = await browser_client.get("/app/census")
    assert census.status_code == 200
    row = census.text.split(f'<tr data-group="{group_id}">', 1)[1].split("</tr>", 1)[0]
    assert "<td data-seats-used>1</td>" in row
    assert "<td data-seats-free>11</td>" in row
    assert "<td data-waiting>0</td>" in row
