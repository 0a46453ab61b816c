"""PostgreSQL for tests and benchmarks: a scratch server or database, a scratch schema.

DATABASE_URL when set, else a throwaway embedded server; each caller works in a schema of
its own, migrated, dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

from store.migrate import migrate
from worker.embedded_postgres import EmbeddedPostgres


@contextmanager
def scratch_database(prefix: str = "carepath-pg-") -> Iterator[str]:
    """A DSN for tests and benchmarks: DATABASE_URL when set, else a throwaway embedded
    server in a temporary folder that is removed afterwards."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    server = EmbeddedPostgres(folder / "pg", delete=True)
    try:
        yield server.dsn
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def scratch_schema_pool(
    dsn: str, *, prefix: str, min_size: int = 1, max_size: int = 10
) -> AsyncIterator[asyncpg.Pool]:
    """A migrated pool on a schema of its own, dropped afterwards (tests and benchmarks)."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(dsn)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, server_settings={"search_path": schema}
    )
    try:
        await migrate(pool)
        yield pool
    finally:
        await pool.close()
        conn = await asyncpg.connect(dsn)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
