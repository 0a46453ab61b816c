"""Real PostgreSQL for store tests: DATABASE_URL when set, else an embedded pgserver.

Each test gets its own schema (search_path set on every pooled connection), migrated.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from store.migrate import migrate
from tests.pg import scratch_database


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    with scratch_database("carepath-pg-") as dsn:
        yield dsn


@pytest.fixture
async def schema(pg_dsn: str) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{name}"')
        yield name
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
    finally:
        await conn.close()


@pytest.fixture
async def bare_pool(pg_dsn: str, schema: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on an empty schema (nothing migrated)."""
    pool = await asyncpg.create_pool(
        pg_dsn, min_size=1, max_size=5, server_settings={"search_path": schema}
    )
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def pool(bare_pool: asyncpg.Pool) -> asyncpg.Pool:
    """A pool on a fresh, migrated schema."""
    await migrate(bare_pool)
    return bare_pool
