"""Issue 14 item 17 on the time-skipping server (engine V4): an adolescent started with the
18th birthday (`adult_on`, as the API's body may give it) becomes an adult at the first
review after it, the care team is told, and no payload of the history holds the birthday:
the records keep it, and the workflow only asks them."""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from rules.levels import AgeGroup, LevelOfCare
from rules.policy import ProgramPolicy
from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
from temporal_client import start_episode
from tests.workflows.clinic import Clinic, chain_histories, running_worker
from tests.workflows.payloads import payloads_in
from workflows.state import EpisodeInput


async def _decoded_history(clinic: Clinic) -> bytes:
    codec = clinic.env.client.data_converter.payload_codec
    assert codec is not None
    blobs: list[bytes] = []
    for history in await chain_histories(clinic):
        for event in history.events:
            blobs += [p.data for p in await codec.decode(list(payloads_in(event)))]
    return b"\n".join(blobs)


async def test_an_adolescent_becomes_an_adult_from_the_records(ts_env: WorkflowEnvironment) -> None:
    async with running_worker(ts_env) as (queue, adapters):
        today = (await ts_env.get_current_time()).date()
        birthday = today + timedelta(days=10)
        clinic = await Clinic.admit(ts_env, queue, age_group=AgeGroup.ADOLESCENT, adult_on=birthday)
        await clinic.assess(LevelOfCare.IOP, total=16)
        await clinic.wait(hours=1)
        await clinic.approve(units=20)
        await clinic.until_review()
        first = await clinic.review(12, hours=7)  # adolescent minimum 6 h: met
        assert "attendance_below_minimum" not in first.reasons
        assert (await clinic.state()).age_group is AgeGroup.ADOLESCENT
        await clinic.until_review()
        await clinic.review(12, hours=7)
        await clinic.wait(hours=1)
        assert (await clinic.state()).age_group is AgeGroup.ADULT
        told = adapters.outbox.templates(clinic.episode_id, "care_team")
        assert told.count("age_group_changed") == 1
        await clinic.until_review()
        third = await clinic.review(12, hours=7)  # adult minimum 9 h: missed
        assert "attendance_below_minimum" in third.reasons

        history = await _decoded_history(clinic)
        assert b'"adolescent"' in history  # control: the scan reads decoded payloads
        assert clinic.episode_id.encode() in history
        for spelling in (birthday.isoformat(), birthday.strftime("%Y%m%d")):
            assert spelling.encode() not in history, f"the birthday ({spelling}) in Temporal"


async def test_a_carried_birthday_moves_to_the_records_at_the_next_run(
    ts_env: WorkflowEnvironment,
) -> None:
    """A start recorded before V4 with `adult_on` in it: the first V4 run that carries it
    (after a continue-as-new) stores it through `keep_patient` and drops it; the age group
    then comes from the records."""
    async with running_worker(ts_env) as (queue, adapters):
        today = (await ts_env.get_current_time()).date()
        birthday = today + timedelta(days=40)
        start = EpisodeStart(
            episode_id=f"ep-teen-{uuid.uuid4().hex[:10]}",
            program_id="iop-teens",
            age_group=AgeGroup.ADOLESCENT,
            adult_on=birthday,
            patient=PatientRef(patient_ref="pt_carriedteen"),
            coverage=Coverage(payer_id="SANDBOX", member_id="NOAUTH-TEEN"),
            consents=Consents(payer_disclosure=True),
            policy=ProgramPolicy(patient_message_window_hours=(0, 24)),
        )
        handle = await start_episode(ts_env.client, start, task_queue=queue, history_event_limit=60)
        clinic = Clinic(ts_env, handle, start.episode_id)
        await clinic.assess(LevelOfCare.IOP, total=16)
        for _ in range(7):
            await clinic.until_review()
            await clinic.review(12, hours=7)
        await clinic.wait(hours=1)
        assert (await clinic.state()).age_group is AgeGroup.ADULT
        assert adapters.patients.adults[start.episode_id] == birthday, "kept in the records"
        inputs = []
        for history in reversed(await chain_histories(clinic)):
            attributes = history.events[0].workflow_execution_started_event_attributes
            [decoded] = await ts_env.client.data_converter.decode(
                attributes.input.payloads, [EpisodeInput]
            )
            assert isinstance(decoded, EpisodeInput)
            inputs.append(decoded)
    assert len(inputs) >= 3, f"expected several runs, got {len(inputs)}"
    assert inputs[0].start.adult_on == birthday  # started the old way
    for later in inputs[2:]:
        assert later.start.adult_on is None
        assert birthday.isoformat() not in later.model_dump_json()
