"""Patients' contact details and messaging consent, in PostgreSQL under the episode's ID.

The API writes them when an episode starts (and strips them from the workflow's input);
the patient channel reads them when it delivers. Temporal never holds an address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from rules.messaging import MessagingPolicy
from schemas.episode import ContactPreferences
from store.dbtypes import Db

# Why nothing goes to a patient who declined messages at the start (the outbox row's
# reason, and a follow-up's `not_sent_reason`).
DECLINED = "the patient declined messages at the start (consents.messaging)"


class MessagingChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


@dataclass(frozen=True)
class PatientContact:
    episode_id: str
    prefers_sms: bool
    prefers_email: bool
    phone: str | None
    email_address: str | None
    time_zone: str | None
    sms_consent: bool
    email_consent: bool
    messaging: MessagingPolicy
    language: str | None = None
    # The start's `consents.messaging` (migration 0313): without it no message goes to the
    # patient on any channel, whoever queued it (the engine, a reminder, a follow-up).
    messaging_consent: bool = True

    def same_details(self, contact: ContactPreferences) -> bool:
        """Whether a start repeats what was stored (a retry) rather than changing it."""
        return (
            self.prefers_sms == contact.sms
            and self.prefers_email == contact.email
            and self.phone == contact.phone
            and self.email_address == contact.email_address
            and self.time_zone == contact.time_zone
            and self.language == contact.language
        )


@dataclass(frozen=True)
class ConsentChange:
    episode_id: str
    channel: MessagingChannel
    consented: bool
    keyword: str
    at: datetime


class ContactConflict(Exception):
    """An episode's contact details were already stored with different values."""


class PostgresContacts:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def save_new(
        self,
        episode_id: str,
        contact: ContactPreferences,
        messaging: MessagingPolicy,
        birth_date: date | None = None,
        messaging_consent: bool = True,
    ) -> bool:
        """Store the details of a new episode (True); a repeat of the same details is a no-op
        (False) and different ones raise `ContactConflict` (a start cannot silently change
        them). The date of birth is kept for the questionnaire page's check (never shown)."""
        inserted = await self._db.fetchval(
            """
            INSERT INTO patient_contacts (episode_id, prefers_sms, prefers_email, phone,
                email_address, time_zone, messaging, birth_date, language, messaging_consent)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)
            ON CONFLICT (episode_id) DO NOTHING RETURNING true
            """,
            episode_id,
            contact.sms,
            contact.email,
            contact.phone,
            contact.email_address,
            contact.time_zone,
            messaging.model_dump_json(),
            birth_date,
            contact.language,
            messaging_consent,
        )
        if inserted:
            return True
        stored = await self.get(episode_id)
        if stored is None or not stored.same_details(contact):
            raise ContactConflict(episode_id)
        return False

    async def get(self, episode_id: str) -> PatientContact | None:
        row = await self._db.fetchrow(
            """
            SELECT episode_id, prefers_sms, prefers_email, phone, email_address, time_zone,
                sms_consent, email_consent, messaging, language, messaging_consent
            FROM patient_contacts WHERE episode_id = $1
            """,
            episode_id,
        )
        if row is None:
            return None
        values = dict(row)
        values["messaging"] = MessagingPolicy.model_validate(json.loads(values["messaging"]))
        return PatientContact(**values)

    async def set_consent_by_phone(
        self, phone: str, *, consented: bool, keyword: str
    ) -> list[ConsentChange]:
        """The patient replied STOP or START from `phone`: SMS consent changes on every
        episode with that number, each change recorded once (a repeat changes nothing)."""
        rows = await self._db.fetch(
            """
            WITH changed AS (
                UPDATE patient_contacts SET sms_consent = $2, updated_at = now()
                WHERE phone = $1 AND sms_consent <> $2
                RETURNING episode_id
            )
            INSERT INTO messaging_consent_events (episode_id, channel, consented, keyword)
            SELECT episode_id, 'sms', $2, $3 FROM changed
            RETURNING episode_id, channel, consented, keyword, at
            """,
            phone,
            consented,
            keyword,
        )
        return [
            ConsentChange(
                episode_id=r["episode_id"],
                channel=MessagingChannel(r["channel"]),
                consented=r["consented"],
                keyword=r["keyword"],
                at=r["at"],
            )
            for r in rows
        ]

    async def consent_changes(self, episode_id: str) -> list[ConsentChange]:
        rows = await self._db.fetch(
            """
            SELECT episode_id, channel, consented, keyword, at FROM messaging_consent_events
            WHERE episode_id = $1 ORDER BY at, id
            """,
            episode_id,
        )
        return [
            ConsentChange(
                episode_id=r["episode_id"],
                channel=MessagingChannel(r["channel"]),
                consented=r["consented"],
                keyword=r["keyword"],
                at=r["at"],
            )
            for r in rows
        ]


@dataclass(frozen=True)
class PatientLanguage:
    """The language a patient's pages are shown in, and the program whose translations
    apply (None when the episodes row is not written yet)."""

    language: str | None
    program_id: str | None


async def patient_language(db: Db, episode_id: str) -> PatientLanguage | None:
    """The patient's language and program for an episode; None without contact details."""
    row = await db.fetchrow(
        """
        SELECT c.language, e.program_id FROM patient_contacts c
        LEFT JOIN episodes e ON e.episode_id = c.episode_id
        WHERE c.episode_id = $1
        """,
        episode_id,
    )
    return None if row is None else PatientLanguage(row["language"], row["program_id"])
