"""The outbox dispatcher as a long-running, supervised task of the worker process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg

from store.channels.escalation import run_escalations
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
    escalate_every_s: float | None = None,
) -> None:
    """Deliver outbox messages until `stop` is set (default channel: `LogChannel`).

    With `listen`, the dispatcher wakes on the outbox's NOTIFY and `poll_interval` is only
    the safety net. Supervised: an unexpected error is logged with its traceback and the
    dispatcher starts again (listening afresh) after a backoff; `SupervisedTaskFailed`
    when it keeps failing. With `escalate_every_s`, the care team's follow-through ladder
    (`store.channels.escalation`) runs beside it, supervised on its own.
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

    dispatching = supervise("outbox dispatcher", one_run, stop=stop, backoff=backoff)
    if escalate_every_s is None:
        await dispatching
        return

    async def escalating() -> None:
        await run_escalations(pool, stop, interval_s=escalate_every_s)

    await asyncio.gather(
        dispatching,
        supervise("task escalation", escalating, stop=stop, backoff=backoff),
    )
