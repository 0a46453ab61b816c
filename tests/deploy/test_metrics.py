"""Metrics: a running worker (`python -m worker`) serves the Temporal SDK's Prometheus
metrics, a running API (`python -m api`) its request counts by route template and status
and carepath's gauges; the gauges count what PostgreSQL holds."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from codec.keys import new_key_entry
from rules.transitions import CarePhase
from store.gauges import care_gauges
from store.health import DISPATCHER, beat
from store.postgres import PostgresRecordStore
from tests.pg import scratch_database, scratch_schema_pool
from tests.serving import free_port
from tests.store.store_builders import authorization, batch, note, snapshot
from worker.embedded_postgres import EmbeddedPostgres

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "metrics-test-token-0001"
PROGRAM = "iop-adult"
PATIENT_NAME = "Zebulon Quillfeather"
MEMBER_ID = "NOAUTH-QX7731"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_gauges_count_what_the_store_holds() -> None:
    today = datetime.now(UTC)
    with scratch_database("carepath-gauges-") as dsn:
        async with scratch_schema_pool(dsn, prefix="gauges") as pool:
            store = PostgresRecordStore(pool)
            empty = await care_gauges(pool, expiring_within_days=7)
            assert (empty.outbox_pending, empty.outbox_oldest_pending_seconds) == (0, 0)
            assert empty.dispatcher_seconds_since_pass is None
            soon = authorization(
                "A-1", start_date=today.date(), end_date=(today + timedelta(days=3)).date()
            )
            late = authorization(
                "A-2", start_date=today.date(), end_date=(today + timedelta(days=30)).date()
            )
            await store.apply(
                batch(
                    1,
                    snapshot("ep1", phase=CarePhase.IN_TREATMENT, risk_flag=True),
                    authorizations=[soon],
                    notifications=[note("m1", "ep1"), note("m2", "ep1")],
                )
            )
            await store.apply(
                batch(1, snapshot("ep2", phase=CarePhase.IN_TREATMENT), authorizations=[late])
            )
            await store.apply(batch(1, snapshot("ep3", phase=CarePhase.CLOSED, risk_flag=True)))
            await pool.execute(
                "UPDATE notification_outbox SET created_at = now() - interval '2 minutes' "
                "WHERE message_id = 'm1'"
            )
            await beat(pool, DISPATCHER, "test:1")
            gauges = await care_gauges(pool, expiring_within_days=7)
    assert gauges.outbox_pending == 2
    assert 110 <= gauges.outbox_oldest_pending_seconds < 3600
    assert gauges.open_risk_flags == 1  # the closed episode's flag does not count
    assert gauges.authorizations_expiring == 1  # A-1 within 7 days, A-2 not
    assert gauges.dispatcher_seconds_since_pass is not None
    assert gauges.parked_batches == 0


@asynccontextmanager
async def process(module: str, env: dict[str, str], log: Path) -> AsyncIterator[None]:
    with log.open("wb") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, cwd=ROOT, env=env, stdout=out, stderr=out
        )
    try:
        yield
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(child.wait(), 60)
            except TimeoutError:
                child.kill()
                await child.wait()


async def scrape(http: httpx.AsyncClient, url: str, log: Path, wanted: str) -> str:
    """GET url until its text contains `wanted` (bounded)."""
    for _ in range(300):
        try:
            answer = await http.get(url)
            if answer.status_code == 200 and wanted in answer.text:
                return answer.text
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never showed {wanted!r}:\n" + _tail(log))


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


async def test_running_worker_and_api_serve_metrics(
    dev_env: WorkflowEnvironment, workdir: Path
) -> None:
    pg = await asyncio.to_thread(EmbeddedPostgres, workdir / "pg", delete=True)
    queue = f"care-episodes-metrics-{uuid.uuid4().hex[:8]}"
    worker_metrics, api_port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith("CAREPATH_")}
    base.pop("DATABASE_URL", None)
    base.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": pg.dsn,
            "CAREPATH_TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "CAREPATH_TASK_QUEUE": queue,
            "CAREPATH_CODEC_KEYS": new_key_entry("metrics"),
            "CAREPATH_DATA_DIR": str(workdir / "data"),
            "CAREPATH_LOG_FORMAT": "json",
        }
    )
    worker_env = {
        **base,
        "CAREPATH_PAYER": "sandbox",
        "CAREPATH_NOTIFY": "log",
        "CAREPATH_METRICS_ADDRESS": f"127.0.0.1:{worker_metrics}",
    }
    keys = {TOKEN: {"role": "clinic-system", "programs": ["*"], "actor": "ehr-1"}}
    api_env = {**base, "CAREPATH_API_PORT": str(api_port), "CAREPATH_API_KEYS": json.dumps(keys)}
    api = f"http://127.0.0.1:{api_port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    episode_id = f"ep-{uuid.uuid4().hex[:12]}"
    try:
        async with (
            process("worker", worker_env, workdir / "worker.log"),
            process("api", api_env, workdir / "api.log"),
            httpx.AsyncClient(timeout=30) as http,
        ):
            worker_text = await scrape(
                http,
                f"http://127.0.0.1:{worker_metrics}/metrics",
                workdir / "worker.log",
                "temporal_",
            )
            await scrape(http, f"{api}/healthz", workdir / "api.log", "ok")
            started = await http.post(
                f"{api}/v1/episodes",
                headers=auth,
                json={
                    "episode_id": episode_id,
                    "program_id": PROGRAM,
                    "patient": {"patient_ref": "MRN-METRICS-1", "name": PATIENT_NAME},
                    "coverage": {"payer_id": "SANDBOX", "member_id": MEMBER_ID},
                    "consents": {"payer_disclosure": True},
                },
            )
            assert started.status_code in (200, 201), started.text
            assert len(started.headers["x-request-id"]) >= 8
            shown = await http.get(f"{api}/v1/episodes/{episode_id}", headers=auth)
            assert shown.status_code == 200, shown.text
            missing = await http.get(f"{api}/v1/episodes/ep-nobody-here", headers=auth)
            assert missing.status_code == 404
            echoed = await http.get(f"{api}/healthz", headers={"X-Request-ID": "req-12345678"})
            assert echoed.headers["x-request-id"] == "req-12345678"
            api_text = await scrape(
                http, f"{api}/metrics", workdir / "api.log", "carepath_outbox_pending"
            )
            worker_text = await scrape(
                http,
                f"http://127.0.0.1:{worker_metrics}/metrics",
                workdir / "worker.log",
                "workflow_task_execution_latency",
            )
    finally:
        await asyncio.to_thread(pg.close)

    found = samples(api_text)
    route = "/v1/episodes/{episode_id}"
    assert (
        found[
            (
                "carepath_api_requests_total",
                frozenset({("method", "GET"), ("route", route), ("status", "200")}),
            )
        ]
        == 1
    )
    assert (
        found[
            (
                "carepath_api_requests_total",
                frozenset({("method", "GET"), ("route", route), ("status", "404")}),
            )
        ]
        == 1
    )
    assert any(name == "carepath_api_request_duration_seconds_count" for name, _ in found)
    assert found[("carepath_gauges_store_up", frozenset())] == 1
    for gauge in (
        "outbox_pending",
        "open_risk_flags",
        "authorizations_expiring",
        "dispatcher_seconds_since_pass",
        "parked_batches",
    ):
        assert ("carepath_" + gauge, frozenset()) in found, gauge
    assert episode_id not in api_text and "MRN-METRICS" not in api_text
    assert f'task_queue="{queue}"' in worker_text
    assert 'service="carepath-worker"' in worker_text
    assert episode_id not in worker_text and "MRN-METRICS" not in worker_text
    check_logs(workdir)
    check_dashboard_names(set(found) | set(samples(worker_text)))


# Counters the SDK creates on first increment (none failed in this run).
ON_FAILURE = {"temporal_activity_execution_failed"}


def check_dashboard_names(scraped: set[tuple[str, frozenset[tuple[str, str]]]]) -> None:
    """Every metric the dashboard and the alerts use is one the processes really serve."""
    names = {name for name, _ in scraped}
    folder = ROOT / "deploy" / "monitoring"
    text = (folder / "grafana" / "dashboards" / "carepath.json").read_text()
    text += (folder / "alerts.yml").read_text()
    for used in set(re.findall(r"\b(?:carepath|temporal)_[a-z_]+", text)) - ON_FAILURE:
        base = re.sub(r"_(bucket|count|sum|total)$", "", used)
        assert used in names or any(n.startswith(base) for n in names), used


def check_logs(workdir: Path) -> None:
    """JSON lines, request IDs on the API's, no patient identifier anywhere."""
    api_lines = (workdir / "api.log").read_text().splitlines()
    worker_lines = (workdir / "worker.log").read_text().splitlines()
    records = [json.loads(line) for line in api_lines + worker_lines if line.startswith("{")]
    assert records and {"time", "level", "logger", "message"} <= set(records[0])
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any(r.get("request_id") == "req-12345678" for r in access), access[-3:]
    assert all(r.get("request_id") for r in access)
    text = "\n".join(api_lines + worker_lines)
    for identifier in (PATIENT_NAME, "Quillfeather", "MRN-METRICS-1", MEMBER_ID):
        assert identifier not in text, identifier
