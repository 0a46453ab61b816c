"""What the API reads about episodes from PostgreSQL: the list, the census counts, an
episode's program, and its timeline.

The SQL is the store's (`store.queries`, `store.call_ledger`); this adapter merges the
API's own audit rows (`api_calls`) into an episode's timeline, so every call through the
API shows there with its actor beside the transitions and reviews the engine recorded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

import asyncpg

from store import call_ledger, queries
from store.models import CensusRow, EpisodeFilter, EpisodeKey, EpisodePage
from store.models import TimelineEntry as StoredTimelineEntry


class TimelineEntry(StoredTimelineEntry):
    """One line of the audit trail: a transition, a review, a patient's messaging-consent
    reply, or a call made through the API."""

    kind: Literal[  # type: ignore[assignment]
        "transition", "review", "messaging", "attendance", "billing", "followup", "api_call"
    ]
    operation: str | None = None
    submission_id: str | None = None
    status_code: int | None = None


class EpisodeRecords(Protocol):
    """What the API reads from PostgreSQL; `PostgresEpisodeRecords` is the adapter."""

    async def list_episodes(
        self,
        where: EpisodeFilter,
        *,
        now: datetime,
        limit: int,
        after: EpisodeKey | None,
        count: bool = False,
    ) -> EpisodePage: ...

    async def census(self, programs: list[str] | None) -> list[CensusRow]: ...

    async def program_of(self, episode_id: str) -> str | None: ...

    async def timeline(self, episode_id: str) -> list[TimelineEntry]: ...


class PostgresEpisodeRecords:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def list_episodes(
        self,
        where: EpisodeFilter,
        *,
        now: datetime,
        limit: int,
        after: EpisodeKey | None,
        count: bool = False,
    ) -> EpisodePage:
        return await queries.list_episodes(
            self._pool, where, now=now, limit=limit, after=after, count=count
        )

    async def census(self, programs: list[str] | None) -> list[CensusRow]:
        return await queries.census(self._pool, programs=programs)

    async def program_of(self, episode_id: str) -> str | None:
        return await queries.program_of(self._pool, episode_id)

    async def timeline(self, episode_id: str) -> list[TimelineEntry]:
        engine = [
            TimelineEntry.model_validate(entry.model_dump())
            for entry in await queries.timeline(self._pool, episode_id)
        ]
        calls = [
            TimelineEntry.model_validate(row)
            for row in await call_ledger.calls_of_episode(self._pool, episode_id)
        ]
        # Stable: an API call sorts before the engine's entries at the same instant.
        return sorted(calls + engine, key=lambda entry: entry.at)
