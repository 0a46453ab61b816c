"""503 when Temporal or PostgreSQL is unreachable, and then nothing is half-done."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from schemas.episode import workflow_id_for
from schemas.view import EpisodeView
from tests.api import bodies
from tests.api.conftest import bearer
from tests.serving import free_port

CARE = bearer("tok-care")
CLINIC = bearer("tok-clinic")


@pytest.fixture
async def dead_pool() -> AsyncIterator[asyncpg.Pool]:
    """A pool aimed at a port nobody listens on (no connection is made up front)."""
    pool = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{free_port()}/none", min_size=0, max_size=1
    )
    try:
        yield pool
    finally:
        await pool.close()


async def client_for(deps: ApiDeps) -> httpx.AsyncClient:
    app = create_app(deps)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_without_postgres_a_submission_is_503_and_never_reaches_the_engine(
    api: httpx.AsyncClient,
    api_env: WorkflowEnvironment,
    api_settings: ApiSettings,
    dead_pool: asyncpg.Pool,
) -> None:
    body = bodies.episode()
    assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    episode_id = str(body["episode_id"])
    await api.get(f"/v1/episodes/{episode_id}", headers=CARE)  # known to this app only

    broken = ApiDeps(client=api_env.client, pool=dead_pool, settings=api_settings)
    async with await client_for(broken) as no_db:
        # The program check falls back to the workflow; the audit row cannot be written.
        answer = await no_db.post(
            f"/v1/episodes/{episode_id}/assessment", json=bodies.assessment(), headers=CARE
        )
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        keyed = await no_db.post(
            "/v1/episodes",
            json=bodies.episode(),
            headers={**CLINIC, "Idempotency-Key": "k-1"},
        )
        assert keyed.status_code == 503
        assert (await no_db.get("/v1/episodes", headers=CARE)).status_code == 503
        ready = await no_db.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unavailable", "temporal": True, "postgres": False}

    handle = api_env.client.get_workflow_handle(workflow_id_for(episode_id))
    state = await handle.query("state", result_type=EpisodeView)
    assert state.phase == "assessment"  # the assessment was never submitted


async def test_without_temporal_calls_are_503(
    api_pool: asyncpg.Pool, api_settings: ApiSettings
) -> None:
    nowhere = await Client.connect(
        f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter
    )
    broken = ApiDeps(client=nowhere, pool=api_pool, settings=api_settings)
    body = bodies.episode()
    async with await client_for(broken) as no_engine:
        started = await no_engine.post(
            "/v1/episodes", json=body, headers={**CLINIC, "Idempotency-Key": "retry-me"}
        )
        assert started.status_code == 503, started.text
        assert started.headers["retry-after"] == "5"
        read = await no_engine.get("/v1/episodes/ep-any", headers=CARE)
        assert read.status_code == 503
        review = await no_engine.post(
            "/v1/episodes/ep-any/reviews", json=bodies.review(), headers=CARE
        )
        assert review.status_code == 503
        ready = await no_engine.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["temporal"] is False
        assert (await no_engine.get("/healthz")).status_code == 200
    # The 503 released the idempotency claim: a retry with the same key is free to run.
    left = await api_pool.fetchval(
        "SELECT count(*) FROM api_idempotency WHERE idempotency_key = 'retry-me'"
    )
    assert left == 0
