"""One trace per request, from the API through Temporal to the activities: the API app with
`trace_app`, its client and the worker with `tracing_interceptors`, on the dev server and a
real PostgreSQL; spans collected in memory instead of sent to a collector."""

from __future__ import annotations

import uuid
from collections import defaultdict

import httpx
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.care import CareActivities
from activities.payer_sandbox import SandboxPayer
from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiKey, ApiSettings, Role
from observability.tracing import trace_app, tracing_interceptors
from store.postgres import PostgresRecordStore
from tests.pg import scratch_database, scratch_schema_pool
from worker.runtime import build_worker

TOKEN = "tok-tracing"
CARE = "tok-tracing-care"
PATIENT = "Philippa Tracewell"


async def test_a_request_is_one_trace_through_temporal_to_the_activities(
    dev_env: WorkflowEnvironment,
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = ApiSettings(
        task_queue=f"care-episodes-tracing-{uuid.uuid4().hex[:8]}",
        api_keys={
            TOKEN: ApiKey(role=Role.CLINIC_SYSTEM, programs=frozenset({"*"}), actor="ehr-1"),
            CARE: ApiKey(role=Role.CARE_TEAM, programs=frozenset({"*"}), actor="clin-7"),
        },
    )
    config = dev_env.client.config()
    config["interceptors"] = tracing_interceptors(settings, provider)
    client = Client(**config)
    episode_id = f"ep-{uuid.uuid4().hex[:12]}"
    with scratch_database("carepath-tracing-") as dsn:
        async with scratch_schema_pool(dsn, prefix="tracing") as pool:
            activities = CareActivities(PostgresRecordStore(pool), SandboxPayer())
            app = create_app(ApiDeps(client=client, pool=pool, settings=settings))
            trace_app(app, provider)
            async with (
                build_worker(client, task_queue=settings.task_queue, activities=activities),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://carepath.test"
                ) as http,
            ):
                started = await http.post(
                    "/v1/episodes",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    json={
                        "episode_id": episode_id,
                        "program_id": "iop-adult",
                        "patient": {"patient_ref": "MRN-TRACE-1", "name": PATIENT},
                        "coverage": {"payer_id": "SANDBOX", "member_id": "NOAUTH-TR"},
                        "consents": {"payer_disclosure": True},
                    },
                )
                assert started.status_code in (200, 201), started.text
                assessed = await http.post(
                    f"/v1/episodes/{episode_id}/assessment",
                    headers={"Authorization": f"Bearer {CARE}"},
                    json={
                        "assessment_id": f"asm-{uuid.uuid4().hex[:8]}",
                        "clinician_id": "clin-7",
                        "phq9": {"items": [2] * 8 + [0]},
                        "determination": {
                            "instrument": "LOCUS",
                            "level": "iop",
                            "rationale": "level 3",
                        },
                    },
                )
                assert assessed.status_code == 200, assessed.text
    spans = exporter.get_finished_spans()
    traces: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        assert span.context is not None
        traces[span.context.trace_id].append(span)

    def trace_of(server_span: str) -> list[str]:
        for members in traces.values():
            names = [s.name for s in members]
            if server_span in names:
                return names
        raise AssertionError(f"no trace with {server_span!r}: {sorted({s.name for s in spans})}")

    # The start request's trace runs through the workflow into its activities; the
    # workflow's later handler and activity spans join the trace of the run.
    start = set(trace_of("POST /v1/episodes"))
    assert {
        "StartWorkflow:CareEpisode",
        "RunWorkflow:CareEpisode",
        "StartActivity:record_effects",
        "RunActivity:record_effects",
        "HandleUpdate:submit_assessment",
    } <= start, start
    # An update request's trace holds the call into Temporal.
    update = set(trace_of("POST /v1/episodes/{episode_id}/assessment"))
    assert "StartWorkflowUpdate:submit_assessment" in update, update
    attributes = " ".join(str(dict(s.attributes or {})) for s in spans)
    for secret in (PATIENT, "MRN-TRACE-1", "NOAUTH-TR"):
        assert secret not in attributes, secret
