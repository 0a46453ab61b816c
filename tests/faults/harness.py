"""The stack a fault test breaks: `worker.stack`'s parts as separate processes it can kill.

A Temporal dev server on a SQLite file (so it can be restarted and keep its state), an
embedded PostgreSQL of the test's own (so it can be stopped), `python -m worker` with the
signed webhook aimed at a receiver on 127.0.0.1 that counts deliveries by message ID, and
`python -m api`. The clinic drives episodes over HTTP with a client that retries the way
the README tells clients to (same Idempotency-Key, on 503, 409 request-in-progress and a
dropped connection) and remembers every answer, so a test can assert that nothing was
answered 500 and that every accepted submission was recorded exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkflowExecutionRequest,
)
from temporalio.client import Client

from config.settings import Settings
from tests.store.store_receiver import Receiver, serving
from tests.test_stack import free_ports
from worker.embedded_postgres import EmbeddedPostgres
from worker.stack import Stack, dev_api_keys, wait_for_port

WEBHOOK_SECRET = "fault-test-webhook-secret"
PROGRAM = "p-faults"
# Retry for at most this long per call: longer than any outage a test causes.
RETRY_FOR_S = 120.0


def phq9_items(total: int, item9: int = 0) -> list[int]:
    items = [0] * 9
    items[8] = item9
    remaining = total - item9
    for i in range(8):
        items[i] = min(3, remaining)
        remaining -= items[i]
    return items


@dataclass
class Answer:
    """The last answer a retrying call got, and every status it saw on the way."""

    status: int
    body: Any
    seen: list[int]


@dataclass
class FaultStack:
    stack: Stack
    receiver: Receiver
    api_url: str
    temporal_address: str
    keys: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    dropped: int = 0  # calls that got no answer (connection refused or cut mid-request)

    # ---------------------------------------------------------------- processes

    def process(self, name: str) -> subprocess.Popen[bytes]:
        for child_name, process in self.stack.children:
            if child_name == name and process.poll() is None:
                return process
        raise AssertionError(f"{name} is not running")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.process(name)
        os.killpg(process.pid, sig)
        process.wait(timeout=30)
        self.stack.children = [(n, p) for n, p in self.stack.children if p is not process]

    def start_worker(self) -> int:
        self.stack.start_python("worker", "worker")
        return self.process("worker").pid

    def start_api(self) -> None:
        self.stack.start_python("api", "api")

    async def api_listening(self) -> None:
        await wait_for_port("127.0.0.1", int(self.api_url.rsplit(":", 1)[1]), stack=self.stack)

    def stop_temporal(self) -> None:
        self.kill("temporal", signal.SIGTERM)

    def start_temporal_again(self) -> None:
        """Start the dev server on its SQLite file again, after `stop_temporal`."""
        self.stack.start_temporal()
        # The API and the worker stay up and reconnect by themselves; keep Temporal last
        # to stop (the stack stops its children newest first).
        self.stack.children.sort(key=lambda child: child[0] != "temporal")

    async def temporal_listening(self) -> None:
        host, port = self.temporal_address.rsplit(":", 1)
        await wait_for_port(host, int(port), stack=self.stack)

    async def pollers(self) -> set[str]:
        """Identities polling the workflow task queue (a worker's is `pid@host`)."""
        client = await Client.connect(self.temporal_address)
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace="default",
                task_queue=TaskQueue(name=self.stack.settings.task_queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        return {poller.identity for poller in answer.pollers}

    async def wait_polling(self, pid: int) -> float:
        """Wait until worker `pid` polls the task queue; the loop time it was seen."""
        loop = asyncio.get_running_loop()
        for _ in range(600):
            with contextlib.suppress(Exception):
                if any(identity.startswith(f"{pid}@") for identity in await self.pollers()):
                    return loop.time()
            await asyncio.sleep(0.05)
        raise AssertionError(f"worker {pid} never polled")

    async def task_timeout(self, episode_id: str) -> timedelta:
        """The workflow task timeout Temporal holds for the episode."""
        client = await Client.connect(self.temporal_address)
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace="default",
                execution=WorkflowExecution(workflow_id=f"care-episode-{episode_id}"),
            )
        )
        timeout: timedelta = described.execution_config.default_workflow_task_timeout.ToTimedelta()
        return timeout

    async def stop_postgres(self) -> None:
        await asyncio.to_thread(self._embedded().stop)

    async def start_postgres(self) -> None:
        """Start PostgreSQL again; a start that fails on a loaded machine is tried again."""
        embedded = self._embedded()
        for attempt in range(3):
            try:
                await asyncio.to_thread(embedded.start)
                return
            except subprocess.CalledProcessError:
                log = embedded.pgdata / "log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
                if attempt == 2:
                    raise AssertionError(f"PostgreSQL did not start again:\n{tail}") from None
                print(f"PostgreSQL start failed, trying again:\n{tail}")
                await asyncio.sleep(1.0)

    def _embedded(self) -> EmbeddedPostgres:
        assert self.stack.embedded is not None
        return self.stack.embedded

    async def pool(self) -> asyncpg.Pool:
        return await asyncpg.create_pool(self.stack.env["DATABASE_URL"], min_size=1, max_size=2)

    # ------------------------------------------------------------------ the API

    async def call(
        self,
        http: httpx.AsyncClient,
        method: str,
        path: str,
        *,
        role: str,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Answer:
        """One call, retried as a client should until it gets a final answer."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RETRY_FOR_S
        seen: list[int] = []
        while True:
            try:
                response = await http.request(
                    method, self.api_url + path, json=body, headers=headers
                )
            except httpx.TransportError:
                seen.append(0)  # no answer: connection refused or dropped mid-request
                self.dropped += 1
            else:
                seen.append(response.status_code)
                self.statuses.append(response.status_code)
                if not _retry(response):
                    return Answer(response.status_code, response.json(), seen)
            if loop.time() > deadline:
                raise AssertionError(f"{method} {path}: no final answer; saw {seen}")
            await asyncio.sleep(0.25)


def _retry(response: httpx.Response) -> bool:
    if response.status_code == 503:
        return True
    if response.status_code == 409:
        return "request-in-progress" in str(response.json().get("type", ""))
    return False


@asynccontextmanager
async def fault_stack(root: Path) -> AsyncIterator[FaultStack]:
    """Everything up and ready (API listening, worker polling); stopped on the way out."""
    temporal_port, ui_port, api_port, codec_port = free_ports(4)
    receiver = Receiver(WEBHOOK_SECRET)
    async with serving(receiver) as hook_url:
        settings = Settings(
            data_dir=root / "data",
            temporal_address=f"127.0.0.1:{temporal_port}",
            temporal_ui_port=ui_port,
            api_host="127.0.0.1",
            api_port=api_port,
            task_queue=f"care-episodes-faults-{uuid.uuid4().hex[:6]}",
        )
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("CAREPATH_") and name != "DATABASE_URL"
        }
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "CAREPATH_DATA_DIR": str(settings.data_dir),
                "CAREPATH_TEMPORAL_ADDRESS": settings.temporal_address,
                "CAREPATH_TEMPORAL_UI_PORT": str(ui_port),
                "CAREPATH_TASK_QUEUE": settings.task_queue,
                "CAREPATH_API_HOST": "127.0.0.1",
                "CAREPATH_API_PORT": str(api_port),
                "CAREPATH_CODEC_PORT": str(codec_port),
                "CAREPATH_WEBHOOK_URL": hook_url,
                "CAREPATH_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "CAREPATH_PAYER": "sandbox",
                # A dead dispatcher's claimed messages go out again after 10 s, not 2 min;
                # a dead API's Idempotency-Key claims are free again after 5 s, not 60 s.
                "CAREPATH_OUTBOX_LEASE_SECONDS": "10",
                "CAREPATH_API_IDEMPOTENCY_LEASE_SECONDS": "5",
                # A short API deadline: a call that cannot be answered says 503 quickly.
                "CAREPATH_API_TEMPORAL_TIMEOUT_SECONDS": "5",
            }
        )
        logs = root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        stack = Stack(settings, env=env, log_dir=logs)
        try:
            stack.prepare()
            stack.start_database()
            stack.start_temporal()
            faults = FaultStack(
                stack=stack,
                receiver=receiver,
                api_url=f"http://127.0.0.1:{api_port}",
                temporal_address=settings.temporal_address,
            )
            await faults.temporal_listening()
            worker_pid = faults.start_worker()
            faults.start_api()
            await faults.api_listening()
            await faults.wait_polling(worker_pid)
            faults.keys = {
                str(grant["role"]): token for token, grant in dev_api_keys(stack.data_dir).items()
            }
            yield faults
        finally:
            await asyncio.to_thread(stack.stop)
