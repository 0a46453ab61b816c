"""`python -m worker` (or `carepath-worker`): run the CareEpisode worker until SIGTERM.

Builds the encrypted client, the PostgreSQL store (with its outbox dispatcher) and the
payer adapter from settings, then polls the task queue. SIGTERM or Ctrl-C stops polling,
lets running tasks finish, and closes everything in reverse order. The dispatcher runs
supervised; if it (or the worker itself) fails for good, the process stops and exits 1 so
that its supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from contextlib import AsyncExitStack
from datetime import timedelta

from activities.care import CareActivities
from config.settings import Settings, load_settings
from observability.logs import configure_logging
from observability.tracing import configure_tracing
from store.channels.patient import PATIENT_CHANNEL
from store.channels.routing import route_by_recipient
from store.followups import FollowupJob, FollowupPolicy, run_followups
from store.outbox import ALERT_CHANNEL, RetryPolicy
from store.outbox_runner import run_dispatcher
from store.patients import PostgresPatients
from store.pool import open_pool
from store.postgres import DEFAULT_CHANNEL, PostgresRecordStore
from store.retention import RetentionPolicy, run_retention
from temporal_client import connect
from worker.adapters import build_channel, build_payer, check_integrations
from worker.alert_channel import build_alert_channel, check_alert_channel
from worker.patient_channels import build_routes, check_patient_channels
from worker.runtime import build_worker
from worker.telemetry import telemetry_runtime

log = logging.getLogger("carepath.worker")
# How often the care team's follow-through ladder looks for due rungs (store-side).
FOLLOW_UP_ESCALATION_SECONDS = 30.0


async def run(settings: Settings, stop: asyncio.Event) -> int:
    """Run until `stop` is set; 0 after a clean stop, 1 if the worker or a background task
    failed for good (so that whatever supervises the process restarts it)."""
    dsn = settings.require_database_url()
    async with AsyncExitStack() as stack:
        client = await connect(settings, runtime=telemetry_runtime(settings))
        pool = await open_pool(dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        stack.push_async_callback(pool.close)
        patient_channel = settings.sms_url is not None or settings.smtp_url is not None
        followup_policy = FollowupPolicy(
            six_month_due_days=settings.followup_6_month_days,
            twelve_month_due_days=settings.followup_12_month_days,
            time_zones=settings.program_time_zones,
        )
        records = PostgresRecordStore(
            pool, channel_for=route_by_recipient(patient_channel), followups=followup_policy
        )
        payer = await build_payer(settings, stack)
        activities = CareActivities(records, payer, PostgresPatients(pool))
        routes = await build_routes(settings, pool, stack, webhook=build_channel(settings))
        alerts = build_alert_channel(settings)
        if alerts is not None:
            routes[ALERT_CHANNEL] = alerts
        dispatcher = asyncio.create_task(
            run_dispatcher(
                pool,
                routes,
                stop=stop,
                retry=RetryPolicy(lease=timedelta(seconds=settings.outbox_lease_seconds)),
                listen=True,
                poll_interval=settings.outbox_poll_seconds,
                escalate_every_s=FOLLOW_UP_ESCALATION_SECONDS,
            )
        )
        retention = asyncio.create_task(
            run_retention(
                pool,
                RetentionPolicy(
                    idempotency_days=settings.retention_idempotency_days,
                    applied_batches_days=settings.retention_applied_batches_days,
                    outbox_sent_days=settings.retention_outbox_sent_days,
                ),
                stop=stop,
                interval_s=settings.retention_interval_seconds,
            )
        )
        followups = asyncio.create_task(
            run_followups(
                FollowupJob(
                    pool,
                    patient_route=PATIENT_CHANNEL if patient_channel else DEFAULT_CHANNEL,
                    policy=followup_policy,
                ),
                stop=stop,
                interval_s=settings.followup_interval_seconds,
            )
        )
        worker = build_worker(
            client,
            task_queue=settings.task_queue,
            activities=activities,
            tuning=settings.worker_tuning(),
            graceful_shutdown_seconds=settings.graceful_shutdown_seconds,
            sticky_schedule_to_start=timedelta(
                seconds=settings.sticky_queue_schedule_to_start_seconds
            ),
        )
        tuning = settings.worker_tuning()
        log.info(
            "worker polling task queue %s on %s (namespace %s); cache %d episodes,"
            " %d workflow task slots, %d activity slots",
            settings.task_queue,
            settings.temporal_address,
            settings.temporal_namespace,
            tuning.max_cached_workflows,
            tuning.max_concurrent_workflow_tasks,
            tuning.max_concurrent_activities,
        )
        polling = asyncio.create_task(worker.run())
        await asyncio.wait(
            [polling, dispatcher, retention, followups, asyncio.create_task(stop.wait())],
            return_when="FIRST_COMPLETED",
        )
        status = _failures(
            worker=polling, dispatcher=dispatcher, retention=retention, followups=followups
        )
        stop.set()
        log.info("stopping: finishing running tasks")
        await worker.shutdown()
        for task in (polling, dispatcher, retention, followups):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
    log.info("worker stopped")
    return status


def _failures(**tasks: asyncio.Task[None]) -> int:
    """Log every task that ended with an error; 1 if any did, else 0."""
    status = 0
    for name, task in tasks.items():
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.critical("%s failed; stopping the worker", name, exc_info=task.exception())
            status = 1
    return status


def main() -> None:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings, "carepath-worker")
    check_integrations(settings)  # fail closed before connecting to anything
    check_patient_channels(settings)
    check_alert_channel(settings)

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        return await run(settings, stop)

    status = asyncio.run(_main())
    # temporalio's native threads can abort the interpreter during finalization; everything
    # is closed by now, so leave with the status run() chose.
    logging.shutdown()
    os._exit(status)


if __name__ == "__main__":
    main()
