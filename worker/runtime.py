"""Builds the Temporal worker for care episodes from injected activities."""

from __future__ import annotations

import compileall
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities.care import CareActivities
from config.tuning import WorkerTuning
from workflows.care_episode import CareEpisode

log = logging.getLogger(__name__)

# Measured in tests/faults (worker killed with SIGKILL): see the README's Reliability part.
DEFAULT_STICKY_SCHEDULE_TO_START = timedelta(seconds=2)
# The Temporal SDK's own defaults, used where no settings are given (tests, bench).
SDK_DEFAULTS = WorkerTuning(
    max_cached_workflows=1000, max_concurrent_workflow_tasks=100, max_concurrent_activities=50
)


def write_workflow_bytecode(workflows: Sequence[type]) -> bool:
    """Write the bytecode of each workflow's package, where it is missing or stale.

    The SDK's sandbox imports a workflow's module afresh for every workflow instance it
    builds: on every cold episode (a cache miss, a restart). Without bytecode on disk
    (PYTHONDONTWRITEBYTECODE, as in the image, or a fresh checkout) each of those imports
    compiles the source again, which measured ~40 ms of a 55 ms cold start
    (BENCHMARKS.md, "Cold episodes"). False (and a warning) where it cannot be written.
    """
    written = True
    for workflow_class in workflows:
        module = sys.modules[workflow_class.__module__]
        if module.__file__ is None:
            continue
        package = Path(module.__file__).parent
        if not compileall.compile_dir(package, maxlevels=0, quiet=2):
            written = False
            log.warning(
                "workflow bytecode could not be written under %s: every cold episode "
                "compiles the workflow's source again",
                package,
            )
    return written


def build_worker(
    client: Client,
    *,
    task_queue: str,
    activities: CareActivities,
    tuning: WorkerTuning = SDK_DEFAULTS,
    graceful_shutdown_seconds: float = 0.0,
    sticky_schedule_to_start: timedelta = DEFAULT_STICKY_SCHEDULE_TO_START,
) -> Worker:
    """A worker for `CareEpisode` and its activities.

    `sticky_schedule_to_start`: how long Temporal holds a cached episode's task for the
    worker that cached it before handing it to any worker. After that worker dies, its
    episodes answer (queries, updates) only once this has passed, so it is short; a live
    worker picks up its sticky tasks within milliseconds, so little is lost by it.
    `tuning`: cache size and task slots (config/tuning.py; the settings choose them).
    """
    write_workflow_bytecode([CareEpisode])
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CareEpisode],
        activities=[
            activities.record_effects,
            activities.check_eligibility,
            activities.request_authorization,
            activities.keep_patient,
            activities.age_group_on,
        ],
        max_cached_workflows=tuning.max_cached_workflows,
        max_concurrent_workflow_tasks=tuning.max_concurrent_workflow_tasks,
        max_concurrent_activities=tuning.max_concurrent_activities,
        # SIGTERM: running activities get this long to finish before they are cancelled.
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_seconds),
        sticky_queue_schedule_to_start_timeout=sticky_schedule_to_start,
    )
