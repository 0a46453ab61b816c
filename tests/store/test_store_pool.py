"""open_pool takes plain values and never starts a server; a process without DATABASE_URL
stops with a clear error instead of starting a database of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import pytest

from config.settings import DatabaseNotConfigured, Settings
from store.pool import open_pool
from store.postgres import PostgresRecordStore
from tests.store.store_builders import batch, snapshot
from worker.__main__ import run as run_worker


async def test_open_pool_is_sized_as_asked_and_migrated(pg_dsn: str, schema: str) -> None:
    pool = await open_pool(pg_dsn, min_size=1, max_size=2, server_settings={"search_path": schema})
    try:
        assert pool.get_max_size() == 2
        await PostgresRecordStore(pool).apply(batch(1, snapshot("pool-ep")))
        assert await pool.fetchval("SELECT count(*) FROM episodes") == 1
    finally:
        await pool.close()


async def test_pooled_connections_know_record_arrays_before_their_first_statement(
    pg_dsn: str, schema: str
) -> None:
    """A bare asyncpg connection reads the catalogue (typeinfo) on its first `record[]`
    result; a connection from open_pool learned it when it opened, so a request's
    statement is the only one sent (and the caller's `init` still ran)."""
    probe = "SELECT ARRAY[ROW(1, 'x'::text)] AS rows"

    def watch(seen: list[str]) -> Callable[[asyncpg.Connection], Coroutine[Any, Any, None]]:
        async def init(conn: asyncpg.Connection) -> None:
            conn.add_query_logger(lambda query: seen.append(query.query))

        return init

    bare: list[str] = []
    conn = await asyncpg.connect(pg_dsn)
    try:
        await watch(bare)(conn)
        assert await conn.fetchval(probe) == [(1, "x")]
    finally:
        await conn.close()
    assert any("typeinfo" in query for query in bare), bare

    pooled: list[str] = []
    pool = await open_pool(  # as the API opens its pool (no reset round trip on release)
        pg_dsn,
        min_size=1,
        max_size=1,
        server_settings={"search_path": schema},
        reset_sessions=False,
        init=watch(pooled),
    )
    try:
        assert await pool.fetchval(probe) == [(1, "x")]
    finally:
        await pool.close()
    assert pooled == [probe]


def test_no_database_url_is_a_clear_error() -> None:
    settings = Settings(DATABASE_URL=None)
    with pytest.raises(DatabaseNotConfigured, match="DATABASE_URL is not set"):
        settings.require_database_url()
    assert Settings(DATABASE_URL="postgresql://db/x").require_database_url() == (
        "postgresql://db/x"
    )


async def test_the_worker_refuses_to_start_without_database_url() -> None:
    """Before it connects to anything, and without starting an embedded server."""
    settings = Settings(DATABASE_URL=None, temporal_address="127.0.0.1:1")
    with pytest.raises(DatabaseNotConfigured):
        await run_worker(settings, asyncio.Event())
