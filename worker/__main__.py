"""`python -m worker` (or `carepath-worker`): run the CareEpisode worker until SIGTERM.

Builds the encrypted client, the PostgreSQL store (with its outbox dispatcher) and the
payer adapter from settings, then polls the task queue. SIGTERM or Ctrl-C stops polling,
lets running tasks finish, and closes everything in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from contextlib import AsyncExitStack

from activities.care import CareActivities
from store.pool import open_store, run_dispatcher
from worker.adapters import build_channel, build_payer, check_integrations, fallback_notifier
from worker.client import connect
from worker.runtime import build_worker
from worker.settings import Settings, load_settings

log = logging.getLogger("carepath.worker")


async def run(settings: Settings, stop: asyncio.Event) -> None:
    async with AsyncExitStack() as stack:
        client = await connect(settings)
        store = await open_store(settings)
        stack.push_async_callback(store.close)
        payer = await build_payer(settings, stack)
        activities = CareActivities(store.records, fallback_notifier(), payer)
        dispatcher = asyncio.create_task(
            run_dispatcher(store.pool, build_channel(settings), stop=stop)
        )
        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            activities=activities,
            max_concurrent_activities=settings.max_concurrent_activities,
            graceful_shutdown_seconds=settings.graceful_shutdown_seconds,
        )
        log.info(
            "worker polling task queue %s on %s (namespace %s)",
            settings.task_queue,
            settings.temporal_address,
            settings.temporal_namespace,
        )
        polling = asyncio.create_task(worker.run())
        await asyncio.wait(
            [polling, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED"
        )
        stop.set()
        log.info("stopping: finishing running tasks")
        await worker.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        await dispatcher
    log.info("worker stopped")


def main() -> None:
    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    check_integrations(settings)  # fail closed before connecting to anything

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(settings, stop)

    asyncio.run(_main())
    # temporalio's native threads can abort the interpreter during finalization; everything
    # is closed by now, so leave with the status of a clean shutdown.
    logging.shutdown()
    os._exit(0)


if __name__ == "__main__":
    main()
