"""PostgreSQL down for 30 s while episodes run: activities retry, nothing fails, and once it
is back every episode row equals its workflow's `state` query.

Uses its own embedded PostgreSQL (never the shared server in DATABASE_URL), the real
worker and workflow on Temporal's time-skipping test server, and PostgresRecordStore.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from rules.levels import LevelOfCare
from rules.recommendation import Flag
from schemas.submissions import DecisionAction
from schemas.view import EpisodeView
from store.migrate import migrate
from store.postgres import PostgresRecordStore
from tests.workflows.clinic import Adapters, Clinic, running_worker
from worker.embedded_postgres import EmbeddedPostgres

OUTAGE_S = 30.0


@pytest.fixture
async def own_postgres() -> AsyncIterator[tuple[EmbeddedPostgres, asyncpg.Pool]]:
    folder = Path(tempfile.mkdtemp(prefix="cp-fault-"))
    server = EmbeddedPostgres(folder / "pg", delete=True)
    pool = await asyncpg.create_pool(server.dsn, min_size=1, max_size=4)
    await migrate(pool)
    try:
        yield server, pool
    finally:
        await pool.close()
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


def _differences(view: EpisodeView, row: asyncpg.Record | None) -> list[str]:
    if row is None:
        return ["no row"]
    expected = {
        "phase": view.phase.value,
        "level_authorized": view.authorized_level and view.authorized_level.value,
        "level_delivered": view.delivered_level and view.delivered_level.value,
        "next_review_due": view.next_review_due,
        "risk_flag": Flag.RISK in view.flags,
        "outcome": view.outcome,
    }
    return [f"{k}: row {row[k]!r} != state {v!r}" for k, v in expected.items() if row[k] != v]


async def _mismatches(pool: asyncpg.Pool, clinics: list[Clinic]) -> dict[str, list[str]]:
    found = {}
    for clinic in clinics:
        view = await clinic.state()
        try:
            row = await pool.fetchrow(
                "SELECT * FROM episodes WHERE episode_id = $1", clinic.episode_id
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            return {"database": [type(error).__name__]}
        diff = _differences(view, row)
        if diff:
            found[clinic.episode_id] = diff
    return found


async def test_episodes_survive_a_database_outage(
    ts_env: WorkflowEnvironment, own_postgres: tuple[EmbeddedPostgres, asyncpg.Pool]
) -> None:
    server, pool = own_postgres
    adapters = Adapters(store=PostgresRecordStore(pool))  # type: ignore[arg-type]
    async with running_worker(ts_env, adapters) as (queue, _):
        clinics = [await Clinic.admit(ts_env, queue) for _ in range(4)]
        for clinic in clinics:
            await clinic.assess(LevelOfCare.IOP, total=18)
        await clinics[0].wait(hours=1)
        for clinic in clinics:
            await clinic.approve(units=20)
        await clinics[0].wait(days=7)
        assert await _mismatches(pool, clinics) == {}

        down_at = time.monotonic()
        await asyncio.to_thread(server.stop)
        # The clinic keeps working while the database is away. Time is not skipped here:
        # the activities retry in real time, as they would in production.
        await clinics[0].review(16)
        await clinics[1].review(14, item9=1)  # raises the risk flag
        await clinics[2].review(9)
        await clinics[3].decide(DecisionAction.STEP_DOWN, LevelOfCare.OP, reason="stable")
        assert await _mismatches(pool, clinics) == {"database": ["FileNotFoundError"]}
        await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        await asyncio.to_thread(server.start)

        mismatches: dict[str, list[str]] = {"not checked": []}
        for _ in range(180):  # record_effects retries at most every 30 s
            mismatches = await _mismatches(pool, clinics)
            if not mismatches:
                break
            await asyncio.sleep(0.5)
        assert mismatches == {}

        for clinic in clinics:
            described = await clinic.handle.describe()
            assert described.status is WorkflowExecutionStatus.RUNNING
        risky = await pool.fetchval("SELECT count(*) FROM episodes WHERE risk_flag")
        assert risky == 1
        assert await pool.fetchval("SELECT count(*) FROM reviews") >= 3 + 4  # + assessments
