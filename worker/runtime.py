"""Builds the Temporal worker for care episodes from injected activities."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.care import CareActivities
from workflows.care_episode import CareEpisode


def build_worker(
    client: Client,
    *,
    task_queue: str,
    activities: CareActivities,
    max_concurrent_activities: int = 50,
    graceful_shutdown_seconds: float = 0.0,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CareEpisode],
        activities=[
            activities.record_effects,
            activities.check_eligibility,
            activities.request_authorization,
        ],
        max_concurrent_activities=max_concurrent_activities,
        # SIGTERM: running activities get this long to finish before they are cancelled.
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_seconds),
    )
