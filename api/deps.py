"""What the API needs from outside (ApiDeps), and the services built from it once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from temporalio.client import Client

from api.episode_records import EpisodeRecords, PostgresEpisodeRecords
from api.episodes_client import EpisodeClient
from api.ledger import CallLedger, PostgresCallLedger
from api.mutations import Mutations, Settler
from api.paging import CursorCodec
from api.programs import ProgramLookup
from api.settings import ApiSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ApiDeps:
    """Injected by whoever runs the API (serve(), tests, the benchmark)."""

    client: Client
    pool: asyncpg.Pool
    settings: ApiSettings
    clock: Callable[[], datetime] = utc_now
    records: EpisodeRecords | None = None
    ledger: CallLedger | None = None


@dataclass
class Services:
    deps: ApiDeps
    episodes: EpisodeClient
    records: EpisodeRecords
    mutations: Mutations
    programs: ProgramLookup
    cursors: CursorCodec

    @classmethod
    def build(cls, deps: ApiDeps) -> Services:
        timeout = timedelta(seconds=deps.settings.api_temporal_timeout_seconds)
        episodes = EpisodeClient(
            deps.client,
            task_queue=deps.settings.task_queue,
            timeout=timeout,
            search_attributes=deps.settings.api_start_search_attributes,
            history_event_limit=deps.settings.history_event_limit,
            workflow_task_timeout=timedelta(seconds=deps.settings.workflow_task_timeout_seconds),
            rest_settle_seconds=deps.settings.rest_settle_seconds,
            rest_after_events=deps.settings.rest_after_events,
        )
        records = deps.records or PostgresEpisodeRecords(deps.pool)
        mutations = Mutations(
            deps.ledger or PostgresCallLedger(deps.pool),
            deps.clock,
            lease_s=deps.settings.api_idempotency_lease_seconds,
            settler=Settler(deps.settings.api_settle_retry_seconds),
            timeout_s=deps.settings.api_records_timeout_seconds,
        )
        return cls(
            deps=deps,
            episodes=episodes,
            records=records,
            mutations=mutations,
            programs=ProgramLookup(records, episodes),
            cursors=CursorCodec.from_settings(deps.settings.api_cursor_key, deps.settings.api_keys),
        )
