"""A weekly review costs the API three PostgreSQL round trips: the ledger's claim + audit
row, the attendance check (policy, rosters and approvals in one statement), and the
stored answer + finished row. Counted with asyncpg's query logger on a pool opened as
the API opens its own (store/pool.py, `reset_sessions=False`), so releasing a connection
adds nothing; with asyncpg's default reset each of the three releases would add one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from asyncpg.connection import LoggedQuery
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiSettings
from store.pool import open_pool
from tests.api import bodies
from tests.api.conftest import bearer
from tests.api.test_api_episodes import enrolled_episode

CARE = bearer("tok-care")


class Statements:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def log(self, query: LoggedQuery) -> None:
        self.seen.append(" ".join(query.query.split()))

    async def watch(self, conn: asyncpg.Connection) -> None:
        conn.add_query_logger(self.log)


async def _logged() -> None:
    """Query loggers run from `loop.call_soon`: let them in."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def watched(
    api_pg_dsn: str, api_pool: asyncpg.Pool
) -> AsyncIterator[tuple[asyncpg.Pool, Statements]]:
    schema: str = await api_pool.fetchval("SELECT current_schema()")
    statements = Statements()
    pool = await open_pool(
        api_pg_dsn,
        min_size=1,
        max_size=4,
        server_settings={"search_path": schema},
        reset_sessions=False,
        init=statements.watch,
    )
    try:
        yield pool, statements
    finally:
        await pool.close()


@pytest.mark.parametrize("idempotency_key", [False, True])
async def test_a_review_is_three_round_trips(
    api: httpx.AsyncClient,
    api_env: WorkflowEnvironment,
    api_settings: ApiSettings,
    watched: tuple[asyncpg.Pool, Statements],
    idempotency_key: bool,
) -> None:
    pool, statements = watched
    app = create_app(ApiDeps(client=api_env.client, pool=pool, settings=api_settings))
    episode_id = await enrolled_episode(api, api_env)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://carepath.test") as own:

        async def review() -> list[str]:
            await _logged()
            statements.seen.clear()
            key = {"Idempotency-Key": bodies.new_id("key")} if idempotency_key else {}
            headers = {**CARE, **key}
            answer = await own.post(
                f"/v1/episodes/{episode_id}/reviews", json=bodies.review(), headers=headers
            )
            assert answer.status_code == 200, answer.text
            await _logged()
            return list(statements.seen)

        first = await review()  # this app's first sight of the episode: its program too
        assert any("FROM episodes" in s for s in first), first
        seen = await review()
    assert len(seen) == 3, seen
    attendance, claim, answer = seen
    assert "FROM program_attendance_policy" in attendance
    assert "FROM attendance" in attendance and "FROM authorizations" in attendance
    assert claim.startswith("WITH claimed AS" if idempotency_key else "INSERT INTO api_calls")
    assert answer.startswith("WITH stored AS" if idempotency_key else "UPDATE api_calls")
