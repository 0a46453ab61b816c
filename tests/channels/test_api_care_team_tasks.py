"""The API side of the care team's follow-through: list an episode's call-back tasks and
urgent messages awaiting acknowledgement, complete and acknowledge them (who, when, what),
and the answers for a task done already (409), one that does not exist or belongs to
another episode (404), another actor (403) and an episode the key may not see (404)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from tests.api.conftest import (  # noqa: F401  (fixtures shared with the API tests)
    api_env,
    api_pg_dsn,
    api_pool,
    api_settings,
    api_worker,
    bearer,
)
from tests.channels.builders import episode_with_tasks


@pytest.fixture(scope="module")
def tasks_app(
    api_env: WorkflowEnvironment,  # noqa: F811
    api_pool: asyncpg.Pool,  # noqa: F811
    api_settings: ApiSettings,  # noqa: F811
    api_worker: None,  # noqa: F811, ARG001
) -> FastAPI:
    return create_app(ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings))


@pytest.fixture(scope="module")
async def client(tasks_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=tasks_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_callback_and_acknowledgement_through_the_api(
    client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    episode_id = await episode_with_tasks(client, api_pool)
    base = f"/v1/episodes/{episode_id}"
    listed = await client.get(f"{base}/care-team-tasks", headers=bearer("tok-care"))
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(i["kind"], i["task_id"]) for i in items] == [
        ("acknowledgement", f"ack:care-episode-{episode_id}:m92"),
        ("callback", f"callback:{episode_id}:link-9"),
    ]
    assert all(i["done_at"] is None and i["due_at"] for i in items)
    only = await client.get(f"{base}/care-team-tasks?kind=callback", headers=bearer("tok-care"))
    assert [i["task_id"] for i in only.json()["items"]] == [f"callback:{episode_id}:link-9"]

    task = f"{base}/callback-tasks/callback:{episode_id}:link-9/completion"
    someone_else = await client.post(
        task, json={"completed_by": "clin-8", "outcome": "reached"}, headers=bearer("tok-care")
    )
    assert someone_else.status_code == 403
    assert someone_else.json()["type"].endswith("actor-forbidden")
    bad = await client.post(
        task, json={"completed_by": "clin-7", "outcome": "maybe"}, headers=bearer("tok-care")
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.outcome"
    done = await client.post(
        task, json={"completed_by": "clin-7", "outcome": "not_reached"}, headers=bearer("tok-care")
    )
    assert done.status_code == 200, done.text
    assert (done.json()["done_by"], done.json()["callback_outcome"]) == ("clin-7", "not_reached")
    retried = await client.post(
        task, json={"completed_by": "clin-7", "outcome": "not_reached"}, headers=bearer("tok-care")
    )
    assert retried.status_code == 200 and retried.json() == done.json()
    again = await client.post(
        task, json={"completed_by": "clin-7", "outcome": "reached"}, headers=bearer("tok-care")
    )
    assert again.status_code == 409
    assert "was done by 'clin-7'" in again.json()["detail"]

    # The acknowledgement endpoint does not take the call-back's ID, nor the reverse.
    wrong_kind = await client.post(
        f"{base}/urgent-messages/link-9/acknowledgement",
        json={"acknowledged_by": "clin-7", "response": "reached_patient"},
        headers=bearer("tok-care"),
    )
    assert wrong_kind.status_code == 404
    ack = await client.post(
        f"{base}/urgent-messages/care-episode-{episode_id}:m92/acknowledgement",
        json={"acknowledged_by": "clin-7", "response": "safety_plan_reviewed"},
        headers=bearer("tok-care"),
    )
    assert ack.status_code == 200, ack.text
    assert ack.json()["ack_response"] == "safety_plan_reviewed"

    events = await client.get(f"{base}/timeline", headers=bearer("tok-care"))
    assert events.status_code == 200, events.text
    steps = [
        (e["event"], e["actor"], e.get("value")) for e in events.json() if e["kind"] == "messaging"
    ]
    assert ("callback_task_completed", "clin-7", "not_reached") in steps
    assert ("urgent_message_acknowledged", "clin-7", "safety_plan_reviewed") in steps


async def test_an_episode_the_key_may_not_see_is_404(
    client: httpx.AsyncClient,
    api_pool: asyncpg.Pool,  # noqa: F811
) -> None:
    episode_id = await episode_with_tasks(client, api_pool)
    other = await client.get(
        f"/v1/episodes/{episode_id}/care-team-tasks", headers=bearer("tok-care-other")
    )
    assert other.status_code == 404
    unknown = await client.get(
        "/v1/episodes/no-such-episode/care-team-tasks", headers=bearer("tok-care")
    )
    assert unknown.status_code == 404
