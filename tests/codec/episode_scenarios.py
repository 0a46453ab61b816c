"""Care-episode scenarios for the encryption proof, run with the codec-enabled client.

A synthetic patient with distinctive identifiers goes through start, assessment, payer
eligibility and authorization, weekly review and a clinician's decision; the identifiers
also appear in free-text fields (rationale, reason) as clinicians sometimes type them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

from temporalio.client import Client, WorkflowHandle

from activities.care import CareActivities
from activities.memory import InMemoryRecordStore
from activities.payer_sandbox import SandboxPayer
from rules.levels import LevelOfCare
from rules.transitions import CarePhase
from schemas.episode import Consents, Coverage, EpisodeStart, PatientRef
from schemas.submissions import (
    AssessmentSubmission,
    AuthorizationDecision,
    AuthorizationKind,
    ClinicianDecision,
    DecisionAction,
    LevelDetermination,
    Phq9,
    ReviewSubmission,
)
from temporal_client import start_episode
from worker.runtime import build_worker
from workflows.care_episode import CareEpisode
from workflows.state import EpisodeResult

PROGRAM_ID = "iop-codec-proof"

Handle = WorkflowHandle[CareEpisode, EpisodeResult]


def _phq9(items: list[int]) -> Phq9:
    return Phq9(items=items)


async def _wait_for_phase(handle: Handle, phase: CarePhase, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.1)):
        if (await handle.query(CareEpisode.state)).phase is phase:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"episode never reached {phase}")


async def _enrolled_episode(
    client: Client, task_queue: str, name: str, birth_date: str, member_id: str
) -> Handle:
    start = EpisodeStart(
        episode_id=f"proof-{uuid.uuid4().hex[:12]}",
        program_id=PROGRAM_ID,
        patient=PatientRef(
            patient_ref=f"MRN {name}", name=name, birth_date=date.fromisoformat(birth_date)
        ),
        coverage=Coverage(payer_id="SANDBOX", member_id=member_id),
        consents=Consents(payer_disclosure=True),
    )
    handle = await start_episode(client, start, task_queue=task_queue)
    await _wait_for_phase(handle, CarePhase.ASSESSMENT)
    await handle.execute_update(
        CareEpisode.submit_assessment,
        AssessmentSubmission(
            assessment_id=f"asmt-{uuid.uuid4().hex[:8]}",
            clinician_id="clin-1",
            phq9=_phq9([3, 3, 2, 2, 2, 2, 2, 2, 0]),
            determination=LevelDetermination(
                instrument="LOCUS", level=LevelOfCare.IOP, rationale=f"{name} meets IOP criteria"
            ),
        ),
    )
    await _wait_for_phase(handle, CarePhase.AUTHORIZATION)
    today = date.today()
    await handle.execute_update(
        CareEpisode.record_authorization,
        AuthorizationDecision(
            decision_id=f"auth-{uuid.uuid4().hex[:8]}",
            recorded_by="ur-1",
            kind=AuthorizationKind.APPROVED,
            units=20,
            start_date=today,
            end_date=today + timedelta(days=60),
            authorization_number=f"AUTH-{uuid.uuid4().hex[:6]}",
            reason=f"approved for member {member_id}",
        ),
    )
    await _wait_for_phase(handle, CarePhase.IN_TREATMENT)
    return handle


async def run_scenarios(client: Client, name: str, birth_date: str, member_id: str) -> list[str]:
    """Two episodes: one left with an open risk flag, one stepped down to OP."""
    task_queue = f"care-episodes-proof-{uuid.uuid4().hex[:8]}"
    activities = CareActivities(InMemoryRecordStore(), SandboxPayer())
    async with build_worker(client, task_queue=task_queue, activities=activities):
        risky = await _enrolled_episode(client, task_queue, name, birth_date, member_id)
        await risky.execute_update(
            CareEpisode.submit_review,
            ReviewSubmission(
                review_id=f"rev-{uuid.uuid4().hex[:8]}",
                clinician_id="clin-1",
                phq9=_phq9([3, 3, 2, 2, 2, 2, 1, 1, 1]),
                hours_attended=10,
                units_attended=3,
            ),
        )
        improving = await _enrolled_episode(client, task_queue, name, birth_date, member_id)
        await improving.execute_update(
            CareEpisode.submit_review,
            ReviewSubmission(
                review_id=f"rev-{uuid.uuid4().hex[:8]}",
                clinician_id="clin-1",
                phq9=_phq9([1, 1, 1, 1, 0, 0, 0, 0, 0]),
                hours_attended=10,
                units_attended=3,
            ),
        )
        await improving.execute_update(
            CareEpisode.decide,
            ClinicianDecision(
                decision_id=f"dec-{uuid.uuid4().hex[:8]}",
                clinician_id="clin-1",
                action=DecisionAction.STEP_DOWN,
                target_level=LevelOfCare.OP,
                reason=f"{name} (born {birth_date}) improving; safety plan in place",
            ),
        )
        views = [await h.query(CareEpisode.state) for h in (risky, improving)]
    assert views[0].flags, "the risky episode should carry a risk flag"
    assert views[1].delivered_level is LevelOfCare.OP
    return [risky.id, improving.id]
