"""One asyncpg pool per process, migrated before it is handed out.

Plain values in: the caller says where the database is (a DSN) and how big the pool is.
Nothing here starts a server; `make run` (worker/stack.py) and the test helpers
(tests/pg.py) bring their own embedded PostgreSQL and pass its DSN.

Releasing a connection back to an asyncpg pool normally costs a round trip
(`Connection.reset()`: `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`),
awaited on the request's path. A process whose code leaves no session state on pooled
connections (no session advisory locks, cursors WITH HOLD, LISTEN, session-level SET or
set_config, temporary tables) opens its pool with `reset_sessions=False`: a release then
sends nothing, unless a transaction is still open, which asyncpg rolls back whatever the
setting. The API does (api/serve.py; tests/api/test_api_pool_session_state.py holds it to
that); the worker does not (its outbox dispatcher LISTENs on a pooled connection).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import asyncpg

from store.migrate import migrate


async def keep_session(conn: asyncpg.Connection) -> None:
    """A pool `reset` that sends nothing: for code that leaves no session state behind.

    asyncpg still rolls back a transaction left open and drops the connection's
    listener callbacks before calling it (asyncpg.pool.PoolConnectionHolder.release)."""


def pool_reset(
    reset_sessions: bool,
) -> Callable[[asyncpg.Connection], Awaitable[None]] | None:
    """The `reset=` to give `asyncpg.create_pool` (None: asyncpg's full reset)."""
    return None if reset_sessions else keep_session


async def learn_types(conn: asyncpg.Connection) -> None:
    """Teach a new connection `record[]`, which asyncpg has no built-in codec for and learns
    from the catalogue on the first statement that returns one (four round trips, ~6-9 ms):
    the Today page's statement returns its lists as `record[]`, and that cost would fall on
    the first Today request each pooled connection serves (a p99 of 200 requests is its
    second-slowest)."""
    await conn.fetchval("SELECT ARRAY[ROW(1)]")


def _opened(
    init: Callable[[asyncpg.Connection], Coroutine[Any, Any, None]] | None,
) -> Callable[[asyncpg.Connection], Coroutine[Any, Any, None]]:
    async def opened(conn: asyncpg.Connection) -> None:
        await learn_types(conn)
        if init is not None:
            await init(conn)

    return opened


async def open_pool(
    dsn: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    server_settings: Mapping[str, str] | None = None,
    reset_sessions: bool = True,
    init: Callable[[asyncpg.Connection], Coroutine[Any, Any, None]] | None = None,
) -> asyncpg.Pool:
    """A pool on `dsn`, with every migration applied before it is handed out.

    The migrations run on a connection of their own (they take a session advisory lock),
    never on one the pool hands out later. `reset_sessions=False`: see the module's note.
    Every new connection of the pool learns `record[]` first (`learn_types`), then runs
    `init` (the benchmark's query logger) when given.
    """
    settings = dict(server_settings or {})
    conn = await asyncpg.connect(dsn, server_settings=settings)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings=settings,
        reset=pool_reset(reset_sessions),
        init=_opened(init),
    )
    return pool
