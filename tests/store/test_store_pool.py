"""open_pool takes plain values and never starts a server; a process without DATABASE_URL
stops with a clear error instead of starting a database of its own."""

from __future__ import annotations

import asyncio

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
