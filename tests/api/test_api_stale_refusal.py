"""A review that reaches an episode its worker no longer caches is not refused on a stale
phase.

With more open episodes than cache slots, the worker replays an episode's history before
it validates a new update, and the SDK applies the update in the same activation as the
last replayed payer result: the validator saw `insurance_verification` while the episode
was (and its query said) `in_treatment`, and the review came back 409. Reproduced here on
the dev server with a two-episode cache and ten episodes; `EpisodeClient` asks again when
a refusal names a phase the episode has left.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from activities.care import CareActivities
from activities.memory import InMemoryRecordStore
from activities.patients import InMemoryPatients
from activities.payer_sandbox import SandboxPayer
from api.episodes_client import EpisodeClient
from codec.converter import build_data_converter
from codec.keys import KeyRing
from config.tuning import WorkerTuning
from rules.levels import LevelOfCare
from rules.transitions import Action, CarePhase
from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
from schemas.submissions import AssessmentSubmission, LevelDetermination, ReviewSubmission
from temporal_client import start_episode
from tests.workflows.clinic import phq9
from worker.registration import start_dev_server
from worker.runtime import build_worker

EPISODES = 10
CACHE = 3


async def _enrol_then_review(
    episodes: EpisodeClient, env: WorkflowEnvironment, queue: str, patients: InMemoryPatients
) -> CarePhase:
    start = EpisodeStart(
        episode_id=f"stale-{uuid.uuid4().hex[:10]}",
        program_id="p1",
        patient=PatientRef(patient_ref="MRN-STALE"),
        coverage=Coverage(payer_id="SANDBOX", member_id="NOAUTH-1"),
        consents=Consents(payer_disclosure=True),
    )
    key = patients.register(start)
    await start_episode(env.client, start.for_engine(key), task_queue=queue)
    assessment = AssessmentSubmission(
        assessment_id="a1",
        clinician_id="c1",
        phq9=phq9(16),
        determination=LevelDetermination(instrument="LOCUS", level=LevelOfCare.IOP, rationale="x"),
    )
    await episodes.submit(start.episode_id, Action.SUBMIT_ASSESSMENT, assessment)
    for _ in range(150):
        if (await episodes.state(start.episode_id)).phase is CarePhase.IN_TREATMENT:
            break
        await asyncio.sleep(0.2)
    review = ReviewSubmission(
        review_id="r1", clinician_id="c1", phq9=phq9(12), hours_attended=10, units_attended=3
    )
    await episodes.submit(start.episode_id, Action.SUBMIT_REVIEW, review)
    return (await episodes.state(start.episode_id)).phase


async def test_reviews_on_evicted_episodes_are_not_refused_on_a_stale_phase() -> None:
    # A dev server of its own: the session's shared one carries every other test's load.
    dev_env = await start_dev_server(build_data_converter(KeyRing.generate()))
    try:
        await _ten_episodes_on_a_small_cache(dev_env)
    finally:
        await dev_env.shutdown()


async def _ten_episodes_on_a_small_cache(dev_env: WorkflowEnvironment) -> None:
    queue = f"stale-{uuid.uuid4().hex[:6]}"
    patients = InMemoryPatients()
    activities = CareActivities(InMemoryRecordStore(), SandboxPayer(), patients)
    tuning = WorkerTuning(
        max_cached_workflows=CACHE,
        max_concurrent_workflow_tasks=CACHE,
        max_concurrent_activities=10,
    )
    episodes = EpisodeClient(dev_env.client, task_queue=queue, timeout=timedelta(seconds=90))
    async with build_worker(dev_env.client, task_queue=queue, activities=activities, tuning=tuning):
        phases = await asyncio.gather(
            *(_enrol_then_review(episodes, dev_env, queue, patients) for _ in range(EPISODES))
        )
    assert phases == [CarePhase.IN_TREATMENT] * EPISODES
