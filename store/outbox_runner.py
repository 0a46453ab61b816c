"""The outbox dispatcher as a long-running, supervised task of the worker process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg

from store.outbox import Channel, Dispatcher, LogChannel, RetryPolicy
from store.outbox_wake import outbox_wakeups
from store.supervise import Backoff, supervise


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
