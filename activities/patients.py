"""The in-memory `PatientDirectory` (tests, benchmarks); the real one is PostgreSQL's
(store/patients.py `PostgresPatients`)."""

from __future__ import annotations

from schemas.payer import Subscriber


class InMemoryPatients:
    def __init__(self, subscribers: dict[str, Subscriber] | None = None) -> None:
        self.subscribers: dict[str, Subscriber] = dict(subscribers or {})
        self.lookups: list[str] = []

    async def subscriber(self, episode_id: str) -> Subscriber | None:
        self.lookups.append(episode_id)
        return self.subscribers.get(episode_id)
