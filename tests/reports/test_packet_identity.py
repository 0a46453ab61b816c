"""The packet's patient identity comes from the patients table when the packet is made
or rendered (never Temporal): name, birth date and member ID for the payer, the MRN only
for the clinic's own Bundle; an episode with no patients row has none."""

from __future__ import annotations

from datetime import UTC, date, datetime

import asyncpg

from bench.outcomes_bench import sample_packet
from store.review_packets import patient_identity, with_identity

AT = datetime(2026, 5, 1, 9, tzinfo=UTC)


async def _patient(pool: asyncpg.Pool, episode_id: str) -> None:
    await pool.execute(
        """INSERT INTO episodes (episode_id, workflow_id, program_id, phase, started_at,
            updated_at, last_seq) VALUES ($1, $2, 'p1', 'in_treatment', $3, $3, 1)""",
        episode_id,
        f"care-episode-{episode_id}",
        AT,
    )
    await pool.execute(
        """INSERT INTO patients (patient_key, episode_id, program_id, mrn, display_name,
            birth_date, payer_id, member_id)
        VALUES ('pk_1', $1, 'p1', 'MRN-9', 'Pat Example', '1990-04-02', 'PAYER', 'M-77')""",
        episode_id,
    )


async def test_identity_for_the_payer_and_for_the_clinic(pool: asyncpg.Pool) -> None:
    await _patient(pool, "bench-episode")
    payer = await patient_identity(pool, "bench-episode")
    assert payer is not None
    assert (payer.patient_ref, payer.name, payer.birth_date, payer.member_id) == (
        None,
        "Pat Example",
        date(1990, 4, 2),
        "M-77",
    )
    clinic = await patient_identity(pool, "bench-episode", with_mrn=True)
    assert clinic is not None and clinic.patient_ref == "MRN-9"
    assert await patient_identity(pool, "no-such-episode") is None


async def test_a_packet_stored_without_identity_gets_it_when_rendered(
    pool: asyncpg.Pool,
) -> None:
    stored = sample_packet()  # episode "bench-episode", patient None
    assert stored.patient is None
    assert await with_identity(pool, stored) is stored  # no patients row: unchanged
    await _patient(pool, "bench-episode")
    rendered = await with_identity(pool, stored)
    assert rendered.patient is not None and rendered.patient.member_id == "M-77"
    assert stored.patient is None  # the stored packet itself is not changed
