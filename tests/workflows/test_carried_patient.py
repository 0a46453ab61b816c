"""Engine V3 drops a patient carried in an older start: a run whose carried state still holds
the name, birth date, MRN or contact details (a start recorded before the patients table)
stores them through `keep_patient` and keeps only the opaque key, so the next run's input
holds none of them."""

from __future__ import annotations

import uuid
from datetime import date

from temporalio.testing import WorkflowEnvironment

from activities.care import CareActivities
from activities.patients import InMemoryPatients
from rules.levels import LevelOfCare
from schemas.episode import Consents, ContactPreferences, Coverage, EpisodeStart, PatientRef
from temporal_client import start_episode
from tests.workflows.clinic import Adapters, Clinic, chain_histories, running_worker
from workflows.state import EpisodeInput

NAME = "Carriedname Oldstart"
MRN = "MRN-CARRIED-31337"


class PatientAdapters(Adapters):
    def __init__(self) -> None:
        super().__init__()
        self.patients = InMemoryPatients()

    def activities(self) -> CareActivities:
        return CareActivities(self.store, self.payer, self.patients)


async def _inputs(clinic: Clinic) -> list[EpisodeInput]:
    """Each run's input, oldest first."""
    inputs = []
    for history in reversed(await chain_histories(clinic)):
        payloads = history.events[0].workflow_execution_started_event_attributes.input.payloads
        decoded = await clinic.env.client.data_converter.decode(payloads, [EpisodeInput])
        assert isinstance(decoded[0], EpisodeInput)
        inputs.append(decoded[0])
    return inputs


async def test_a_carried_patient_is_stored_and_dropped_at_the_next_run(
    ts_env: WorkflowEnvironment,
) -> None:
    adapters = PatientAdapters()
    async with running_worker(ts_env, adapters) as (queue, _):
        start = EpisodeStart(
            episode_id=f"ep-carried-{uuid.uuid4().hex[:10]}",
            program_id="iop-adult-east",
            patient=PatientRef(patient_ref=MRN, name=NAME, birth_date=date(1960, 1, 2)),
            coverage=Coverage(payer_id="SANDBOX", member_id="M123456"),
            contact=ContactPreferences(sms=True, phone="+15550131337"),
            consents=Consents(payer_disclosure=True),
        )
        handle = await start_episode(ts_env.client, start, task_queue=queue, history_event_limit=60)
        clinic = Clinic(ts_env, handle, start.episode_id)
        await clinic.assess(LevelOfCare.IOP, total=18)
        await clinic.wait(hours=1)
        await clinic.approve(units=60, days=200)
        for score in (16, 15, 14, 15, 14, 13, 12, 13):
            await clinic.until_review()
            await clinic.review(score)
        assert (await clinic.state()).phase.value == "in_treatment"

    inputs = await _inputs(clinic)
    assert len(inputs) >= 3, f"expected several runs, got {len(inputs)}"
    first = inputs[0].start
    assert first.patient.name == NAME  # started the old way: the whole start in the input
    kept = adapters.patients.kept[clinic.episode_id]
    assert (kept.patient.patient_ref, kept.patient.name, kept.contact.phone) == (
        MRN,
        NAME,
        "+15550131337",
    )
    # The second run (the first to carry state) kept the patient; every later one holds
    # only the key, and no name, birth date, MRN or phone.
    for later in inputs[2:]:
        text = later.model_dump_json()
        assert later.start.patient.patient_ref == f"pt_mem_{clinic.episode_id}"
        for secret in (NAME, MRN, "1960-01-02", "+15550131337"):
            assert secret not in text, secret
