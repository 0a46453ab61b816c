"""One CareEpisode worker process for `make bench-scale` (bench/scale_bench.py).

A process of its own so that its memory (RSS) is the worker's alone and so that the bench
can run several on one task queue and stop one with SIGTERM. Its adapters keep nothing:
records are discarded (the store is PostgreSQL's business, measured by the store bench)
and the sandbox payer answers at once, so the RSS is the workflow cache and the SDK.

Prints `ready` on stdout once polling, and nothing else there: from its start, file
descriptor 1 is its stderr (the Temporal core writes its console log to fd 1, and the
bench reads only that one line). Runs until SIGTERM, SIGINT or SIGHUP (graceful: the
worker's shutdown lets running tasks finish, as `python -m worker` does; stderr names the
signal's sender) and exits 0; any other end is loud, on stderr and in the exit status
(`EXIT_*`; a native crash prints every thread's stack).
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import logging
import os
import signal
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.care import CareActivities
from activities.payer_sandbox import SandboxPayer
from config.tuning import WorkerTuning
from schemas.records import EffectBatch
from worker.runtime import build_worker

# The worker failed (its exception is on stderr).
EXIT_FAILED = 1
# `Worker.run()` returned although nobody asked it to stop: the Temporal core shut the
# worker down by itself (a poll error it treats as fatal, or its poller ended). The SDK
# then returns normally without raising; its hidden error is printed on the way out.
EXIT_STOPPED_ON_ITS_OWN = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _say(message: str) -> None:
    print(f"scale worker: {message}", file=sys.stderr, flush=True)


def _sender(pid: int) -> str:
    if pid == os.getppid():
        return "the bench"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return "a process that has ended"
    return cmdline.decode(errors="replace").strip()[:200]


def _wait_for_a_stop_signal(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """A thread: the first stop signal, with who sent it (a stray `pkill` names itself)."""
    info = signal.sigwaitinfo(STOP_SIGNALS)
    name = signal.Signals(info.si_signo).name
    _say(f"signal {name} from pid {info.si_pid} ({_sender(info.si_pid)}), stopping")
    loop.call_soon_threadsafe(stop.set)


class DiscardingStore:
    """Takes every batch (and its messages) and keeps nothing."""

    async def apply(self, batch: EffectBatch) -> None:  # noqa: ARG002
        return None


async def serve(args: argparse.Namespace, ready: TextIO) -> int:
    """Poll until a stop signal; the process's exit status."""
    client = await Client.connect(
        args.address, namespace=args.namespace, data_converter=pydantic_data_converter
    )
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
    threading.Thread(target=_wait_for_a_stop_signal, args=(loop, stop), daemon=True).start()
    polling = asyncio.create_task(worker.run())
    print("ready", file=ready, flush=True)
    ready.close()
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([polling, stopped], return_when="FIRST_COMPLETED")
    if not polling.done():
        await worker.shutdown()
        await asyncio.gather(polling, return_exceptions=True)
        return 0
    stopped.cancel()
    error = polling.exception()
    if error is not None:
        _say(f"the worker failed: {error!r} (caused by {error.__cause__!r})")
        return EXIT_FAILED
    # The SDK's failed poller task was never retrieved: collecting it makes asyncio
    # print its exception ("Task exception was never retrieved") before we exit.
    gc.collect()
    await asyncio.sleep(0)
    _say(
        "the Temporal worker stopped polling without being asked to (the core shut it "
        "down: a poll error it treats as fatal); exiting with status "
        f"{EXIT_STOPPED_ON_ITS_OWN}"
    )
    return EXIT_STOPPED_ON_ITS_OWN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--max-cached", type=int, required=True)
    parser.add_argument("--workflow-slots", type=int, default=100)
    parser.add_argument("--activity-slots", type=int, default=50)
    parser.add_argument("--sticky-seconds", type=float, default=2.0)
    parser.add_argument("--graceful-shutdown-seconds", type=float, default=10.0)
    args = parser.parse_args()
    # Stop signals wait for `sigwaitinfo` (which tells their sender): blocked here, before
    # the Temporal core starts its threads, so that every thread inherits the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    # fd 1 is the pipe the bench reads `ready` from, and nothing after it: a pipe nobody
    # reads fills (64 KiB) and then blocks its writer, which here would be the Temporal
    # core's threads writing their console log. Everything but `ready` goes to stderr.
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    # A native crash (SIGSEGV, SIGABRT, ...) prints every thread's Python stack.
    faulthandler.enable(file=sys.stderr, all_threads=True)
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s scale worker %(levelname)s %(name)s: %(message)s",
    )
    try:
        code = asyncio.run(serve(args, ready))
    except BaseException as error:  # reported; the status says so
        logging.getLogger("bench.scale_worker").exception("the worker failed")
        code = 130 if isinstance(error, KeyboardInterrupt) else EXIT_FAILED
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal core's native threads can abort a finalizing interpreter.
    os._exit(code)


if __name__ == "__main__":
    main()
