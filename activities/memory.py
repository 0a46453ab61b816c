"""The in-memory record store, for tests and the benchmark: it behaves like the real one.

`InMemoryRecordStore` is `store.postgres.PostgresRecordStore` without the database: a
batch is written once per (workflow_id, seq); the episode row never goes back to an older
batch; and the batch's notifications go into its outbox in the same step (transactional
outbox), so a message exists if and only if its batch does, and a retried batch queues
nothing twice. `InMemoryOutbox.dispatch_due` delivers as `store.outbox.Dispatcher` does:
through the same `Channel`s, with the same stable message IDs, retries with backoff,
held messages that keep their attempt, and operators and supervisors told when an urgent
message cannot be delivered. tests/store/test_record_store_contract.py runs one suite
against both stores.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from schemas.records import EffectBatch, EpisodeSnapshot, NotificationRequest, Urgency
from store.outbox import (
    UNDELIVERABLE_RECIPIENTS,
    UNDELIVERABLE_TEMPLATE,
    Channel,
    DeferDelivery,
    DeliveryError,
    DispatchReport,
    OutboxMessage,
    PermanentDeliveryError,
    RetryPolicy,
    Undeliverable,
    alert_route,
    utc_now,
)
from store.postgres import DEFAULT_CHANNEL, default_channel

log = logging.getLogger(__name__)


@dataclass
class QueuedMessage:
    """One outbox row."""

    notification: NotificationRequest
    channel: str
    next_attempt_at: datetime
    status: str = "pending"  # pending, sent, failed or undeliverable (as in PostgreSQL)
    attempts: int = 0
    last_error: str | None = None

    def message(self) -> OutboxMessage:
        n = self.notification
        return OutboxMessage(
            message_id=n.message_id,
            episode_id=n.episode_id,
            program_id=n.program_id,
            channel=self.channel,
            template=n.template,
            recipient_role=n.recipient.value,
            urgency=n.urgency.value,
            params=dict(n.params),
            attempt=self.attempts,
        )


class InMemoryOutbox:
    """Messages queued by the store, keyed by message ID (a repeat is not queued again)."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utc_now,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.messages: dict[str, QueuedMessage] = {}
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self._queued: dict[tuple[str, str], asyncio.Event] = {}

    def enqueue(self, notification: NotificationRequest, channel: str) -> None:
        if notification.message_id in self.messages:
            return
        self.messages[notification.message_id] = QueuedMessage(
            notification, channel, next_attempt_at=notification.not_before or self.clock()
        )
        self.queued(notification.episode_id, notification.template).set()

    def queued(self, episode_id: str, template: str) -> asyncio.Event:
        """Set once a message with this template is queued for the episode."""
        return self._queued.setdefault((episode_id, template), asyncio.Event())

    def for_episode(self, episode_id: str) -> list[NotificationRequest]:
        """The episode's queued messages, in the order they were queued."""
        return [
            q.notification
            for q in self.messages.values()
            if q.notification.episode_id == episode_id
        ]

    def templates(self, episode_id: str, recipient: str | None = None) -> list[str]:
        return [
            n.template
            for n in self.for_episode(episode_id)
            if recipient is None or n.recipient.value == recipient
        ]

    async def dispatch_due(self, channels: Channel | Mapping[str, Channel]) -> DispatchReport:
        """One pass over the due messages (urgent first), as `Dispatcher.dispatch_due`."""
        routes = channels if isinstance(channels, Mapping) else {DEFAULT_CHANNEL: channels}
        now = self.clock()
        due = [
            q
            for q in self.messages.values()
            if q.status == "pending" and q.next_attempt_at <= now and q.channel in routes
        ]
        due.sort(key=lambda q: (q.notification.urgency is not Urgency.URGENT, q.next_attempt_at))
        report = DispatchReport()
        for queued in due:
            queued.attempts += 1
            queued.next_attempt_at = now + self.retry.lease
            message = queued.message()
            try:
                await routes[queued.channel].deliver(message)
            except DeferDelivery as held:
                queued.next_attempt_at = held.until
                queued.attempts = max(queued.attempts - 1, 0)
                queued.last_error = f"held: {held}"[:500]
                report.deferred += 1
                continue
            except Exception as error:
                if not isinstance(error, DeliveryError):
                    log.exception(
                        "channel raised for notification message_id=%s", message.message_id
                    )
                queued.last_error = f"{type(error).__name__}: {error}"[:500]
                if (
                    isinstance(error, PermanentDeliveryError)
                    or queued.attempts >= self.retry.max_attempts
                ):
                    self._give_up(queued, error, routes)
                    report.failed += 1
                else:
                    queued.next_attempt_at = self.clock() + self.retry.delay(queued.attempts)
                    report.retried += 1
                continue
            queued.status = "sent"
            queued.last_error = None
            report.sent += 1
        return report

    def _give_up(
        self, queued: QueuedMessage, error: Exception, routes: Mapping[str, Channel]
    ) -> None:
        queued.status = "undeliverable" if isinstance(error, Undeliverable) else "failed"
        n = queued.notification
        if n.urgency is not Urgency.URGENT or n.template == UNDELIVERABLE_TEMPLATE:
            return
        for role in UNDELIVERABLE_RECIPIENTS:
            alert = NotificationRequest.model_validate(
                {
                    "message_id": f"{n.message_id}:undeliverable:{role}",
                    "episode_id": n.episode_id,
                    "program_id": n.program_id,
                    "recipient": role,
                    "template": UNDELIVERABLE_TEMPLATE,
                    "urgency": "urgent",
                    "params": {
                        "message_id": n.message_id,
                        "template": n.template,
                        "failed_route": queued.channel,
                    },
                }
            )
            self.enqueue(alert, alert_route(routes, queued.channel))


class InMemoryRecordStore:
    """The record store without a database (see the module doc)."""

    def __init__(
        self,
        *,
        outbox: InMemoryOutbox | None = None,
        channel_for: Callable[[NotificationRequest], str] = default_channel,
    ) -> None:
        self.batches: dict[tuple[str, int], EffectBatch] = {}
        self.episodes: dict[str, EpisodeSnapshot] = {}
        self.outbox = outbox or InMemoryOutbox()
        self.apply_calls = 0
        self._episode_versions: dict[str, tuple[datetime, int]] = {}
        self._channel_for = channel_for

    async def apply(self, batch: EffectBatch) -> None:
        """Write the batch and queue its messages, once (the same step, as one transaction)."""
        self.apply_calls += 1
        key = (batch.workflow_id, batch.seq)
        if key in self.batches:
            return
        self.batches[key] = batch
        episode_id = batch.episode.episode_id
        version = (batch.episode.updated_at, batch.seq)
        current = self._episode_versions.get(episode_id)
        if current is None or current <= version:
            self.episodes[episode_id] = batch.episode
            self._episode_versions[episode_id] = version
        for notification in batch.notifications:
            self.outbox.enqueue(notification, self._channel_for(notification))

    def transitions(self, workflow_id: str) -> list[tuple[str, str, str]]:
        """(from, to, reason) in order, for one workflow."""
        return [
            (t.from_phase.value, t.to_phase.value, t.reason)
            for (wid, _), b in sorted(self.batches.items())
            if wid == workflow_id
            for t in b.transitions
        ]
