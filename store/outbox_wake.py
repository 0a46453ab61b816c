"""Wake the outbox dispatcher when a message is queued: PostgreSQL LISTEN/NOTIFY.

Migration 0300 notifies `carepath_outbox` after every insert into the outbox (once per
statement, delivered at commit) and a resend notifies by itself. One connection per
dispatcher listens and sets an `asyncio.Event`; the dispatcher still polls slowly, so a
notification lost while the listener reconnects delays a message, never loses it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from store.dbtypes import Db

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "carepath_outbox"


async def notify_outbox(db: Db) -> None:
    """Tell listening dispatchers that a message is due now (used by a resend)."""
    await db.execute("SELECT pg_notify($1, '')", OUTBOX_CHANNEL)


@asynccontextmanager
async def outbox_wakeups(pool: asyncpg.Pool) -> AsyncIterator[asyncio.Event]:
    """An event set whenever the outbox is notified, for as long as the context lasts.

    The listening connection is taken from the pool and given back (unlistened) at the end.
    """
    wake = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wake.set()

    conn = await pool.acquire()
    try:
        await conn.add_listener(OUTBOX_CHANNEL, on_notify)
        wake.set()  # a first pass at once: anything queued before we listened
        yield wake
    finally:
        try:
            await conn.remove_listener(OUTBOX_CHANNEL, on_notify)
        except Exception:  # the connection may be gone; the pool discards it
            log.debug("outbox listener already closed")
        await pool.release(conn)
