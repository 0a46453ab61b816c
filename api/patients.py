"""An episode's start, split: the patient's data into PostgreSQL, the rest to Temporal.

The patient row (demographics, coverage IDs, the start body's fingerprint) and the contact
details are written first, in one transaction; the workflow then starts with only the
opaque patient key. A repeated start is compared by fingerprint here, not by reading the
workflow's history back.
"""

from __future__ import annotations

import asyncpg

from api.episodes_client import EpisodeClient
from api.problems import ApiProblem, episode_id_conflict
from schemas.episode import EpisodeStart
from store.patients import PostgresPatients, StartConflict


async def start_episode(
    episodes: EpisodeClient, pool: asyncpg.Pool, start: EpisodeStart, fingerprint: str
) -> bool:
    """True when the episode was started now, False for a retry of the same start.

    `fingerprint` is the start body's as received (`EpisodeStart.fingerprint`). A different
    body under a used episode ID is a 409 and changes nothing.
    """
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
