"""One CareEpisode worker process for `make bench-scale` (bench/scale_bench.py).

A process of its own so that its memory (RSS) is the worker's alone and so that the bench
can run several on one task queue and stop one with SIGTERM. Its adapters keep nothing:
records are discarded (the store is PostgreSQL's business, measured by the store bench)
and the sandbox payer answers at once, so the RSS is the workflow cache and the SDK.

Prints `ready` on stdout once polling, then runs until SIGTERM (graceful: the worker's
shutdown lets running tasks finish, as `python -m worker` does).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.care import CareActivities
from activities.payer_sandbox import SandboxPayer
from config.tuning import WorkerTuning
from schemas.records import EffectBatch
from worker.runtime import build_worker


class DiscardingStore:
    """Takes every batch (and its messages) and keeps nothing."""

    async def apply(self, batch: EffectBatch) -> None:  # noqa: ARG002
        return None


async def serve(args: argparse.Namespace) -> None:
    client = await Client.connect(args.address, data_converter=pydantic_data_converter)
    activities = CareActivities(DiscardingStore(), SandboxPayer())
    worker = build_worker(
        client,
        task_queue=args.task_queue,
        activities=activities,
        tuning=WorkerTuning(
            max_cached_workflows=args.max_cached,
            max_concurrent_workflow_tasks=args.workflow_slots,
            max_concurrent_activities=args.activity_slots,
        ),
        graceful_shutdown_seconds=args.graceful_shutdown_seconds,
        sticky_schedule_to_start=timedelta(seconds=args.sticky_seconds),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):

        def stopping(signum: int = signum) -> None:
            print(f"scale worker {os.getpid()}: signal {signum}, stopping", file=sys.stderr)
            stop.set()

        loop.add_signal_handler(signum, stopping)
    polling = asyncio.create_task(worker.run())
    print("ready", flush=True)
    await asyncio.wait([polling, asyncio.create_task(stop.wait())], return_when="FIRST_COMPLETED")
    if polling.done() and polling.exception() is not None:
        print(f"scale worker {os.getpid()}: {polling.exception()!r}", file=sys.stderr)
    await worker.shutdown()
    await polling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-cached", type=int, required=True)
    parser.add_argument("--workflow-slots", type=int, default=100)
    parser.add_argument("--activity-slots", type=int, default=50)
    parser.add_argument("--sticky-seconds", type=float, default=2.0)
    parser.add_argument("--graceful-shutdown-seconds", type=float, default=10.0)
    asyncio.run(serve(parser.parse_args()))
    sys.stdout.flush()
    # The Temporal core's native threads can abort a finalizing interpreter.
    os._exit(0)


if __name__ == "__main__":
    main()
