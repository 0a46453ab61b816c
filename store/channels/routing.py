"""Which outbox route a message takes, by recipient kind: patients' messages go to the
patient channel (SMS / email) when one is configured, everything else to the default
route (the clinic's webhook or the log)."""

from __future__ import annotations

from collections.abc import Callable

from schemas.records import NotificationRequest, Recipient
from store.channels.patient import PATIENT_CHANNEL
from store.postgres import DEFAULT_CHANNEL


def route_by_recipient(patient_channel: bool) -> Callable[[NotificationRequest], str]:
    """The store's `channel_for`: the patient channel only when the worker has one."""

    def channel_for(notification: NotificationRequest) -> str:
        if patient_channel and notification.recipient is Recipient.PATIENT:
            return PATIENT_CHANNEL
        return DEFAULT_CHANNEL

    return channel_for
