"""A bench worker that ends unasked is loud: the bench reports how it ended (the signal or
exit status) and its last stderr lines, and nothing the worker writes can fill a pipe
nobody reads (its stdout carries `ready` and nothing more)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bench.scale_bench import Fleet, WorkerExited

pytestmark = pytest.mark.devserver


def _fleet(env: WorkflowEnvironment) -> Fleet:
    return Fleet(
        env.client.service_client.config.target_host,
        f"scale-exit-{uuid.uuid4().hex[:6]}",
        max_cached=10,
        workflow_slots=10,
        graceful_shutdown_seconds=1.0,
    )


async def test_after_ready_the_workers_stdout_is_its_stderr(dev_env: WorkflowEnvironment) -> None:
    fleet = _fleet(dev_env)
    try:
        worker = await fleet.start()
        fds = Path(f"/proc/{worker.process.pid}/fd")
        # The Temporal core writes its console log to fd 1; the bench reads one line there.
        assert os.readlink(fds / "1") == os.readlink(fds / "2")
    finally:
        await fleet.close()


async def test_a_worker_ending_unasked_reports_its_exit_and_last_words(
    dev_env: WorkflowEnvironment,
) -> None:
    fleet = _fleet(dev_env)
    try:
        hung_up = await fleet.start()
        killed = await fleet.start()
        hung_up.process.send_signal(signal.SIGHUP)  # not the bench's stop: unasked
        with pytest.raises(WorkerExited) as ended:
            await fleet.guarded(asyncio.sleep(120))
        assert ended.value.pid == hung_up.process.pid
        assert ended.value.returncode == 0
        assert "after a stop signal" in ended.value.how
        said = f"signal SIGHUP from pid {os.getpid()} (the bench), stopping"
        assert any(said in line for line in ended.value.tail), ended.value.tail
        assert said in str(ended.value)

        fleet.workers.remove(hung_up)
        killed.process.send_signal(signal.SIGKILL)
        with pytest.raises(WorkerExited) as ended:
            await fleet.guarded(asyncio.sleep(120))
        assert ended.value.returncode == -signal.SIGKILL
        figures = ended.value.figures()
        assert figures["scale_worker_exit_status"] == -9
        assert "killed by SIGKILL" in figures["scale_worker_exit"]
        assert "OOM killer (dmesg)" not in figures["scale_worker_exit"]  # this test did it
        assert figures["scale_worker_last_rss_mib"] > 0
    finally:
        await fleet.close()
