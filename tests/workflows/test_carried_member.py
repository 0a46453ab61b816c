"""Engine V4 moves a carried member ID to the records: an episode whose start reached the
workflow with the payer member ID in it (recorded before V4) keeps it only until its first
V4 run that carries state; that run stores it (`keep_patient`) and drops it from the start
and from the coverage, and later payer requests get it from the records."""

from __future__ import annotations

import uuid

from temporalio.testing import WorkflowEnvironment

from activities.payer_sandbox import SandboxPayer
from rules.levels import LevelOfCare
from rules.policy import ProgramPolicy
from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
from schemas.payer import AuthorizationRequest, PayerAnswer
from temporal_client import start_episode
from tests.workflows.clinic import Adapters, Clinic, chain_histories, running_worker
from workflows.state import EpisodeInput

MEMBER = "M-CARRIED-8086"


class RecordingPayer(SandboxPayer):
    def __init__(self) -> None:
        super().__init__()
        self.authorizations: list[AuthorizationRequest] = []

    async def request_authorization(self, request: AuthorizationRequest) -> PayerAnswer:
        self.authorizations.append(request)
        return await super().request_authorization(request)


async def _inputs(clinic: Clinic) -> list[EpisodeInput]:
    inputs = []
    for history in reversed(await chain_histories(clinic)):
        payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
        [decoded] = await clinic.env.client.data_converter.decode(payloads, [EpisodeInput])
        assert isinstance(decoded, EpisodeInput)
        inputs.append(decoded)
    return inputs


async def test_a_carried_member_id_moves_to_the_records(ts_env: WorkflowEnvironment) -> None:
    payer = RecordingPayer()
    async with running_worker(ts_env, Adapters(payer=payer)) as (queue, adapters):
        start = EpisodeStart(
            episode_id=f"ep-member-{uuid.uuid4().hex[:10]}",
            program_id="iop-adult-east",
            patient=PatientRef(patient_ref="pt_carriedmember"),
            coverage=Coverage(payer_id="SANDBOX", member_id=MEMBER),
            consents=Consents(payer_disclosure=True),
            policy=ProgramPolicy(patient_message_window_hours=(0, 24)),
        )
        handle = await start_episode(ts_env.client, start, task_queue=queue, history_event_limit=60)
        clinic = Clinic(ts_env, handle, start.episode_id)
        await clinic.assess(LevelOfCare.IOP, total=16)
        await clinic.wait(hours=1)
        await clinic.approve(units=60, days=30)  # the extension is asked for in a later run
        for _ in range(4):
            await clinic.until_review()
            await clinic.review(12)
        await clinic.wait(days=1)
        inputs = await _inputs(clinic)
        continued = (await chain_histories(clinic))[:-1]  # every run after the first
        scheduled = [
            e.activity_task_scheduled_event_attributes
            for history in continued
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        codec = ts_env.client.data_converter.payload_codec
        assert codec is not None
        sent = [
            p.data.decode()
            for a in scheduled
            if a.activity_type.name == "request_authorization"
            for p in await codec.decode(list(a.input.payloads))
        ]
    assert len(inputs) >= 3, f"expected several runs, got {len(inputs)}"
    first = inputs[0].start.coverage
    assert first is not None and first.member_id == MEMBER  # started the old way
    for later in inputs[2:]:
        assert MEMBER not in later.model_dump_json()
    subscriber = adapters.patients.subscribers[start.episode_id]
    assert subscriber.member_id == MEMBER, "kept in the records"
    extensions = [r for r in payer.authorizations if r.kind.value == "concurrent_review"]
    assert extensions, "the extension was asked for"
    assert {r.member_id for r in extensions} == {MEMBER}, "the payer still got the member ID"
    assert sent and all(MEMBER not in s for s in sent), "the workflow's request names none"
