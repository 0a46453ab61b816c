"""One asyncpg pool per process, migrated on open; the store handle the worker wires in."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg

from store.channels.routing import route_by_recipient
from store.migrate import migrate
from store.outbox import Channel, Dispatcher, LogChannel, RetryPolicy
from store.outbox_wake import outbox_wakeups
from store.postgres import PostgresRecordStore
from store.supervise import Backoff, supervise
from worker.settings import Settings

if TYPE_CHECKING:  # pgserver is a development extra: the production image has none.
    from store.embedded import EmbeddedPostgres


async def resolve_dsn(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """DATABASE_URL when set; otherwise an embedded server under `settings.data_dir`."""
    if settings.database_url:
        return settings.database_url, None
    try:
        from store.embedded import start_embedded
    except ImportError as err:
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL (the `stack` extra) is not "
            "installed: set DATABASE_URL"
        ) from err
    server = await asyncio.to_thread(start_embedded, settings.data_dir)
    return server.dsn, server


async def open_pool(
    settings: Settings,
    *,
    dsn: str | None = None,
    server_settings: Mapping[str, str] | None = None,
) -> asyncpg.Pool:
    """A pool sized from settings, with every migration applied before it is handed out."""
    if dsn is None:
        dsn, _ = await resolve_dsn(settings)
    pool = await asyncpg.create_pool(
        dsn,
        min_size=settings.db_pool_min,
        max_size=settings.db_pool_max,
        server_settings=dict(server_settings or {}),
    )
    try:
        await migrate(pool)
    except BaseException:
        await pool.close()
        raise
    return pool


@dataclass
class StoreHandle:
    """What the worker process holds: the pool, the record store, and the embedded server."""

    pool: asyncpg.Pool
    records: PostgresRecordStore
    embedded: EmbeddedPostgres | None = field(default=None)

    async def close(self) -> None:
        await self.pool.close()


async def open_store(settings: Settings) -> StoreHandle:
    """Open the pool (starting the embedded server if needed) and build the record store."""
    dsn, embedded = await resolve_dsn(settings)
    pool = await open_pool(settings, dsn=dsn)
    patient_channel = settings.sms_url is not None or settings.smtp_url is not None
    records = PostgresRecordStore(pool, channel_for=route_by_recipient(patient_channel))
    return StoreHandle(pool=pool, records=records, embedded=embedded)


async def run_dispatcher(
    pool: asyncpg.Pool,
    channel: Channel | Mapping[str, Channel] | None = None,
    *,
    stop: asyncio.Event,
    poll_interval: float = 1.0,
    backoff: Backoff | None = None,
    retry: RetryPolicy | None = None,
    listen: bool = False,
) -> None:
    """Deliver outbox messages until `stop` is set (default channel: `LogChannel`).

    With `listen`, the dispatcher wakes on the outbox's NOTIFY and `poll_interval` is only
    the safety net. Supervised: an unexpected error is logged with its traceback and the
    dispatcher starts again (listening afresh) after a backoff; `SupervisedTaskFailed`
    when it keeps failing.
    """
    dispatcher = Dispatcher(
        pool, channel if channel is not None else LogChannel(), retry=retry or RetryPolicy()
    )

    async def one_run() -> None:
        if not listen:
            await dispatcher.run(stop, poll_interval=poll_interval)
            return
        async with outbox_wakeups(pool) as wake:
            await dispatcher.run(stop, poll_interval=poll_interval, wake=wake)

    await supervise("outbox dispatcher", one_run, stop=stop, backoff=backoff)


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
