"""The workbench episode page lists the care-team tasks (a patient's item 9 call-back, an
urgent message to acknowledge), and a care-team member does them there as themselves;
a supervisor sees them without the forms, and may not post one."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import httpx
from fastapi import FastAPI

from api.workbench.accounts import PersonRole
from tests.api.conftest import (  # noqa: F401  (fixtures shared with the API tests)
    api_env,
    api_pg_dsn,
    api_pool,
    api_settings,
    api_worker,
)
from tests.channels.builders import episode_with_tasks
from tests.store.store_builders import T0
from tests.workbench.conftest import (  # noqa: F401  (fixtures shared with the workbench tests)
    add_account,
    browser_client,
    csrf_of,
    person,
    sign_in,
    wb_app,
)


async def test_the_care_team_does_its_tasks_from_the_episode_page(
    wb_app: FastAPI,  # noqa: F811
    browser_client: httpx.AsyncClient,  # noqa: F811
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    episode_id = await episode_with_tasks(browser_client, api_pool)
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    page = await browser_client.get(f"/app/episodes/{episode_id}")
    assert page.status_code == 200
    assert f'data-care-task="callback:{episode_id}:link-9"' in page.text
    assert f'data-care-task="ack:care-episode-{episode_id}:m92"' in page.text
    assert page.text.count("Record as done") == 2
    action = f"/app/episodes/{episode_id}/care-team-tasks/callback:{episode_id}:link-9"
    form = {"csrf_token": csrf_of(page.text)}

    missing = await browser_client.post(action, data=form)
    assert missing.status_code == 422 and "choose one of" in missing.text
    wrong_kind = await browser_client.post(action, data={**form, "answer": "reached_patient"})
    assert wrong_kind.status_code == 422
    stale = await browser_client.post(action, data={"csrf_token": "stale", "answer": "reached"})
    assert stale.status_code == 403

    done = await browser_client.post(action, data={**form, "answer": "left_message"})
    assert done.status_code == 303 and done.headers["location"] == f"/app/episodes/{episode_id}"
    after = await browser_client.get(f"/app/episodes/{episode_id}")
    item = re.search(
        rf'data-care-task="callback:{re.escape(episode_id)}:link-9".*?</li>', after.text, re.S
    )
    assert item is not None
    assert f'done by <span class="mono">{who.actor}</span>' in item.group(0)
    assert "left message" in item.group(0) and "Record as done" not in item.group(0)
    assert "callback task completed" in after.text  # the timeline's entry
    again = await browser_client.post(action, data={**form, "answer": "reached"})
    assert again.status_code == 409 and who.actor in again.text


async def test_a_supervisor_sees_the_tasks_but_may_not_do_them(
    wb_app: FastAPI,  # noqa: F811
    browser_client: httpx.AsyncClient,  # noqa: F811
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    episode_id = await episode_with_tasks(browser_client, api_pool)
    who = await add_account(wb_app, person(PersonRole.SUPERVISOR))
    assert (await sign_in(browser_client, who)).status_code == 303
    page = await browser_client.get(f"/app/episodes/{episode_id}")
    assert f'data-care-task="callback:{episode_id}:link-9"' in page.text
    assert "Record as done" not in page.text
    refused = await browser_client.post(
        f"/app/episodes/{episode_id}/care-team-tasks/callback:{episode_id}:link-9",
        data={"csrf_token": csrf_of(page.text), "answer": "reached"},
    )
    assert refused.status_code == 403
    [row] = await api_pool.fetch(
        "SELECT done_at FROM care_team_tasks WHERE task_id = $1", f"callback:{episode_id}:link-9"
    )
    assert row["done_at"] is None


async def test_todays_list_shows_the_open_tasks_until_they_are_done(
    wb_app: FastAPI,  # noqa: F811
    browser_client: httpx.AsyncClient,  # noqa: F811
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    # Opened long before the other tests' tasks: first on the list, whatever else is open.
    episode_id = await episode_with_tasks(browser_client, api_pool, at=T0 - timedelta(days=400))
    who = await add_account(wb_app, person(PersonRole.CARE_TEAM))
    assert (await sign_in(browser_client, who)).status_code == 303
    callback = f"callback:{episode_id}:link-9"
    ack = f"ack:care-episode-{episode_id}:m92"

    def listed(html: str) -> str:
        return html.split('data-list="care-tasks"', 1)[1].split("</section>", 1)[0]

    today = await browser_client.get("/app/")
    assert today.status_code == 200
    tasks = listed(today.text)
    assert f'data-care-task="{callback}"' in tasks and f'data-care-task="{ack}"' in tasks
    assert 'badge danger">overdue' in tasks and f"/app/episodes/{episode_id}" in tasks

    page = await browser_client.get(f"/app/episodes/{episode_id}")
    done = await browser_client.post(
        f"/app/episodes/{episode_id}/care-team-tasks/{callback}",
        data={"csrf_token": csrf_of(page.text), "answer": "reached"},
    )
    assert done.status_code == 303
    after = listed((await browser_client.get("/app/")).text)
    assert f'data-care-task="{callback}"' not in after and f'data-care-task="{ack}"' in after
