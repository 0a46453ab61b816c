"""Open quality clocks written as the workflow writes them (a records batch), for pages."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg

from rules.policy import ProgramPolicy
from rules.transitions import CarePhase
from schemas.records import EffectBatch, EpisodeSnapshot
from store.postgres import PostgresRecordStore
from workflows import clock_windows


async def discharged_from_inpatient(
    pool: asyncpg.Pool, program_id: str, *, days_ago: int = 3
) -> tuple[str, date]:
    """An episode back from inpatient `days_ago` local days ago, its FUH clocks open."""
    now = datetime.now(UTC)
    episode_id = f"ep-fuh-{uuid.uuid4().hex[:8]}"
    discharged = now.date() - timedelta(days=days_ago)
    snapshot = EpisodeSnapshot(
        episode_id=episode_id,
        program_id=program_id,
        phase=CarePhase.IN_TREATMENT,
        outcome=None,
        authorized_level=None,
        delivered_level=None,
        started_at=now - timedelta(days=30),
        closed_at=None,
        next_review_due=None,
        risk_flag=False,
        baseline_phq9=None,
        latest_phq9=None,
        updated_at=now,
    )
    batch = EffectBatch(
        workflow_id=f"care-episode-{episode_id}",
        run_id="run-1",
        seq=1,
        episode=snapshot,
        quality_clocks=clock_windows.fuh_clocks(discharged, now, ProgramPolicy()),
    )
    await PostgresRecordStore(pool).apply(batch)
    return episode_id, discharged
