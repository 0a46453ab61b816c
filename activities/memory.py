"""In-memory adapters for tests and the benchmark: they behave like the real ones.

The store dedupes on (workflow_id, seq) exactly as PostgreSQL does; the notifier dedupes
on message_id exactly as a webhook receiver must.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from schemas.records import EffectBatch, EpisodeSnapshot, NotificationRequest


class InMemoryRecordStore:
    def __init__(self) -> None:
        self.batches: dict[tuple[str, int], EffectBatch] = {}
        self.episodes: dict[str, EpisodeSnapshot] = {}
        self.apply_calls = 0

    async def apply(self, batch: EffectBatch) -> bool:
        self.apply_calls += 1
        key = (batch.workflow_id, batch.seq)
        if key in self.batches:
            return False
        self.batches[key] = batch
        current = self.episodes.get(batch.episode.episode_id)
        if current is None or current.updated_at <= batch.episode.updated_at:
            self.episodes[batch.episode.episode_id] = batch.episode
        return False

    def transitions(self, workflow_id: str) -> list[tuple[str, str, str]]:
        """(from, to, reason) in order, for one workflow."""
        return [
            (t.from_phase.value, t.to_phase.value, t.reason)
            for (wid, _), b in sorted(self.batches.items())
            if wid == workflow_id
            for t in b.transitions
        ]


class InMemoryNotifier:
    def __init__(self) -> None:
        self.sent: dict[str, NotificationRequest] = {}
        self.deliveries: defaultdict[str, int] = defaultdict(int)
        self._changed = asyncio.Event()

    async def send(self, notification: NotificationRequest) -> None:
        self.deliveries[notification.message_id] += 1
        self.sent.setdefault(notification.message_id, notification)
        self._changed.set()

    def for_episode(self, episode_id: str) -> list[NotificationRequest]:
        return [n for n in self.sent.values() if n.episode_id == episode_id]

    def templates(self, episode_id: str, recipient: str | None = None) -> list[str]:
        return [
            n.template
            for n in self.for_episode(episode_id)
            if recipient is None or n.recipient.value == recipient
        ]
