"""A clock the IOP-week tests set (a session's end, a correction window's close, the next
morning), and the API client whose app reads it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from tests.clock import Clock as Clock  # re-exported: the clock the client's app reads


@asynccontextmanager
async def clocked_client(
    env: WorkflowEnvironment, pool: asyncpg.Pool, settings: ApiSettings, clock: Clock
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(ApiDeps(client=env.client, pool=pool, settings=settings, clock=clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as client:
        yield client
