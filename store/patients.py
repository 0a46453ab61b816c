"""Who each episode's patient is, in PostgreSQL only (migration 0500).

The API writes a row when an episode starts, in one transaction with the contact details
(patient_contacts), before Temporal hears of the episode; the workflow then carries only
the row's opaque `patient_key`. The payer activity reads the subscriber's name and date of
birth here by episode ID, the age-group activity the day an adolescent turns 18
(`adult_from`); the workbench reads the display name. The row also keeps the
SHA-256 of the start body as received, so a repeated start is told from a different one
without reading anything back from Temporal.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass, replace
from datetime import date

import asyncpg

from schemas.episode import PATIENT_KEY_PREFIX, ContactPreferences, Coverage, EpisodeStart
from schemas.payer import Subscriber
from store.channels.contacts import ContactConflict, PostgresContacts


def new_patient_key() -> str:
    """An opaque, random patient reference (96 bits): says nothing about the patient."""
    return PATIENT_KEY_PREFIX + secrets.token_hex(12)


class StartConflict(Exception):
    """The episode ID was already started with another body; nothing was changed."""


class CoverageConflict(Exception):
    """A coverage change's submission ID was already used with another member ID."""


@dataclass(frozen=True)
class Registration:
    """The outcome of registering a start: the patient's key; `new`: this call stored the
    row; `known`: the same body (fingerprint) was stored before, so this start is a retry.
    Neither: the row was kept from an older run's carried state, with no fingerprint."""

    episode_id: str
    patient_key: str
    new: bool
    contacts_new: bool
    known: bool = False


@dataclass(frozen=True)
class PatientRecord:
    patient_key: str
    episode_id: str
    program_id: str
    mrn: str
    display_name: str | None
    birth_date: date | None
    payer_id: str | None
    member_id: str | None
    adult_on: date | None = None


def eighteenth_birthday(birth_date: date) -> date:
    """The day someone born on `birth_date` turns 18 (born on 29 February: 1 March)."""
    try:
        return birth_date.replace(year=birth_date.year + 18)
    except ValueError:
        return date(birth_date.year + 18, 3, 1)


def adult_from(record: PatientRecord) -> date | None:
    """The first day the patient is an adult: from the birth date, else the start's
    `adult_on`; None when the records know neither."""
    if record.birth_date is not None:
        return eighteenth_birthday(record.birth_date)
    return record.adult_on


def subscriber_of(record: PatientRecord) -> Subscriber:
    """The subscriber as X12 wants it: the last word of the name as the last name."""
    words = (record.display_name or "").split()
    return Subscriber(
        last_name=words[-1] if words else None,
        first_name=" ".join(words[:-1]) or None,
        birth_date=record.birth_date,
        member_id=record.member_id,
    )


def _contact_as_stored(start: EpisodeStart) -> ContactPreferences:
    contact = start.contact
    if contact.time_zone is None:  # quiet hours then follow the program's own zone
        contact = contact.model_copy(update={"time_zone": start.policy.time_zone})
    return contact


class PostgresPatients:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._db = pool

    async def register_start(self, start: EpisodeStart, fingerprint: str) -> Registration:
        """Store the patient and contact details of a start, in one transaction.

        A repeat with the same fingerprint changes nothing and returns `new=False`; another
        fingerprint, or contact details that differ from those stored for the episode, raise
        `StartConflict` with nothing changed.
        """
        key = new_patient_key()
        coverage = start.coverage
        async with self._db.acquire() as conn, conn.transaction():
            stored = await conn.fetchval(
                """
                INSERT INTO patients (patient_key, episode_id, program_id, mrn, display_name,
                    birth_date, payer_id, member_id, start_sha256, adult_on)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (episode_id) DO NOTHING RETURNING patient_key
                """,
                key,
                start.episode_id,
                start.program_id,
                start.patient.patient_ref,
                start.patient.name,
                start.patient.birth_date,
                coverage.payer_id if coverage else None,
                coverage.member_id if coverage else None,
                fingerprint,
                start.adult_on,
            )
            if stored is None:
                row = await conn.fetchrow(
                    "SELECT patient_key, start_sha256 FROM patients WHERE episode_id = $1",
                    start.episode_id,
                )
                if row is None or row["start_sha256"] not in (fingerprint, None):
                    raise StartConflict(start.episode_id)
                known = row["start_sha256"] == fingerprint
                return Registration(start.episode_id, row["patient_key"], False, False, known)
            try:
                contacts_new = await PostgresContacts(conn).save_new(
                    start.episode_id,
                    _contact_as_stored(start),
                    start.policy.messaging,
                    start.patient.birth_date,
                    start.consents.messaging,
                )
            except ContactConflict:
                raise StartConflict(start.episode_id) from None
        return Registration(start.episode_id, key, True, contacts_new)

    async def keep_carried(self, start: EpisodeStart) -> str:
        """Keep the patient and contact details an older run carried in its state (a start
        recorded before this table), so the run can drop them; returns the patient's key.
        What is stored already stays (no fingerprint: the body as received is not known),
        but a row with no 18th birthday or member ID takes the carried one (an engine V4 run
        drops them from a start that came to the workflow with them)."""
        async with self._db.acquire() as conn, conn.transaction():
            coverage = start.coverage
            await conn.execute(
                """
                INSERT INTO patients (patient_key, episode_id, program_id, mrn, display_name,
                    birth_date, payer_id, member_id, adult_on)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (episode_id) DO UPDATE
                    SET adult_on = COALESCE(patients.adult_on, EXCLUDED.adult_on),
                        member_id = COALESCE(patients.member_id, EXCLUDED.member_id),
                        payer_id = COALESCE(patients.payer_id, EXCLUDED.payer_id)
                """,
                new_patient_key(),
                start.episode_id,
                start.program_id,
                start.patient.patient_ref,
                start.patient.name,
                start.patient.birth_date,
                coverage.payer_id if coverage else None,
                coverage.member_id if coverage else None,
                start.adult_on,
            )
            with contextlib.suppress(ContactConflict):  # the stored details stay
                await PostgresContacts(conn).save_new(
                    start.episode_id,
                    _contact_as_stored(start),
                    start.policy.messaging,
                    start.patient.birth_date,
                    start.consents.messaging,
                )
            key = await conn.fetchval(
                "SELECT patient_key FROM patients WHERE episode_id = $1", start.episode_id
            )
        assert isinstance(key, str)
        return key

    async def forget(self, registration: Registration) -> None:
        """Undo a new registration whose episode turned out to be taken (an episode started
        before this table, with another body): the rows this call stored go again."""
        if not registration.new:
            return
        async with self._db.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM patients WHERE patient_key = $1", registration.patient_key
            )
            if registration.contacts_new:
                await conn.execute(
                    "DELETE FROM patient_contacts WHERE episode_id = $1", registration.episode_id
                )

    async def get(self, episode_id: str) -> PatientRecord | None:
        row = await self._db.fetchrow(
            """
            SELECT patient_key, episode_id, program_id, mrn, display_name, birth_date,
                payer_id, member_id, adult_on
            FROM patients WHERE episode_id = $1
            """,
            episode_id,
        )
        return PatientRecord(**dict(row)) if row is not None else None

    async def subscriber(
        self, episode_id: str, coverage_ref: str | None = None
    ) -> Subscriber | None:
        """`PatientDirectory` for the payer activity: the subscriber's name, birth date and
        member ID (that of the coverage change `coverage_ref`, if kept here; else the
        start's)."""
        record = await self.get(episode_id)
        if record is None:
            return None
        if coverage_ref is not None:
            changed = await self._db.fetchval(
                """
                SELECT member_id FROM patient_coverages
                WHERE episode_id = $1 AND submission_id = $2
                """,
                episode_id,
                coverage_ref,
            )
            if changed is not None:
                record = replace(record, member_id=changed)
        return subscriber_of(record)

    async def keep_coverage(self, episode_id: str, submission_id: str, coverage: Coverage) -> None:
        """Keep a coverage change's member ID under its submission ID, before the update
        that names it reaches the workflow (which then gets the coverage without it). The
        same again is a retry and changes nothing; another member ID under a used
        submission ID raises `CoverageConflict`, with nothing changed."""
        assert coverage.member_id is not None
        stored = await self._db.fetchval(
            """
            INSERT INTO patient_coverages (episode_id, submission_id, payer_id, member_id)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (episode_id, submission_id) DO UPDATE SET episode_id = EXCLUDED.episode_id
            RETURNING member_id
            """,
            episode_id,
            submission_id,
            coverage.payer_id,
            coverage.member_id,
        )
        if stored != coverage.member_id:
            raise CoverageConflict(submission_id)

    async def adult_from(self, episode_id: str) -> date | None:
        """`PatientDirectory` for the age-group activity: the first day the patient is an
        adult (None: no patient row, or neither a birth date nor `adult_on`)."""
        record = await self.get(episode_id)
        return adult_from(record) if record is not None else None

    async def display_names(
        self, episode_ids: list[str], programs: list[str] | None
    ) -> dict[str, str]:
        """Episode ID → the patient's display name, for those episodes that have one and are
        in `programs` (None: every program), so a page never names a patient it may not."""
        if not episode_ids or programs == []:
            return {}
        rows = await self._db.fetch(
            """
            SELECT episode_id, display_name FROM patients
            WHERE episode_id = ANY($1::text[]) AND display_name IS NOT NULL
                AND ($2::text[] IS NULL OR program_id = ANY($2::text[]))
            """,
            episode_ids,
            programs,
        )
        return {r["episode_id"]: r["display_name"] for r in rows}
