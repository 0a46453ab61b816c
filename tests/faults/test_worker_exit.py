"""The worker's exit status: 1 when the worker or a supervised background task failed for
good (so systemd / Kubernetes restarts it), 0 after a clean stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from store.supervise import Backoff, SupervisedTaskFailed, supervise
from worker.__main__ import _failures


async def _done(task: asyncio.Task[None]) -> None:
    await asyncio.gather(task, return_exceptions=True)


async def _polling(stop: asyncio.Event) -> None:
    """Stands for the worker's polling: runs until the stop."""
    await stop.wait()


async def test_a_dispatcher_that_gave_up_makes_the_worker_exit_1(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = asyncio.Event()

    async def broken() -> None:
        raise ConnectionError("still broken")

    quick = Backoff(initial_s=0.0, maximum_s=0.0, give_up_after=2)
    dispatcher = asyncio.create_task(
        supervise("outbox dispatcher", broken, stop=stop, backoff=quick)
    )
    polling = asyncio.create_task(_polling(stop))
    await _done(dispatcher)
    assert isinstance(dispatcher.exception(), SupervisedTaskFailed)
    with caplog.at_level(logging.CRITICAL, logger="carepath.worker"):
        assert _failures(worker=polling, dispatcher=dispatcher) == 1
    assert "dispatcher failed; stopping the worker" in caplog.text
    stop.set()
    await _done(polling)


async def test_a_clean_stop_exits_0() -> None:
    stop = asyncio.Event()

    async def loop() -> None:
        await stop.wait()

    dispatcher = asyncio.create_task(supervise("outbox dispatcher", loop, stop=stop))
    polling = asyncio.create_task(_polling(stop))
    stop.set()
    await _done(dispatcher)
    await _done(polling)
    assert _failures(worker=polling, dispatcher=dispatcher) == 0
