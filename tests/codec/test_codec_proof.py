"""Proof: with the carepath converter, Temporal stores no patient data in the clear.

One dev server with a SQLite file runs a probe workflow (a secret in every payload kind) and
the episode scenarios for a synthetic patient with distinctive identifiers. Afterwards the
SQLite file is read byte by byte, and the history is read with the `temporal` CLI without
the codec: none of the strings appears. With the codec server, the CLI shows them. A control
workflow written without the codec shows that the scan does find plaintext when it is there.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from codec_probe_workflow import CodecProbe, ProbeInput, echo_secret
from episode_scenarios import PROGRAM_ID as PROOF_PROGRAM
from episode_scenarios import run_scenarios
from proof_support import read_database_files, running_codec_server, temporal_cli
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.query.v1 import WorkflowQuery
from temporalio.api.workflowservice.v1 import QueryWorkflowRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from codec.converter import build_data_converter
from codec.keys import KeyRing
from workflows.search_attributes import ALL_KEYS

pytestmark = pytest.mark.devserver

PATIENT_NAME = "Zyxwvut Qqqpatient"
BIRTH_DATE = "1911-11-11"
MEMBER_ID = "MBRZZZ998877"
PROBE_SECRET = "Probe-Secret-Qxqxqx-4242"
CONTROL_SECRET = "Control-Plaintext-Wvwvwv-5150"
PHI = (PATIENT_NAME, BIRTH_DATE, MEMBER_ID, PROBE_SECRET)


@dataclass
class ProofRun:
    database: bytes = b""
    encrypted_ids: list[str] = field(default_factory=list)
    control_id: str = ""
    raw_show: dict[str, str] = field(default_factory=dict)
    raw_describe: dict[str, str] = field(default_factory=dict)
    decoded_show: dict[str, str] = field(default_factory=dict)
    probe_checks: dict[str, object] = field(default_factory=dict)
    episode_ids: list[str] = field(default_factory=list)
    listed_risk: str = ""
    listed_overdue: str = ""


async def run_probe(client: Client) -> tuple[str, dict[str, object]]:
    """A secret through input, memo, summary, details, activity, timer, query and update."""
    task_queue = f"codec-probe-{uuid.uuid4().hex[:8]}"
    workflow_id = f"codec-probe-{uuid.uuid4().hex}"
    checks: dict[str, object] = {}
    async with Worker(
        client, task_queue=task_queue, workflows=[CodecProbe], activities=[echo_secret]
    ):
        handle = await client.start_workflow(
            CodecProbe.run,
            ProbeInput(secret=PROBE_SECRET),
            id=workflow_id,
            task_queue=task_queue,
            memo={"started": f"memo {PROBE_SECRET}"},
            static_summary=f"summary {PROBE_SECRET}",
            static_details=f"details {PROBE_SECRET}",
        )
        checks["query"] = await handle.query(CodecProbe.peek)
        raw_queries = [
            await client.workflow_service.query_workflow(
                QueryWorkflowRequest(
                    namespace=client.namespace,
                    execution=WorkflowExecution(workflow_id=workflow_id),
                    query=WorkflowQuery(query_type=query_type),
                )
            )
            for query_type in ("peek", "__temporal_workflow_metadata")  # the latter: UI details
        ]
        checks["raw_query_encodings"] = [
            p.metadata["encoding"] for q in raw_queries for p in q.query_result.payloads
        ]
        checks["raw_query_bytes"] = b"".join(q.SerializeToString() for q in raw_queries)
        checks["update"] = await handle.execute_update(CodecProbe.finish, PROBE_SECRET)
        checks["result"] = await handle.result()
        description = await handle.describe()
        checks["static_summary"] = await description.static_summary()
        checks["memo"] = await description.memo()
    return workflow_id, checks


async def run_control(client: Client) -> str:
    """The same workflow with no codec at all: its secret must be visible to the scan."""
    plain = Client(
        client.service_client, namespace=client.namespace, data_converter=pydantic_data_converter
    )
    task_queue = f"codec-control-{uuid.uuid4().hex[:8]}"
    workflow_id = f"codec-control-{uuid.uuid4().hex}"
    async with Worker(
        plain, task_queue=task_queue, workflows=[CodecProbe], activities=[echo_secret]
    ):
        await plain.execute_workflow(
            CodecProbe.run,
            ProbeInput(secret=CONTROL_SECRET, wait_for_finish=False),
            id=workflow_id,
            task_queue=task_queue,
        )
    return workflow_id


@pytest.fixture(scope="module")
async def proof(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ProofRun]:
    keyring = KeyRing.generate("proof-key")
    token = secrets.token_urlsafe(16)
    db = tmp_path_factory.mktemp("proof") / "temporal.sqlite"
    run = ProofRun()
    async with running_codec_server(keyring, token) as codec_url:
        env = await WorkflowEnvironment.start_local(
            data_converter=build_data_converter(keyring),
            dev_server_existing_path=shutil.which("temporal"),
            dev_server_database_filename=str(db),
            search_attributes=ALL_KEYS,
            ui=False,
        )
        try:
            client = env.client
            address = client.service_client.config.target_host
            probe_id, run.probe_checks = await run_probe(client)
            run.encrypted_ids.append(probe_id)
            run.episode_ids = await run_episode_scenarios(client)
            run.encrypted_ids.extend(run.episode_ids)
            run.control_id = await run_control(client)
            if run.episode_ids:
                run.listed_risk, run.listed_overdue = await list_like_an_operator(
                    address, len(run.episode_ids)
                )
            for workflow_id in [*run.encrypted_ids, run.control_id]:
                show = ("workflow", "show", "-w", workflow_id, "--output", "json")
                run.raw_show[workflow_id] = await temporal_cli(address, *show)
                run.raw_describe[workflow_id] = await temporal_cli(
                    address, "workflow", "describe", "-w", workflow_id, "--output", "json"
                )
                run.decoded_show[workflow_id] = await temporal_cli(
                    address,
                    *show,
                    "--codec-endpoint",
                    codec_url,
                    "--codec-auth",
                    f"Bearer {token}",
                )
        finally:
            await env.shutdown()
    run.database = read_database_files(db)
    yield run


async def run_episode_scenarios(client: Client) -> list[str]:
    """Episode scenarios for the synthetic patient (see episode_scenarios.py)."""
    return await run_scenarios(client, PATIENT_NAME, BIRTH_DATE, MEMBER_ID)


async def list_like_an_operator(address: str, episodes: int) -> tuple[str, str]:
    """The operator queries from docs/operator.md, with 'now' a month ahead (so overdue)."""
    month_ahead = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    overdue = (
        f"ProgramId = '{PROOF_PROGRAM}' AND CarePhase = 'in_treatment' "
        f"AND ReviewDueAt < '{month_ahead}'"
    )
    risk = f"RiskFlag = true AND ProgramId = '{PROOF_PROGRAM}'"
    listed = ("", "")
    for _ in range(50):  # visibility is eventually consistent
        listed = (
            await temporal_cli(address, "workflow", "list", "--query", risk, "-o", "json"),
            await temporal_cli(address, "workflow", "list", "--query", overdue, "-o", "json"),
        )
        if listed[1].count("care-episode-") >= episodes and "care-episode-" in listed[0]:
            break
        await asyncio.sleep(0.2)
    return listed


def test_operator_queries_find_episodes_by_search_attribute(proof: ProofRun) -> None:
    risky, improving = proof.episode_ids
    assert risky in proof.listed_risk and improving not in proof.listed_risk
    assert risky in proof.listed_overdue and improving in proof.listed_overdue


def test_scan_finds_plaintext_when_there_is_some(proof: ProofRun) -> None:
    assert CONTROL_SECRET.encode() in proof.database
    assert CONTROL_SECRET in _decode_all_payload_data(proof.raw_show[proof.control_id])


def test_database_file_holds_no_patient_data(proof: ProofRun) -> None:
    for secret in PHI:
        assert secret.encode() not in proof.database, secret
        assert secret.encode("utf-16-le") not in proof.database, secret


def test_raw_history_without_codec_holds_no_patient_data(proof: ProofRun) -> None:
    for workflow_id in proof.encrypted_ids:
        raw = (proof.raw_show[workflow_id], proof.raw_describe[workflow_id])
        for text in map(_decode_all_payload_data, raw):
            for secret in PHI:
                assert secret not in text, (workflow_id, secret)
        assert "binary/encrypted" in _decoded_encodings(proof.raw_show[workflow_id])


def test_cli_with_codec_shows_the_data(proof: ProofRun) -> None:
    everything = "".join(
        _decode_all_payload_data(proof.decoded_show[w]) for w in proof.encrypted_ids
    )
    assert PROBE_SECRET in everything
    if not proof.episode_ids:
        pytest.xfail("CareEpisode scenarios not available yet")
    for secret in PHI:
        assert secret in everything, secret


def test_queries_updates_memos_and_summaries_are_encrypted_but_readable_with_codec(
    proof: ProofRun,
) -> None:
    checks = proof.probe_checks
    assert checks["query"] == f"query {PROBE_SECRET}"
    assert checks["update"] == f"update {PROBE_SECRET}"
    assert checks["result"] == f"result activity saw {PROBE_SECRET}"
    assert checks["static_summary"] == f"summary {PROBE_SECRET}"
    assert checks["memo"] == {"started": f"memo {PROBE_SECRET}", "upserted": f"memo {PROBE_SECRET}"}
    assert checks["raw_query_encodings"] == [b"binary/encrypted", b"binary/encrypted"]
    raw_query = checks["raw_query_bytes"]
    assert isinstance(raw_query, bytes) and PROBE_SECRET.encode() not in raw_query


def _decoded_encodings(show_json: str) -> str:
    """All payload `encoding` metadata values in a `workflow show` JSON, base64-decoded."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            metadata = node.get("metadata")
            if isinstance(metadata, dict) and "encoding" in metadata:
                found.append(base64.b64decode(metadata["encoding"]).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(show_json))
    return " ".join(found)


def _decode_all_payload_data(show_json: str) -> str:
    """The CLI prints decoded payloads as JSON or as base64 `data`; flatten both to text."""
    parts: list[str] = [show_json]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            data = node.get("data")
            if isinstance(data, str):
                with contextlib.suppress(ValueError):
                    parts.append(base64.b64decode(data, validate=True).decode(errors="replace"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(show_json))
    return "\n".join(parts)
