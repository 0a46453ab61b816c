"""Outbox messages and stored contacts for channel tests."""

from __future__ import annotations

from store.outbox import OutboxMessage


def patient_message(
    message_id: str = "care-episode-ep1:m1", episode_id: str = "ep1"
) -> OutboxMessage:
    return OutboxMessage(
        message_id=message_id,
        episode_id=episode_id,
        program_id="sud-iop",
        channel="patient",
        template="new_message",
        recipient_role="patient",
        urgency="routine",
        params={},
        attempt=1,
    )
