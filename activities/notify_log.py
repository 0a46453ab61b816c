"""The default notifier: logs that a message went out, never what it says to whom."""

from __future__ import annotations

import logging

from schemas.records import NotificationRequest

log = logging.getLogger("carepath.notifications")


class LogNotifier:
    async def send(self, notification: NotificationRequest) -> None:
        log.info(
            "notification %s template=%s recipient=%s urgency=%s",
            notification.message_id,
            notification.template,
            notification.recipient.value,
            notification.urgency.value,
        )
