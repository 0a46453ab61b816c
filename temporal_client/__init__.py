"""Temporal client helpers shared by the worker, the API and the tests."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from codec.converter import build_data_converter
from codec.settings import CodecSettings
from config.settings import WORKFLOW_TASK_TIMEOUT_SECONDS, Settings
from config.tuning import HISTORY_EVENT_LIMIT, REST_AFTER_EVENTS, REST_SETTLE_SECONDS
from observability.tracing import tracing_interceptors
from schemas.episode import EpisodeStart, workflow_id_for
from temporal_client.tls import temporal_tls
from workflows.care_episode import CareEpisode
from workflows.search_attributes import CARE_PHASE, PROGRAM_ID
from workflows.state import EpisodeInput, EpisodeResult

# How long a worker may hold one workflow task, unless the start says otherwise (the API's
# `CAREPATH_WORKFLOW_TASK_TIMEOUT_SECONDS`). When a worker dies mid-task, its episode waits
# this long before another worker gets the task; a task that takes longer (a cold replay on
# a saturated machine) times out and is retried. Measured: README "Reliability".
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=WORKFLOW_TASK_TIMEOUT_SECONDS)


def encrypted_data_converter() -> DataConverter:
    """Pydantic payloads, AES-256-GCM encrypted with the configured keys.

    No keys configured is an error, never a silent fall-back to plaintext.
    """
    return build_data_converter(CodecSettings().keyring())


async def connect(
    settings: Settings,
    data_converter: DataConverter | None = None,
    *,
    runtime: Runtime | None = None,
) -> Client:
    """A client whose payloads (and those of workers built on it) are encrypted, over TLS
    when configured (temporal_client/tls.py), on `runtime` (metrics: worker/telemetry.py)."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter or encrypted_data_converter(),
        tls=temporal_tls(settings),
        runtime=runtime,
        interceptors=tracing_interceptors(settings),
    )


async def start_episode(
    client: Client,
    start: EpisodeStart,
    *,
    task_queue: str,
    history_event_limit: int = HISTORY_EVENT_LIMIT,
    search_attributes: bool = True,
    task_timeout: timedelta = WORKFLOW_TASK_TIMEOUT,
    rest_settle_seconds: float = REST_SETTLE_SECONDS,
    rest_after_events: int = REST_AFTER_EVENTS,
) -> WorkflowHandle[CareEpisode, EpisodeResult]:
    """Start one episode. The workflow ID carries only the opaque episode ID."""
    return await client.start_workflow(
        CareEpisode.run,
        EpisodeInput(
            start=start,
            history_event_limit=history_event_limit,
            rest_settle_seconds=rest_settle_seconds,
            rest_after_events=rest_after_events,
        ),
        id=workflow_id_for(start.episode_id),
        task_queue=task_queue,
        # An episode ID names one episode forever, even after it has closed.
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(CARE_PHASE, "referral"),
                SearchAttributePair(PROGRAM_ID, start.program_id),
            ]
        )
        if search_attributes
        else None,
        task_timeout=task_timeout,  # continue-as-new runs inherit it
        static_summary=f"Care episode {start.episode_id}",
        static_details=f"Program {start.program_id}; age group {start.age_group.value}",
    )


def episode_handle(client: Client, episode_id: str) -> WorkflowHandle[CareEpisode, EpisodeResult]:
    return client.get_workflow_handle_for(CareEpisode.run, workflow_id_for(episode_id))
