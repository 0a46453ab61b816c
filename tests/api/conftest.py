"""The API under test, wired to real things: the CareEpisode worker on Temporal's
time-skipping server, and PostgreSQL (DATABASE_URL, else an embedded pgserver) in a
schema of its own, migrated. The worker writes records through PostgresRecordStore,
so the census and timeline read what the engine really wrote.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.care import CareActivities
from activities.payer_sandbox import SandboxPayer
from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiKey, ApiSettings, Role
from store.patients import PostgresPatients
from store.postgres import PostgresRecordStore
from tests.pg import scratch_database, scratch_schema_pool
from tests.serving import running_server
from worker.registration import register_search_attributes
from worker.runtime import build_worker

PROGRAM = "iop-adult"
OTHER_PROGRAM = "php-teen"
PART2_PROGRAM = "sud-iop"  # a 42 CFR Part 2 program by the server's setting

# token → grant; the tokens are what tests send, the grants what the API enforces.
KEYS: dict[str, ApiKey] = {
    "tok-clinic": ApiKey(
        role=Role.CLINIC_SYSTEM,
        programs=frozenset({PROGRAM, PART2_PROGRAM}),
        actor="ehr-main",
        acts_for_others=True,
    ),
    "tok-care": ApiKey(role=Role.CARE_TEAM, programs=frozenset({PROGRAM}), actor="clin-7"),
    "tok-ur": ApiKey(role=Role.UTILIZATION_REVIEW, programs=frozenset({PROGRAM}), actor="ur-3"),
    "tok-ops": ApiKey(role=Role.OPERATOR, programs=frozenset({"*"}), actor="ops-1"),
    "tok-admin": ApiKey(role=Role.PROGRAM_ADMIN, programs=frozenset({PROGRAM}), actor="admin-1"),
    "tok-care-other": ApiKey(
        role=Role.CARE_TEAM, programs=frozenset({OTHER_PROGRAM}), actor="clin-9"
    ),
}
TOKEN_FOR_ROLE = {
    Role.CLINIC_SYSTEM: "tok-clinic",
    Role.CARE_TEAM: "tok-care",
    Role.UTILIZATION_REVIEW: "tok-ur",
    Role.OPERATOR: "tok-ops",
    Role.PROGRAM_ADMIN: "tok-admin",
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def api_pg_dsn() -> Iterator[str]:
    with scratch_database("carepath-api-pg-") as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def api_pool(api_pg_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_schema_pool(api_pg_dsn, prefix="api") as pool:
        yield pool


@pytest.fixture(scope="session")
async def api_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping server for the API tests; the session-long worker polls every
    episode, so time is never held still by a finished test's workflows."""
    binary = shutil.which("temporal-test-server")
    if binary is None:
        pytest.fail("temporal-test-server is not on PATH: run the tests with `make test`")
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary, data_converter=pydantic_data_converter
    )
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def api_settings() -> ApiSettings:
    return ApiSettings(
        task_queue=f"care-episodes-api-{uuid.uuid4().hex[:8]}",
        api_keys=KEYS,
        api_temporal_timeout_seconds=10,
        part2_programs=frozenset({PART2_PROGRAM}),
    )


@pytest.fixture(scope="session")
async def api_worker(
    api_env: WorkflowEnvironment, api_pool: asyncpg.Pool, api_settings: ApiSettings
) -> AsyncIterator[None]:
    activities = CareActivities(
        PostgresRecordStore(api_pool), SandboxPayer(), PostgresPatients(api_pool)
    )
    worker = build_worker(api_env.client, task_queue=api_settings.task_queue, activities=activities)
    running = asyncio.create_task(worker.run())
    try:
        yield
    finally:
        await worker.shutdown()
        await running


@pytest.fixture(scope="session")
def api_app(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    # requested for its side effect: the episode worker runs
    api_worker: None,  # noqa: ARG001
) -> FastAPI:
    return create_app(ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings))


@pytest.fixture(scope="session")
async def api(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """In-process client (ASGI transport), no socket."""
    transport = httpx.ASGITransport(app=api_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as client:
        yield client


@pytest.fixture(scope="session")
async def api_url(api_app: FastAPI) -> AsyncIterator[str]:
    """The same app served by uvicorn on a free 127.0.0.1 port."""
    async with running_server(api_app) as url:
        yield url
