"""Questionnaire links: a random token (>= 128 bits) the patient opens at `/p/{token}`,
bound to one episode and one questionnaire, single-use, expiring, locked after too many
wrong dates of birth.

Only the token's SHA-256 is stored (a high-entropy token needs no slow hash). The patient
channel issues the token when it sends the message, so it never enters Temporal, the
outbox row or a log. A delivery retried after a failed attempt issues a fresh token for the
same link (the old one stops working): the row is keyed by the outbox message.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from rules.messaging import MessagingPolicy
from store.dbtypes import Db

TOKEN_BYTES = 24  # 192 bits
# The outbox parameter of a reminder: the message ID of the link's first message.
REMINDER_FOR_PARAM = "reminder_for"


def reminder_message_id(message_id: str) -> str:
    """The one reminder's outbox ID: derived, so queuing it twice queues it once."""
    return f"{message_id}.reminder"


ANSWER_KEY_BYTES = 32


class Instrument(StrEnum):
    PHQ9 = "phq9"
    GAD7 = "gad7"


# What a link asks when the engine asks for a reassessment with one questionnaire: its
# PHQ-9 comes with the GAD-7 (the reassessment before each review), in this order. The
# follow-ups after closure (store/followups.py) ask only what their message names.
REASSESSMENT: dict[Instrument, tuple[Instrument, ...]] = {
    Instrument.PHQ9: (Instrument.PHQ9, Instrument.GAD7),
    Instrument.GAD7: (Instrument.GAD7,),
}


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class OpenLink:
    """A link that may still be answered (known, unexpired, unused, unlocked)."""

    link_id: str
    episode_id: str
    instrument: Instrument  # the questionnaire this step asks
    check_birth_date: bool
    expires_at: datetime
    answer_key_hash: bytes | None
    step: int = 0
    last_step: bool = True

    @property
    def submission_id(self) -> str:
        """The Workflow Update's submission ID: one per link and step, so a resubmission
        is a retry (the first step's is the link's own, as before steps existed)."""
        if self.step == 0:
            return f"link-{self.link_id}"
        return f"link-{self.link_id}-{self.step}-{self.instrument.value}"

    def answer_key_matches(self, key: str | None) -> bool:
        return (
            key is not None
            and self.answer_key_hash is not None
            and hmac.compare_digest(self.answer_key_hash, token_hash(key))
        )


class PostgresLinks:
    def __init__(self, db: Db) -> None:
        self._db = db

    async def issue(
        self,
        *,
        message_id: str,
        episode_id: str,
        instrument: Instrument,
        policy: MessagingPolicy,
        now: datetime,
    ) -> str | None:
        """A fresh token for the message's link; None when the link was already answered
        or locked (nothing is sent for it then)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        followup = await self._db.fetchval(
            "SELECT true FROM followup_measures WHERE message_id = $1", message_id
        )
        steps = (instrument,) if followup else REASSESSMENT[instrument]
        row = await self._db.fetchval(
            """
            INSERT INTO questionnaire_links (link_id, message_id, token_hash, episode_id,
                instrument, check_birth_date, max_wrong_birth_dates, created_at, expires_at,
                instruments)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (message_id) DO UPDATE SET token_hash = EXCLUDED.token_hash,
                answer_key_hash = NULL
            WHERE questionnaire_links.used_at IS NULL AND questionnaire_links.locked_at IS NULL
            RETURNING link_id
            """,
            uuid.uuid4().hex,
            message_id,
            token_hash(token),
            episode_id,
            instrument.value,
            policy.questionnaire_asks_birth_date,
            policy.questionnaire_wrong_birth_dates,
            now,
            now + policy.questionnaire_link_lifetime,
            [i.value for i in steps],
        )
        return token if row is not None else None

    async def queue_reminder(self, message_id: str, due: datetime) -> None:
        """Queue the link's one reminder in the outbox, due at `due`: a copy of its first
        message (same patient, channel and content-free template) that carries a token of
        its own. Durable like every outbox row; queuing it again changes nothing."""
        await self._db.execute(
            """
            INSERT INTO notification_outbox (message_id, episode_id, program_id, workflow_id,
                seq, channel, template, recipient_role, urgency, params, next_attempt_at)
            SELECT $2, episode_id, program_id, workflow_id, seq, channel, template,
                recipient_role, urgency,
                params || jsonb_build_object($3::text, message_id), $4
            FROM notification_outbox WHERE message_id = $1
            ON CONFLICT (message_id) DO NOTHING
            """,
            message_id,
            reminder_message_id(message_id),
            REMINDER_FOR_PARAM,
            due,
        )

    async def issue_reminder(self, first_message_id: str, now: datetime) -> str | None:
        """A token for the reminder of the link first sent as `first_message_id`, beside the
        first message's token (both open the link); None when the link was answered,
        locked or expired meanwhile, or never made (then no reminder goes)."""
        token = secrets.token_urlsafe(TOKEN_BYTES)
        row = await self._db.fetchval(
            """
            UPDATE questionnaire_links SET reminder_token_hash = $2, reminded_at = $3
            WHERE message_id = $1 AND used_at IS NULL AND locked_at IS NULL
                AND expires_at > $3
            RETURNING link_id
            """,
            first_message_id,
            token_hash(token),
            now,
        )
        return token if row is not None else None

    async def open_link(self, token: str, now: datetime) -> OpenLink | None:
        """The link behind `token` if it may be answered now; None for every other case
        (unknown, expired, used, locked), which the page does not tell apart."""
        row = await self._db.fetchrow(
            """
            SELECT link_id, episode_id, check_birth_date, expires_at, answer_key_hash, step,
                coalesce(instruments[step + 1], instrument) AS current,
                step + 1 >= coalesce(cardinality(instruments), 1) AS last_step
            FROM questionnaire_links
            WHERE (token_hash = $1 OR reminder_token_hash = $1)
                AND used_at IS NULL AND locked_at IS NULL AND expires_at > $2
            """,
            token_hash(token),
            now,
        )
        if row is None:
            return None
        return OpenLink(
            link_id=row["link_id"],
            episode_id=row["episode_id"],
            instrument=Instrument(row["current"]),
            check_birth_date=row["check_birth_date"],
            expires_at=row["expires_at"],
            answer_key_hash=row["answer_key_hash"],
            step=row["step"],
            last_step=row["last_step"],
        )

    async def check_birth_date(self, link: OpenLink, given: date, now: datetime) -> str | None:
        """The answer key (kept in the browser) when `given` is the patient's date of birth;
        None when it is not (the wrong answer counted; the last allowed one locks the link)
        or when no date of birth is on file (the link cannot be opened then)."""
        on_file = await self._db.fetchval(
            "SELECT birth_date FROM patient_contacts WHERE episode_id = $1", link.episode_id
        )
        if on_file is not None and on_file == given:
            return await self.issue_answer_key(link)
        await self._db.execute(
            """
            UPDATE questionnaire_links SET wrong_birth_dates = wrong_birth_dates + 1,
                locked_at = CASE WHEN wrong_birth_dates + 1 >= max_wrong_birth_dates
                                 THEN $2 ELSE locked_at END
            WHERE link_id = $1
            """,
            link.link_id,
            now,
        )
        return None

    async def issue_answer_key(self, link: OpenLink) -> str:
        """A key for the browser that may answer this link (the page's CSRF token too)."""
        key = secrets.token_urlsafe(ANSWER_KEY_BYTES)
        await self._db.execute(
            "UPDATE questionnaire_links SET answer_key_hash = $2 WHERE link_id = $1",
            link.link_id,
            token_hash(key),
        )
        return key

    async def answered(self, link: OpenLink, now: datetime) -> OpenLink | None:
        """This step of the link was recorded: the link at its next step (the same answer
        key keeps working), or None when that was the last (the link is used). A step
        already moved past (a resubmission racing the first) moves nothing."""
        if link.last_step:
            await self.mark_used(link, now)
            return None
        moved = await self._db.fetchval(
            """
            UPDATE questionnaire_links SET step = step + 1
            WHERE link_id = $1 AND step = $2 AND used_at IS NULL
            RETURNING instruments[step + 1]
            """,
            link.link_id,
            link.step,
        )
        if moved is None:
            return None
        steps = await self._db.fetchval(
            "SELECT cardinality(instruments) FROM questionnaire_links WHERE link_id = $1",
            link.link_id,
        )
        step = link.step + 1
        return replace(
            link, instrument=Instrument(moved), step=step, last_step=step + 1 >= int(steps)
        )

    async def mark_used(self, link: OpenLink, now: datetime) -> None:
        await self._db.execute(
            "UPDATE questionnaire_links SET used_at = $2 WHERE link_id = $1 AND used_at IS NULL",
            link.link_id,
            now,
        )

    async def has_birth_date(self, episode_id: str) -> bool:
        found = await self._db.fetchval(
            "SELECT birth_date IS NOT NULL FROM patient_contacts WHERE episode_id = $1",
            episode_id,
        )
        return bool(found)


class MissLimiter:
    """Token guessing, rate-limited per client address: at most `limit` requests for links
    that do not open within `window`, counted in PostgreSQL (every API replica agrees)."""

    def __init__(self, db: Db, *, limit: int, window: timedelta) -> None:
        self._db = db
        self._limit = limit
        self._window = window

    async def blocked(self, client: str, now: datetime) -> bool:
        misses = await self._db.fetchval(
            "SELECT count(*) FROM questionnaire_link_misses WHERE client = $1 AND at > $2",
            client,
            now - self._window,
        )
        return int(misses or 0) >= self._limit

    async def record(self, client: str, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO questionnaire_link_misses (client, at) VALUES ($1, $2)", client, now
        )
