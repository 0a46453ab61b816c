"""What the SMS gateway tells us later: delivery status of a sent message, and replies.

Status moves only forward along queued (pending) → sent → delivered / failed /
undeliverable; a late or repeated callback changes nothing. Replies: the carrier keywords
withdraw (STOP and its synonyms) or restore (START) the patient's SMS consent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from store.channels.contacts import ConsentChange, PostgresContacts
from store.dbtypes import Db

# Twilio's opt-out and opt-in keywords (matched on the whole message, case-insensitive).
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
)
START_WORDS = frozenset({"START", "YES", "UNSTOP"})


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"


# Gateway MessageStatus → our status; statuses before `sent` (queued, sending) change nothing.
GATEWAY_STATUS: dict[str, OutboxStatus] = {
    "sent": OutboxStatus.SENT,
    "delivered": OutboxStatus.DELIVERED,
    "read": OutboxStatus.DELIVERED,
    "failed": OutboxStatus.FAILED,
    "undelivered": OutboxStatus.UNDELIVERABLE,
}
# A row may move to a status only from these (never backwards, never out of a final one).
MOVES_FROM: dict[OutboxStatus, tuple[OutboxStatus, ...]] = {
    OutboxStatus.SENT: (OutboxStatus.PENDING,),
    OutboxStatus.DELIVERED: (OutboxStatus.PENDING, OutboxStatus.SENT),
    OutboxStatus.FAILED: (OutboxStatus.PENDING, OutboxStatus.SENT),
    OutboxStatus.UNDELIVERABLE: (OutboxStatus.PENDING, OutboxStatus.SENT),
}


@dataclass(frozen=True)
class StatusOutcome:
    known: bool  # the gateway's message ID names one of our messages
    changed: bool


async def record_delivery_status(
    db: Db, *, provider_id: str, gateway_status: str, error_code: str | None
) -> StatusOutcome:
    """Apply one delivery-status callback to the outbox row it names."""
    message_id = await db.fetchval(
        "SELECT message_id FROM sms_deliveries WHERE provider_id = $1", provider_id
    )
    if message_id is None:
        return StatusOutcome(known=False, changed=False)
    target = GATEWAY_STATUS.get(gateway_status.lower())
    if target is None:
        return StatusOutcome(known=True, changed=False)
    final = target in (OutboxStatus.FAILED, OutboxStatus.UNDELIVERABLE)
    changed = await db.fetchval(
        """
        UPDATE notification_outbox SET status = $2,
            sent_at = COALESCE(sent_at, now()),
            delivered_at = CASE WHEN $2 = 'delivered' THEN now() ELSE delivered_at END,
            last_error = CASE WHEN $4 THEN $5 ELSE last_error END
        WHERE message_id = $1 AND status = ANY($3::text[])
        RETURNING true
        """,
        message_id,
        target.value,
        [s.value for s in MOVES_FROM[target]],
        final,
        f"gateway {gateway_status}" + (f" error {error_code}" if error_code else ""),
    )
    return StatusOutcome(known=True, changed=bool(changed))


def keyword(body: str) -> str | None:
    """The opt-out / opt-in keyword a reply is, or None for any other text."""
    word = body.strip().upper().rstrip(".!")
    if word in STOP_WORDS or word in START_WORDS:
        return word
    return None


async def record_reply(db: Db, *, from_number: str, body: str) -> list[ConsentChange]:
    """A patient's reply: a STOP word withdraws SMS consent, a START word restores it;
    any other text changes nothing (the care team is not reached by SMS)."""
    word = keyword(body)
    if word is None:
        return []
    return await PostgresContacts(db).set_consent_by_phone(
        from_number, consented=word in START_WORDS, keyword=word
    )
