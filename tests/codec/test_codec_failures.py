"""Failure messages are encrypted: the server's history never holds the message text."""

from __future__ import annotations

import uuid

import pytest
from codec_probe_workflow import CodecProbe, ProbeInput, echo_secret
from proof_support import client_without_codec
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

SECRET = "Zyxwvut Qqqpatient failure-7731"


async def test_failure_message_is_encrypted_in_history(codec_ts_env: WorkflowEnvironment) -> None:
    client = codec_ts_env.client
    task_queue = f"codec-failures-{uuid.uuid4().hex}"
    workflow_id = f"codec-failure-{uuid.uuid4().hex}"
    async with Worker(
        client, task_queue=task_queue, workflows=[CodecProbe], activities=[echo_secret]
    ):
        with pytest.raises(WorkflowFailureError) as caught:
            await client.execute_workflow(
                CodecProbe.run,
                ProbeInput(secret=SECRET, fail=True, wait_for_finish=False),
                id=workflow_id,
                task_queue=task_queue,
            )
    # with the codec, the message decrypts for the caller
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.message == f"failure message {SECRET}"

    # without the codec, the stored history holds neither message nor input
    raw = client_without_codec(client)
    history = await raw.get_workflow_handle(workflow_id).fetch_history()
    assert SECRET.encode() not in b"".join(e.SerializeToString() for e in history.events)
    assert SECRET not in history.to_json()
    [failed] = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED
    ]
    failure = failed.workflow_execution_failed_event_attributes.failure
    assert failure.message == "Encoded failure"
    assert failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
