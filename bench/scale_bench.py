"""`make bench-scale`: many open episodes on one Temporal dev server, measured as a
reliability engineer would; ONE JSON object on stdout.

What it does, in one run:

1. starts a dev server and `--workers` worker processes (bench/scale_worker.py) on one
   task queue, each with the cache size the settings would give it;
2. opens episodes (start, then an assessment that enrolls them at IOP with no
   authorization needed), all left in treatment waiting on their review timers: first
   `baseline` (500) of them, measures, then up to `--episodes` (10,000), measures again:
   `scale_review_p50_ms` / `_p99_ms` (a `submit_review` update on a random open episode)
   and `scale_query_p99_ms` (the `state` query), at N and at the baseline, and
   `scale_review_p99_ratio` = p99 at N / p99 at the baseline;
3. `scale_worker_rss_mib` (each worker's RSS at N; the largest is the figure),
   `scale_worker_base_rss_mib` (before any episode), `scale_worker_mib_per_cached_episode`;
4. `scale_replay_ms_per_event`: cold replay of recorded histories with `Replayer`, per event;
5. with two workers or more, a handover: updates from 4 callers while one worker is
   stopped with SIGTERM; every update must answer (`scale_handover_errors`), exactly once
   (`scale_handover_answered_once`, `scale_handover_applied_once`: from the answers and
   from the histories), and the histories show the workers sharing the episodes
   (`scale_handover_workers_serving`, `scale_handover_episodes_moved`);
6. `scale_restart_to_answer_s`: every worker stopped, a fresh one started; the time from
   its start to its first answer on a (necessarily cold) episode;
7. `scale_dev_server_cpu_pct`: the dev server's CPU time over wall time (100 = one core),
   while episodes were opened and while they were measured.

`--records N` adds the store bench's large part (bench/store_bench.py `run_scale_store_bench`)
to the same JSON. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Replayer

from bench.scale_worker import EXIT_STOPPED_ON_ITS_OWN
from bench.workflow_bench import Adapters, Clinic, fetch_chain, phq9
from config.settings import Settings
from config.tuning import REST_SETTLE_SECONDS
from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.submissions import AssessmentSubmission, LevelDetermination, ReviewSubmission
from schemas.view import EpisodeView
from worker.registration import start_dev_server
from workflows.care_episode import CareEpisode

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_EPISODES = int(os.environ.get("CAREPATH_SCALE_EPISODES", "10000"))
BASELINE = 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
T = TypeVar("T")


def _say(message: str) -> None:
    print(f"bench-scale: {message}", file=sys.stderr, flush=True)


def _p(samples: list[float], pct: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def _descendants() -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [os.getpid()]
    while frontier:
        parent = frontier.pop()
        kids = [pid for pid, ppid in parents.items() if ppid == parent]
        found += kids
        frontier += kids
    return found


def _dev_server_pid() -> int | None:
    for pid in _descendants():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"start-dev" in cmdline:
            return pid
    return None


class CpuMeter:
    """CPU time of one process over wall time, in % of one core."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self._began = (time.perf_counter(), _cpu_s(pid) if pid else 0.0)

    def percent(self) -> float | None:
        if self.pid is None:
            return None
        wall = time.perf_counter() - self._began[0]
        return round(100 * (_cpu_s(self.pid) - self._began[1]) / max(wall, 1e-9), 1)


TAIL_LINES = 40
SLOW_TASK_WARNING = "TMPRL1104"


def _kernel_log() -> str | None:
    try:
        found = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout if found.returncode == 0 else None


def describe_exit(returncode: int, pid: int | None = None) -> str:
    """A worker's exit status in words (for SIGKILL, whether the OOM killer says it was it)."""
    if returncode < 0:
        name = signal.Signals(-returncode).name
        if -returncode != signal.SIGKILL:
            return f"killed by {name}"
        log = _kernel_log() if pid is not None else None
        if log is None:
            return f"killed by {name} (the OOM killer or another process; dmesg unreadable)"
        if f"Killed process {pid} " in log:
            return f"killed by {name} from the kernel's OOM killer (dmesg)"
        return f"killed by {name} from another process (no OOM kill of it in dmesg)"
    if returncode == EXIT_STOPPED_ON_ITS_OWN:
        return "stopped polling on its own (the Temporal core shut the worker down)"
    if returncode == 0:  # it took a stop signal the bench did not send: its lines say whose
        return "exited with status 0 after a stop signal (its last lines name the sender)"
    return f"exited with status {returncode}"


class WorkerExited(RuntimeError):
    """A worker ended that the bench did not stop; what it last said comes with it."""

    def __init__(self, pid: int, returncode: int, tail: list[str], rss_mib: float | None):
        self.pid = pid
        self.returncode = returncode
        self.tail = tail
        self.rss_mib = rss_mib
        self.how = describe_exit(returncode, pid)
        super().__init__(
            f"worker {pid} {self.how}; RSS last seen "
            f"{'?' if rss_mib is None else f'{rss_mib:.0f} MiB'}; its last stderr lines: "
            + (" | ".join(tail[-5:]) or "(none)")
        )

    def figures(self) -> dict[str, Any]:
        return {
            "scale_worker_exit_status": self.returncode,
            "scale_worker_exit": self.how,
            "scale_worker_last_rss_mib": self.rss_mib,
            "scale_worker_stderr_tail": self.tail,
        }


@dataclass
class WorkerProcess:
    """One worker process. Its stderr (and stdout after `ready`) is read all the time,
    echoed to the bench's stderr and its last lines kept: a pipe nobody reads fills and
    blocks the worker, and a worker that ends must say why."""

    process: asyncio.subprocess.Process
    base_rss_mib: float = 0.0
    last_rss_mib: float | None = None
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    # Workflow tasks the SDK reported as taking over 5 s (its TMPRL1104 warning): the
    # worker holding more tasks at once than its interpreter gets through.
    slow_tasks: int = 0

    def read(self, stream: asyncio.StreamReader | None) -> None:
        if stream is not None:
            self.readers.append(asyncio.create_task(self._echo(stream)))

    async def _echo(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            self.slow_tasks += SLOW_TASK_WARNING in text
            self.tail.append(text)
            print(f"worker {self.process.pid}: {text}", file=sys.stderr, flush=True)

    async def finished(self) -> int:
        """The exit status, once everything it wrote has been read."""
        code = await self.process.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.readers), timeout=5)
        return code

    def exited(self) -> WorkerExited:
        code = self.process.returncode
        assert code is not None
        return WorkerExited(self.process.pid, code, list(self.tail), self.last_rss_mib)


@dataclass
class Fleet:
    """The worker processes of one task queue."""

    address: str
    task_queue: str
    max_cached: int
    graceful_shutdown_seconds: float
    workflow_slots: int
    workers: list[WorkerProcess] = field(default_factory=list)
    # Every worker this fleet started (those stopped too), for their slow-task counts.
    started: list[WorkerProcess] = field(default_factory=list)

    async def start(self) -> WorkerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.scale_worker",
            "--address",
            self.address,
            "--task-queue",
            self.task_queue,
            "--max-cached",
            str(self.max_cached),
            "--graceful-shutdown-seconds",
            str(self.graceful_shutdown_seconds),
            "--workflow-slots",
            str(self.workflow_slots),
            cwd=REPO_ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        started = WorkerProcess(process)
        started.read(process.stderr)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=120)
        if line.strip() != b"ready":
            if not line:  # it ended before it was polling
                await started.finished()
                raise started.exited()
            raise RuntimeError(f"worker did not start: {line!r}")
        started.read(process.stdout)  # nothing more is expected there; never let it fill
        started.base_rss_mib = started.last_rss_mib = _rss_mib(process.pid)
        self.workers.append(started)
        self.started.append(started)
        return started

    async def watch(self) -> None:
        """Return (raising `WorkerExited`) when a worker exits that the bench did not
        stop: the episodes would otherwise wait for it forever. Notes each worker's RSS."""
        while True:
            for worker in list(self.workers):
                if worker.process.returncode is not None:
                    await worker.finished()
                    raise worker.exited()
                with contextlib.suppress(OSError, RuntimeError):
                    worker.last_rss_mib = _rss_mib(worker.process.pid)
            await asyncio.sleep(1.0)

    async def guarded(self, work: Awaitable[T]) -> T:
        """`work`, unless a worker dies first (then its error)."""
        task = asyncio.ensure_future(work)
        watcher = asyncio.create_task(self.watch())
        await asyncio.wait([task, watcher], return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            watcher.result()  # raises the worker's exit
        watcher.cancel()
        return task.result()

    async def stop(self, worker: WorkerProcess) -> int:
        self.workers.remove(worker)  # stopped on purpose: no longer watched
        worker.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(worker.finished(), timeout=120)

    async def close(self) -> None:
        for worker in list(self.workers):
            if worker.process.returncode is None:
                worker.process.kill()
            await worker.finished()
        self.workers.clear()


RETRYABLE = (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError)


class Retries:
    """Calls retried as a clinic system would: Temporal refuses an update while the
    episode's workflow task has failed (e.g. timed out on a saturated machine) and retries
    that task itself; the caller tries again a moment later. Counted, never hidden."""

    def __init__(self, attempts: int = 30) -> None:
        self.count = 0
        self.attempts = attempts

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        for attempt in range(self.attempts):
            try:
                return await call()
            except RETRYABLE:
                if attempt + 1 == self.attempts:
                    raise
                self.count += 1
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
        raise AssertionError("unreachable")


async def _bounded(count: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    numbers = iter(range(count))

    async def caller() -> None:
        for n in numbers:
            await one(n)

    await asyncio.gather(*(caller() for _ in range(concurrency)))


class Ward:
    """The open episodes, and the clinic calls the bench makes on them."""

    def __init__(
        self, client: Client, task_queue: str, rest_settle_seconds: float = REST_SETTLE_SECONDS
    ) -> None:
        self.client = client
        self.task_queue = task_queue
        self.rest_settle_seconds = rest_settle_seconds
        self.clinics: list[Clinic] = []
        self._adapters = Adapters()
        self._rnd = random.Random(16)
        self.retries = Retries()

    async def _no_sleep(self, _: timedelta) -> None:
        return None

    async def open(self, count: int, concurrency: int = 16) -> float:
        """Open `count` more episodes; episodes opened per second."""

        async def one(n: int) -> None:
            clinic = await Clinic.admit(
                self.client,
                self.task_queue,
                self._adapters,
                self._no_sleep,
                member_id=f"NOAUTH-SCALE-{n}",
                rest_settle_seconds=self.rest_settle_seconds,
            )
            assessment = AssessmentSubmission(
                assessment_id=f"asmt-{uuid.uuid4().hex[:10]}",
                clinician_id="clin-scale",
                phq9=phq9(16),
                determination=LevelDetermination(
                    instrument="LOCUS", level=LevelOfCare.IOP, rationale="synthetic"
                ),
            )
            await self.retries(
                lambda: clinic.handle.execute_update(CareEpisode.submit_assessment, assessment)
            )
            self.clinics.append(clinic)

        began = time.perf_counter()
        await _bounded(count, concurrency, one)
        return count / (time.perf_counter() - began)

    async def settle(self, sample: int = 30, timeout_s: float = 600) -> None:
        """Wait until a sample of episodes (the newest and random ones) is in treatment."""
        picks = self.clinics[-sample:] + self._rnd.sample(
            self.clinics, min(sample, len(self.clinics))
        )
        deadline = time.monotonic() + timeout_s
        for clinic in picks:
            while True:
                view = await self.state(clinic)
                if view.phase is CarePhase.IN_TREATMENT:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{clinic.episode_id} still in {view.phase}")
                await asyncio.sleep(0.5)

    async def state(self, clinic: Clinic) -> EpisodeView:
        return await self.retries(lambda: clinic.handle.query(CareEpisode.state))

    def pick(self) -> Clinic:
        return self._rnd.choice(self.clinics)

    def review_body(self, n: int) -> ReviewSubmission:
        return ReviewSubmission(
            review_id=f"rev-{uuid.uuid4().hex[:12]}",
            clinician_id="clin-scale",
            phq9=phq9(14 + n % 2),
            hours_attended=10,
            units_attended=3,
            period_weeks=1,
        )

    async def review(self, clinic: Clinic, n: int) -> None:
        # One review ID for every attempt: a retry of an applied review is a duplicate.
        review = self.review_body(n)
        await self.retries(lambda: clinic.handle.execute_update(CareEpisode.submit_review, review))

    async def measure(self, samples: int) -> dict[str, float]:
        """Review updates and state queries on random open episodes, one at a time."""
        reviews: list[float] = []
        queries: list[float] = []
        for n in range(samples):
            began = time.perf_counter()
            await self.review(self.pick(), n)
            reviews.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            await self.state(self.pick())
            queries.append((time.perf_counter() - began) * 1000)
        return {
            "review_p50_ms": statistics.median(reviews),
            "review_p99_ms": _p(reviews, 99),
            "query_p50_ms": statistics.median(queries),
            "query_p99_ms": _p(queries, 99),
        }

    async def replay_costs(self, histories: int = 20) -> tuple[float, float, float]:
        """Cold replay with `Replayer`: ms per history event, ms per history, events per
        history (mean over `histories` random episodes, after one warm-up replay)."""
        replayer = Replayer(workflows=[CareEpisode], data_converter=pydantic_data_converter)
        picked = self._rnd.sample(self.clinics, min(histories + 1, len(self.clinics)))
        loaded = [await clinic.handle.fetch_history() for clinic in picked]
        await replayer.replay_workflow(loaded[0])  # warm-up: imports, the sandbox's setup
        events = 0
        spent = 0.0
        for history in loaded[1:] or loaded:
            events += len(history.events)
            began = time.perf_counter()
            await replayer.replay_workflow(history)
            spent += time.perf_counter() - began
        replayed = len(loaded[1:] or loaded)
        return 1000 * spent / max(events, 1), 1000 * spent / replayed, events / replayed


async def _handover(ward: Ward, fleet: Fleet, updates: int) -> dict[str, float]:
    """Updates from 4 callers; after a third of them, one worker leaves with SIGTERM. No
    retries here: every update must answer at its first call, whichever worker held it,
    and exactly once: one answer that applied it (not a duplicate), and in the episode's
    history one acceptance and one completion of its update ID. From the same histories,
    which workers served the episodes, and how many moved from the leaving worker."""
    latencies: list[float] = []
    errors: list[str] = []
    sent: list[tuple[Clinic, str]] = []
    answered: list[str] = []
    stopped: asyncio.Task[int] | None = None
    leaving = fleet.workers[0]

    async def one(n: int) -> None:
        nonlocal stopped
        clinic = ward.pick()
        review = ward.review_body(n)
        sent.append((clinic, review.review_id))
        began = time.perf_counter()
        try:
            decision = await asyncio.wait_for(
                clinic.handle.execute_update(
                    CareEpisode.submit_review, review, id=review.review_id
                ),
                timeout=120,
            )
            if decision.submission_id == review.review_id and not decision.duplicate:
                answered.append(review.review_id)
        except Exception as error:  # every one counts: an update that did not answer
            errors.append(f"{type(error).__name__}: {error}")
        latencies.append((time.perf_counter() - began) * 1000)
        if len(latencies) == updates // 3 and stopped is None:
            stopped = asyncio.create_task(fleet.stop(leaving))

    await _bounded(updates, 4, one)
    exit_code = await stopped if stopped is not None else -1
    if errors:
        _say(f"handover errors: {errors[:3]}")
    seen = await _histories_of([clinic for clinic, _ in sent])
    once = sum(
        seen.accepted.count(update_id) == 1 == seen.completed.count(update_id)
        for _, update_id in sent
    )
    return {
        "scale_handover_updates": float(len(latencies)),
        "scale_handover_errors": float(len(errors)),
        "scale_handover_answered_once": float(len(set(answered))),
        "scale_handover_applied_once": float(once),
        "scale_handover_workers_serving": float(len(seen.identities)),
        "scale_handover_episodes_moved": float(seen.moved_from(leaving.process.pid)),
        "scale_handover_max_ms": round(max(latencies), 1),
        "scale_handover_worker_exit_code": float(exit_code),
    }


@dataclass
class Histories:
    """What the episodes' histories say about updates and the workers that served them."""

    accepted: list[str] = field(default_factory=list)  # update IDs, one per acceptance
    completed: list[str] = field(default_factory=list)
    identities: set[str] = field(default_factory=set)  # workers that completed tasks
    # per episode, the workers that completed its workflow tasks, in order
    served_by: list[list[str]] = field(default_factory=list)

    def moved_from(self, pid: int) -> int:
        """Episodes served by worker `pid` and, after it, by another."""
        mine = f"{pid}@"
        return sum(
            any(a.startswith(mine) and not b.startswith(mine) for a, b in pairwise(w))
            for w in self.served_by
        )


async def _histories_of(clinics: list[Clinic]) -> Histories:
    found = Histories()
    for clinic in {clinic.episode_id: clinic for clinic in clinics}.values():
        served: list[str] = []
        # Every run: an update may have landed on an earlier one (engine V5 continues a
        # run as new once it has been quiet).
        chain = await fetch_chain(clinic.client, clinic.handle.id, clinic.first_run_id)
        for event in (event for run in chain.runs for event in run):
            if event.HasField("workflow_execution_update_accepted_event_attributes"):
                attributes = event.workflow_execution_update_accepted_event_attributes
                found.accepted.append(attributes.accepted_request.meta.update_id)
            elif event.HasField("workflow_execution_update_completed_event_attributes"):
                completed = event.workflow_execution_update_completed_event_attributes
                found.completed.append(completed.meta.update_id)
            elif event.HasField("workflow_task_completed_event_attributes"):
                served.append(event.workflow_task_completed_event_attributes.identity)
        found.identities |= set(served)
        found.served_by.append(served)
    return found


async def _restart_to_answer(ward: Ward, fleet: Fleet) -> float:
    for worker in list(fleet.workers):
        await fleet.stop(worker)
    began = time.perf_counter()
    await fleet.start()
    await asyncio.wait_for(ward.review(ward.pick(), 0), timeout=300)
    return time.perf_counter() - began


def default_workflow_slots() -> int:
    """The workflow-task slots a worker with the default settings has."""
    return Settings().worker_tuning().max_concurrent_workflow_tasks


def default_max_cached() -> int:
    """What a worker with the default settings (memory budget) would cache."""
    return Settings().worker_tuning().max_cached_workflows


async def run_scale_bench(
    episodes: int = DEFAULT_EPISODES,
    *,
    workers: int = 1,
    max_cached: int | None = None,
    workflow_slots: int | None = None,
    samples: int = 300,
    baseline: int = BASELINE,
    handover_updates: int = 200,
    graceful_shutdown_seconds: float = 10.0,
    rest_settle_seconds: float = REST_SETTLE_SECONDS,
    figures: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The figures; `figures`, when given, is filled as they are measured (so that a run
    that fails still reports what it measured)."""
    figures = {} if figures is None else figures
    baseline = min(baseline, max(episodes // 2, 1))
    cache = default_max_cached() if max_cached is None else max_cached
    slots = default_workflow_slots() if workflow_slots is None else workflow_slots
    figures |= {
        "scale_episodes": episodes,
        "scale_baseline_episodes": baseline,
        "scale_workers": workers,
        "scale_max_cached_workflows": cache,
        "scale_workflow_task_slots": slots,
        "scale_rest_settle_seconds": rest_settle_seconds,
    }
    env = await start_dev_server(pydantic_data_converter)
    fleet = Fleet(
        env.client.service_client.config.target_host,
        f"scale-{uuid.uuid4().hex[:6]}",
        cache,
        graceful_shutdown_seconds,
        slots,
    )
    try:
        server = _dev_server_pid()
        for _ in range(workers):
            await fleet.start()
        figures["scale_worker_base_rss_mib"] = round(max(w.base_rss_mib for w in fleet.workers), 1)
        ward = Ward(env.client, fleet.task_queue, rest_settle_seconds)

        opening = CpuMeter(server)
        _say(f"opening {baseline} episodes")
        rate = await fleet.guarded(ward.open(baseline))
        await fleet.guarded(ward.settle())
        opening_cpu = opening.percent()
        _say(f"measuring at {baseline} ({rate:.1f} episodes/s)")
        measuring = CpuMeter(server)
        small = await fleet.guarded(ward.measure(samples))
        rss_small = [_rss_mib(w.process.pid) for w in fleet.workers]

        _say(f"opening {episodes - baseline} more episodes")
        opening = CpuMeter(server)
        rate = await fleet.guarded(ward.open(episodes - baseline))
        await fleet.guarded(ward.settle())
        figures["scale_episodes_opened_per_s"] = round(rate, 2)
        figures["scale_dev_server_cpu_pct_opening"] = opening.percent() or opening_cpu
        _say(f"measuring at {episodes} ({rate:.1f} episodes/s)")
        measuring = CpuMeter(server)
        large = await fleet.guarded(ward.measure(samples))
        figures["scale_dev_server_cpu_pct_measuring"] = measuring.percent()
        rss = [_rss_mib(w.process.pid) for w in fleet.workers]

        figures |= {
            "scale_review_p50_ms": round(large["review_p50_ms"], 1),
            "scale_review_p99_ms": round(large["review_p99_ms"], 1),
            "scale_query_p50_ms": round(large["query_p50_ms"], 1),
            "scale_query_p99_ms": round(large["query_p99_ms"], 1),
            "scale_review_p50_ms_at_baseline": round(small["review_p50_ms"], 1),
            "scale_review_p99_ms_at_baseline": round(small["review_p99_ms"], 1),
            "scale_query_p99_ms_at_baseline": round(small["query_p99_ms"], 1),
            "scale_review_p99_ratio": round(large["review_p99_ms"] / small["review_p99_ms"], 2),
            "scale_query_p99_ratio": round(large["query_p99_ms"] / small["query_p99_ms"], 2),
            "scale_worker_rss_mib": round(max(rss), 1),
            "scale_workers_rss_mib": [round(r, 1) for r in rss],
        }
        # Growth per episode held: each worker caches the episodes it served, up to its cache.
        held_small = min(cache, baseline / workers)
        held_large = min(cache, episodes / workers)
        if held_large > held_small:
            growth = (sum(rss) - sum(rss_small)) / workers / (held_large - held_small)
            figures["scale_worker_mib_per_cached_episode"] = round(growth, 4)

        _say("replaying histories")
        per_event, per_history, events = await ward.replay_costs()
        figures["scale_replay_ms_per_event"] = round(per_event, 4)
        figures["scale_replay_ms_per_history"] = round(per_history, 2)
        figures["scale_history_events_mean"] = round(events, 1)
        if workers >= 2:
            _say("handover: one worker leaves with SIGTERM under traffic")
            figures |= await _handover(ward, fleet, handover_updates)
        _say("restart to first answer")
        figures["scale_restart_to_answer_s"] = round(await _restart_to_answer(ward, fleet), 2)
        figures["scale_calls_retried"] = ward.retries.count
        figures["scale_slow_workflow_tasks"] = sum(w.slow_tasks for w in fleet.started)
    finally:
        await fleet.close()
        await env.shutdown()
    return figures


async def _collect(args: argparse.Namespace, figures: dict[str, Any]) -> None:
    await run_scale_bench(
        args.episodes,
        workers=args.workers,
        max_cached=args.max_cached,
        workflow_slots=args.workflow_slots,
        samples=args.samples,
        baseline=args.baseline,
        rest_settle_seconds=args.rest_settle_seconds,
        figures=figures,
    )
    if args.records:
        from bench.store_bench import run_scale_store_bench
        from tests.pg import scratch_database

        with scratch_database("carepath-bench-scale-") as dsn:
            _say(f"store: loading {args.records} episodes")
            figures |= await run_scale_store_bench(dsn, episodes=args.records)


def main() -> int:
    parser = argparse.ArgumentParser(description="carepath at scale (one JSON object)")
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES)
    parser.add_argument(
        "--workers", type=int, default=int(os.environ.get("CAREPATH_SCALE_WORKERS", "1"))
    )
    parser.add_argument("--max-cached", type=int, default=None, help="default: from settings")
    parser.add_argument(
        "--workflow-slots", type=int, default=None, help="workflow-task slots per worker"
    )
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--baseline", type=int, default=BASELINE, help="the smaller size")
    parser.add_argument(
        "--rest-settle-seconds",
        type=float,
        default=REST_SETTLE_SECONDS,
        help="how long an episode stays quiet before its run continues as new (engine V5)",
    )
    parser.add_argument(
        "--records", type=int, default=int(os.environ.get("CAREPATH_SCALE_RECORDS", "0"))
    )
    args = parser.parse_args()
    json_out = os.dup(1)
    os.dup2(2, 1)  # anything else written to stdout lands on stderr
    began = time.perf_counter()
    figures: dict[str, Any] = {}
    code = 0
    try:
        asyncio.run(_collect(args, figures))
    except WorkerExited as error:  # the figures measured so far, and why it stopped
        _say(f"stopped: {error}")
        figures |= {"scale_error": str(error)} | error.figures()
        code = 1
    except Exception as error:  # reported in the JSON and the exit status
        _say(f"stopped: {error!r}")
        figures["scale_error"] = f"{type(error).__name__}: {error}"
        code = 1
    figures["scale_seconds"] = round(time.perf_counter() - began, 1)
    with os.fdopen(json_out, "w") as out:
        out.write(json.dumps(figures, indent=2) + "\n")
    return code


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    os._exit(code)
