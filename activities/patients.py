"""The in-memory `PatientDirectory` (tests, benchmarks); the real one is PostgreSQL's
(store/patients.py `PostgresPatients`)."""

from __future__ import annotations

from schemas.episode import EpisodeStart
from schemas.payer import Subscriber


class InMemoryPatients:
    def __init__(self, subscribers: dict[str, Subscriber] | None = None) -> None:
        self.subscribers: dict[str, Subscriber] = dict(subscribers or {})
        self.lookups: list[str] = []
        self.kept: dict[str, EpisodeStart] = {}

    async def subscriber(self, episode_id: str) -> Subscriber | None:
        self.lookups.append(episode_id)
        return self.subscribers.get(episode_id)

    async def keep_carried(self, start: EpisodeStart) -> str:
        self.kept.setdefault(start.episode_id, start)
        return f"pt_mem_{start.episode_id}"
