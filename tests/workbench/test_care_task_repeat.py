"""Issue 11 for the care-team task forms: "a double click or a reload never submits twice".
The same form again from the person who did the task, with the same answer, lands on the
episode page as the first did (303) and records nothing more; another answer, or another
person, is a 409 page naming who did it and that the task takes nothing more."""

from __future__ import annotations

import re

import asyncpg
import httpx
from fastapi import FastAPI

from api.workbench.accounts import PersonRole
from tests.channels.builders import episode_with_tasks
from tests.workbench.conftest import add_account, csrf_of, person, sign_in


async def _done_steps(pool: asyncpg.Pool, task_id: str) -> int:
    count = await pool.fetchval(
        "SELECT count(*) FROM care_team_task_events WHERE task_id = $1 AND event = 'done'",
        task_id,
    )
    return int(count)


async def test_a_repeated_task_form_lands_on_the_episode_and_records_nothing_more(
    wb_app: FastAPI,
    browser_client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,
) -> None:
    episode_id = await episode_with_tasks(browser_client, api_pool)
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    page = await browser_client.get(f"/app/episodes/{episode_id}")
    csrf = csrf_of(page.text)
    episode_page = f"/app/episodes/{episode_id}"
    for task_id, answer in [
        (f"callback:{episode_id}:link-9", "reached"),
        (f"ack:care-episode-{episode_id}:m92", "reached_patient"),
    ]:
        action = f"{episode_page}/care-team-tasks/{task_id}"
        form = {"csrf_token": csrf, "answer": answer}
        first = await browser_client.post(action, data=form)
        assert first.status_code == 303, first.text
        again = await browser_client.post(action, data=form)  # a double click, a reload
        assert again.status_code == 303, again.text
        assert again.headers["location"] == first.headers["location"] == episode_page
        assert await _done_steps(api_pool, task_id) == 1
    shown = await browser_client.get(episode_page)
    item = re.search(
        rf'data-care-task="callback:{re.escape(episode_id)}:link-9".*?</li>', shown.text, re.S
    )
    assert item is not None and f'done by <span class="mono">{who.actor}</span>' in item.group(0)


async def test_another_answer_or_another_person_on_a_done_task_is_a_409_page(
    wb_app: FastAPI,
    browser_client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,
) -> None:
    episode_id = await episode_with_tasks(browser_client, api_pool)
    task_id = f"callback:{episode_id}:link-9"
    action = f"/app/episodes/{episode_id}/care-team-tasks/{task_id}"
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    csrf = csrf_of((await browser_client.get(f"/app/episodes/{episode_id}")).text)
    done = await browser_client.post(action, data={"csrf_token": csrf, "answer": "reached"})
    assert done.status_code == 303

    other_answer = await browser_client.post(
        action, data={"csrf_token": csrf, "answer": "not_reached"}
    )
    assert other_answer.status_code == 409
    assert who.actor in other_answer.text and "nothing more can be recorded" in other_answer.text

    colleague = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    transport = httpx.ASGITransport(app=wb_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as theirs:
        assert (await sign_in(theirs, colleague)).status_code == 303
        their_csrf = csrf_of((await theirs.get(f"/app/episodes/{episode_id}")).text)
        same_answer = await theirs.post(
            action, data={"csrf_token": their_csrf, "answer": "reached"}
        )
    assert same_answer.status_code == 409
    assert who.actor in same_answer.text and "(reached)" in same_answer.text
    assert await _done_steps(api_pool, task_id) == 1
    [row] = await api_pool.fetch(
        "SELECT done_by, callback_outcome FROM care_team_tasks WHERE task_id = $1", task_id
    )
    assert (row["done_by"], row["callback_outcome"]) == (who.actor, "reached")
