"""Operators' view of the outbox: messages that need attention, and resending one.

A resend puts a `failed` or `undeliverable` row back to `pending` with its attempts reset
and the same message ID (receivers dedupe on it), forgets the gateway's earlier ID so the
SMS channel sends again, and wakes the dispatchers.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from store.dbtypes import Db
from store.outbox_wake import notify_outbox


class AttentionStatus(StrEnum):
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"


RESENDABLE = tuple(AttentionStatus)


class OutboxRow(BaseModel):
    """One message as operators see it: routing and outcome, never its params."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    message_id: str
    episode_id: str
    program_id: str
    channel: str
    template: str
    recipient_role: str
    urgency: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


_COLUMNS = """message_id, episode_id, program_id, channel, template, recipient_role, urgency,
    status, attempts, created_at, sent_at, last_error"""


async def needing_attention(
    db: Db,
    *,
    statuses: list[AttentionStatus],
    programs: list[str] | None,
    limit: int = 100,
) -> list[OutboxRow]:
    """Failed (dead-lettered) and undeliverable messages, newest first."""
    rows = await db.fetch(
        f"""
        SELECT {_COLUMNS} FROM notification_outbox
        WHERE status = ANY($1::text[]) AND ($2::text[] IS NULL OR program_id = ANY($2))
        ORDER BY created_at DESC, message_id LIMIT $3
        """,
        [s.value for s in statuses],
        programs,
        limit,
    )
    return [OutboxRow.model_validate(dict(r)) for r in rows]


async def get_message(db: Db, message_id: str) -> OutboxRow | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM notification_outbox WHERE message_id = $1", message_id
    )
    return None if row is None else OutboxRow.model_validate(dict(row))


async def resend(db: Db, message_id: str, *, due: datetime | None = None) -> OutboxRow | None:
    """Queue the message again, due at `due` (default: the database's now); None when it
    is not in a resendable status."""
    row = await db.fetchrow(
        f"""
        WITH forgotten AS (
            DELETE FROM sms_deliveries WHERE message_id = $1 AND EXISTS (
                SELECT 1 FROM notification_outbox
                WHERE message_id = $1 AND status = ANY($2::text[]))
        )
        UPDATE notification_outbox SET status = 'pending', attempts = 0,
            next_attempt_at = COALESCE($3, now()), sent_at = NULL, delivered_at = NULL,
            last_error = 'resent by an operator after: ' || coalesce(last_error, status)
        WHERE message_id = $1 AND status = ANY($2::text[])
        RETURNING {_COLUMNS}
        """,
        message_id,
        [s.value for s in RESENDABLE],
        due,
    )
    if row is None:
        return None
    await notify_outbox(db)
    return OutboxRow.model_validate(dict(row))
