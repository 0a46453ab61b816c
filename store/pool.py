"""One asyncpg pool per process, migrated before it is handed out.

Plain values in: the caller says where the database is (a DSN) and how big the pool is.
Nothing here starts a server; `make run` (worker/stack.py) and the test helpers
(tests/pg.py) bring their own embedded PostgreSQL and pass its DSN.
"""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg

from store.migrate import migrate


async def open_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """A pool on `dsn`, with every migration applied before it is handed out."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings=dict(server_settings or {}),
    )
    try:
        await migrate(pool)
    except BaseException:
        await pool.close()
        raise
    return pool
