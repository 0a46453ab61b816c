"""An episode's start, split: the patient's data into PostgreSQL, the rest to Temporal.

The patient row (demographics, coverage IDs, the start body's fingerprint) and the contact
details are written first, in one transaction; the workflow then starts with only the
opaque patient key (no member ID, no 18th birthday). A repeated start is compared by
fingerprint here, not by reading the workflow's history back. A coverage change's member
ID is kept here too, before the update (without it) reaches the workflow.
"""

from __future__ import annotations

import asyncpg

from api.episodes_client import EpisodeClient
from api.problems import ApiProblem, FieldError, episode_id_conflict
from schemas.episode import Coverage, EpisodeStart
from schemas.submissions import CoverageSubmission, Submission
from store.patients import CoverageConflict, PostgresPatients, StartConflict


def _member_required(coverage: Coverage | None, field: str) -> None:
    """A body's coverage names its member ID (the model allows none: the workflow's has none)."""
    if coverage is not None and coverage.member_id is None:
        raise ApiProblem(
            422,
            "invalid-request",
            "the request is not valid",
            errors=[FieldError(field=field, message="Field required")],
        )


async def start_episode(
    episodes: EpisodeClient, pool: asyncpg.Pool, start: EpisodeStart, fingerprint: str
) -> bool:
    """True when the episode was started now, False for a retry of the same start.

    `fingerprint` is the start body's as received (`EpisodeStart.fingerprint`). A different
    body under a used episode ID is a 409 and changes nothing.
    """
    _member_required(start.coverage, "body.coverage.member_id")
    patients = PostgresPatients(pool)
    try:
        registration = await patients.register_start(start, fingerprint)
    except StartConflict:
        raise episode_id_conflict(start.episode_id) from None
    try:
        return await episodes.start(
            start.for_engine(registration.patient_key),
            known=registration.known,
            received=start,
        )
    except ApiProblem as problem:
        if problem.status == 409:
            await patients.forget(registration)
        raise


async def keep_member_ids(pool: asyncpg.Pool, episode_id: str, body: Submission) -> Submission:
    """The submission as the workflow gets it: a coverage change's member ID goes into
    PostgreSQL under the change's submission ID (the payer activity reads it there) and the
    update carries the payer and plan only. Any other submission goes as it is. Another
    member ID under a used submission ID is a 409 submission-conflict, nothing changed."""
    if not isinstance(body, CoverageSubmission) or body.coverage is None:
        return body
    _member_required(body.coverage, "body.coverage.member_id")
    try:
        await PostgresPatients(pool).keep_coverage(episode_id, body.submission_id, body.coverage)
    except CoverageConflict:
        raise ApiProblem(
            409,
            "submission-conflict",
            f"submit_coverage '{body.submission_id}' was already accepted with different "
            "content; a correction needs a new submission id",
        ) from None
    return body.model_copy(update={"coverage": body.coverage.without_member()})
