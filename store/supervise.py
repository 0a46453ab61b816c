"""Supervision for a process's background tasks (the outbox dispatcher, the API's sweepers).

A background task that dies quietly is worse than a crash: the process looks alive while
its work piles up. `supervise` runs a task's loop, and when it raises (or returns while
the process is not stopping) logs the error with its traceback, waits a growing backoff
and starts it again. A task that keeps failing, `give_up_after` times in a row without a
healthy stretch in between, raises `SupervisedTaskFailed`: the process should then exit
non-zero so that its own supervisor (systemd, Kubernetes, `make run`) restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

TaskLoop = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    """Waits between restarts: initial, doubling, capped; reset after a healthy stretch."""

    initial_s: float = 1.0
    maximum_s: float = 30.0
    healthy_after_s: float = 60.0
    give_up_after: int = 10

    def delay(self, failures: int) -> float:
        """Wait after `failures` crashes in a row (1-based)."""
        return float(min(self.maximum_s, self.initial_s * 2 ** max(failures - 1, 0)))


class SupervisedTaskFailed(RuntimeError):
    """A supervised task failed too often in a row; the process cannot go on."""


async def supervise(
    name: str,
    loop: TaskLoop,
    *,
    stop: asyncio.Event,
    backoff: Backoff | None = None,
) -> None:
    """Run `loop()` until `stop` is set, restarting it after any error (see module doc)."""
    backoff = backoff or Backoff()
    clock = asyncio.get_running_loop().time
    failures = 0
    while not stop.is_set():
        began = clock()
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background task %s failed", name)
        else:
            if stop.is_set():
                return
            log.error("background task %s ended while the process is running", name)
        failures = 1 if clock() - began >= backoff.healthy_after_s else failures + 1
        if failures >= backoff.give_up_after:
            log.critical("background task %s failed %d times in a row; giving up", name, failures)
            raise SupervisedTaskFailed(f"{name} failed {failures} times in a row")
        delay = backoff.delay(failures)
        log.warning("restarting background task %s in %.1f s", name, delay)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
