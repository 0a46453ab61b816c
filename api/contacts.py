"""Contact details leave the episode start here: stored in PostgreSQL, stripped from what
Temporal receives (the workflow only needs to know that a patient message is due)."""

from __future__ import annotations

import asyncpg

from api.problems import ApiProblem
from schemas.episode import EpisodeStart
from store.channels.contacts import ContactConflict, PostgresContacts


async def keep_contact_details(pool: asyncpg.Pool, start: EpisodeStart) -> EpisodeStart:
    """Store the start's contact details; return the start the workflow may see.

    A retry with the same details passes; different details for a started episode are the
    same conflict as any other different body (409), and nothing is changed.
    """
    contact = start.contact
    if contact.time_zone is None:  # quiet hours then follow the program's own zone
        contact = contact.model_copy(update={"time_zone": start.policy.time_zone})
    try:
        contacts = PostgresContacts(pool)
        await contacts.save_new(
            start.episode_id, contact, start.policy.messaging, start.patient.birth_date
        )
    except ContactConflict:
        raise ApiProblem(
            409,
            "episode-id-conflict",
            f"episode '{start.episode_id}' was already started with a different body",
        ) from None
    return start.without_contact_details()
