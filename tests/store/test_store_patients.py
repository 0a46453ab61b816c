"""The patients table (store/patients.py) on a real PostgreSQL: a start's patient and contact
details are stored once, a retry is told from another body by fingerprint, a conflict
changes nothing, and the payer's subscriber and the workbench's display names read back."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import asyncpg
import pytest

from schemas.episode import (
    PATIENT_KEY_PREFIX,
    ContactPreferences,
    Coverage,
    EpisodeStart,
    PatientRef,
)
from store.patients import PostgresPatients, StartConflict


def _start(episode_id: str = "ep-patients-1", name: str = "Ada Q Lovelace") -> EpisodeStart:
    return EpisodeStart(
        episode_id=episode_id,
        program_id="iop-adult",
        patient=PatientRef(patient_ref="MRN-777", name=name, birth_date=date(1990, 2, 3)),
        coverage=Coverage(payer_id="SANDBOX", member_id="M-42"),
        contact=ContactPreferences(sms=True, phone="+15550100"),
    )


async def _rows(pool: asyncpg.Pool, table: str) -> int:
    count = await pool.fetchval(f"SELECT count(*) FROM {table}")
    assert isinstance(count, int)
    return count


async def test_a_start_is_stored_once_under_an_opaque_key(pool: asyncpg.Pool) -> None:
    patients = PostgresPatients(pool)
    start = _start()
    first = await patients.register_start(start, start.fingerprint())
    assert first.new and first.contacts_new
    assert first.patient_key.startswith(PATIENT_KEY_PREFIX)
    assert "777" not in first.patient_key and "Lovelace" not in first.patient_key

    again = await patients.register_start(start, start.fingerprint())
    assert not again.new and again.known and again.patient_key == first.patient_key

    record = await patients.get(start.episode_id)
    assert record is not None
    assert (record.mrn, record.display_name, record.birth_date) == (
        "MRN-777",
        "Ada Q Lovelace",
        date(1990, 2, 3),
    )
    assert (record.payer_id, record.member_id) == ("SANDBOX", "M-42")
    phone = await pool.fetchval(
        "SELECT phone FROM patient_contacts WHERE episode_id = $1", start.episode_id
    )
    assert phone == "+15550100"
    assert await _rows(pool, "patients") == 1


async def test_another_body_under_the_same_id_is_a_conflict_and_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    patients = PostgresPatients(pool)
    start = _start()
    await patients.register_start(start, start.fingerprint())
    renamed = _start(name="Someone Else")
    with pytest.raises(StartConflict):
        await patients.register_start(renamed, renamed.fingerprint())
    record = await patients.get(start.episode_id)
    assert record is not None and record.display_name == "Ada Q Lovelace"
    assert await _rows(pool, "patients") == 1


async def test_contacts_stored_before_the_patients_table_must_match(pool: asyncpg.Pool) -> None:
    """An episode whose contacts were kept before migration 0500: other contact details are a
    conflict, and the patient row is not kept either (one transaction)."""
    await pool.execute(
        "INSERT INTO patient_contacts (episode_id, phone) VALUES ('ep-old', '+15559999')"
    )
    patients = PostgresPatients(pool)
    start = _start("ep-old")
    with pytest.raises(StartConflict):
        await patients.register_start(start, start.fingerprint())
    assert await patients.get("ep-old") is None


async def test_forget_removes_only_what_the_registration_stored(pool: asyncpg.Pool) -> None:
    patients = PostgresPatients(pool)
    start = _start()
    registration = await patients.register_start(start, start.fingerprint())
    await patients.forget(registration)
    assert await patients.get(start.episode_id) is None
    assert await _rows(pool, "patient_contacts") == 0


async def test_subscriber_and_display_names(pool: asyncpg.Pool) -> None:
    patients = PostgresPatients(pool)
    for start in (_start("ep-a"), _start("ep-b", name="Grace Hopper")):
        await patients.register_start(start, start.fingerprint())
    nameless = _start("ep-c").model_copy(update={"patient": PatientRef(patient_ref="MRN-9")})
    await patients.register_start(nameless, nameless.fingerprint())

    subscriber = await patients.subscriber("ep-a")
    assert subscriber is not None
    assert (subscriber.last_name, subscriber.first_name, subscriber.birth_date) == (
        "Lovelace",
        "Ada Q",
        date(1990, 2, 3),
    )
    assert await patients.subscriber("ep-unknown") is None
    names = await patients.display_names(["ep-a", "ep-b", "ep-c", "ep-unknown"], None)
    assert names == {"ep-a": "Ada Q Lovelace", "ep-b": "Grace Hopper"}
    assert await patients.display_names(["ep-a"], ["iop-adult"]) == {"ep-a": "Ada Q Lovelace"}
    assert await patients.display_names(["ep-a"], ["php-teen"]) == {}  # not this program's
    assert await patients.display_names(["ep-a"], []) == {}
    assert await patients.display_names([], None) == {}


def test_the_fingerprint_is_of_the_canonical_body() -> None:
    start = _start()
    same = EpisodeStart.model_validate_json(start.model_dump_json())
    assert same.fingerprint() == start.fingerprint()
    assert _start(name="Ada Q  Lovelace").fingerprint() != start.fingerprint()


async def test_a_row_kept_from_an_older_runs_state_has_no_fingerprint(pool: asyncpg.Pool) -> None:
    """`keep_carried` (an older run dropping the patient from its state) stores the patient
    and contacts once; a start under that episode is then neither new nor known (its body
    is compared with the first history event instead), whatever its fingerprint."""
    patients = PostgresPatients(pool)
    start = _start("ep-carried")
    key = await patients.keep_carried(start)
    assert key.startswith(PATIENT_KEY_PREFIX)
    assert await patients.keep_carried(start) == key  # once
    record = await patients.get("ep-carried")
    assert record is not None and record.display_name == "Ada Q Lovelace"
    phone = await pool.fetchval(
        "SELECT phone FROM patient_contacts WHERE episode_id = 'ep-carried'"
    )
    assert phone == "+15550100"
    for body in (start, _start("ep-carried", name="Other")):
        registration = await patients.register_start(body, body.fingerprint())
        assert (registration.new, registration.known) == (False, False)
        assert registration.patient_key == key


def test_the_fingerprint_is_the_same_in_every_process() -> None:
    """A policy's frozensets iterate in hash order, which differs per process: the same
    start retried against another API process must still be the same start."""
    script = (
        "from tests.store.test_store_patients import _start; "
        "from schemas.episode import EpisodeStart; s = _start(); "
        "print(EpisodeStart.model_validate_json(s.model_dump_json()).fingerprint())"
    )
    found = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in (1, 2, 3, 4)
    }
    assert len(found) == 1, found
