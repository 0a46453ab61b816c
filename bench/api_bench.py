"""API benchmark: review round trip through HTTP, state and census GET throughput.

Runs against Temporal's dev server (real persistence) and PostgreSQL (DATABASE_URL, else
an embedded pgserver), with the API served by uvicorn on a local socket. The census reads
`census_episodes` seeded rows (10,000 by default); state GETs spread over `state_episodes`
live workflows (200 by default: what a 2-core box starts in a few seconds).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.care import CareActivities
from activities.payer_sandbox import SandboxPayer
from api.app import create_app
from api.deps import ApiDeps
from api.settings import ApiKey, ApiSettings, Role
from bench.app_bench import measure_app_pages
from bench.roster_bench import SEATS, enrolled, measure_rosters
from schemas.episode import Coverage, EpisodeStart, PatientRef
from store.postgres import PostgresRecordStore
from temporal_client import start_episode
from tests.pg import scratch_database, scratch_schema_pool
from tests.serving import running_server
from worker.registration import start_dev_server
from worker.runtime import build_worker

PROGRAM = "bench-program"
CARE = {"Authorization": "Bearer bench-care"}
KEYS = {
    "bench-care": ApiKey(role=Role.CARE_TEAM, programs=frozenset({"*"}), actor="clin-bench"),
    "bench-admin": ApiKey(role=Role.PROGRAM_ADMIN, programs=frozenset({"*"}), actor="admin-bench"),
}


@asynccontextmanager
async def _postgres(database_url: str | None) -> AsyncIterator[asyncpg.Pool]:
    with ExitStack() as scratch:
        if database_url is None:
            database_url = scratch.enter_context(scratch_database("carepath-bench-pg-"))
        async with scratch_schema_pool(database_url, prefix="bench", min_size=2) as pool:
            yield pool


async def _seed_census(pool: asyncpg.Pool, count: int) -> None:
    now = datetime.now(UTC)
    phases = ("in_treatment", "authorization", "assessment", "aftercare")
    rows = [
        (
            f"seed-{i:06d}",
            f"care-episode-seed-{i:06d}",
            f"{PROGRAM}-{i % 4}",
            phases[i % len(phases)],
            "iop" if phases[i % len(phases)] == "in_treatment" else None,
            now - timedelta(days=30),
            now + timedelta(hours=i % 400 - 100),
            i % 17 == 0,
            now,
        )
        for i in range(count)
    ]
    await pool.executemany(
        """
        INSERT INTO episodes (episode_id, workflow_id, program_id, phase, level_delivered,
            started_at, next_review_due, risk_flag, updated_at, last_seq)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0)
        """,
        rows,
    )


async def _rate(total: int, concurrency: int, call: Callable[[int], Awaitable[None]]) -> float:
    """Calls per second for `total` calls, `concurrency` at a time."""
    queue = iter(range(total))

    async def lane() -> None:
        for i in queue:
            await call(i)

    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return total / (time.perf_counter() - began)


def _start(episode_id: str) -> EpisodeStart:
    return EpisodeStart(
        episode_id=episode_id,
        program_id=PROGRAM,
        patient=PatientRef(patient_ref="MRN-BENCH"),
        coverage=Coverage(payer_id="SANDBOX", member_id="NOAUTH-BENCH"),
    )


async def run_api_bench(
    *,
    census_episodes: int = 10_000,
    state_episodes: int = 200,
    reviews: int = 200,
    gets: int = 2_000,
    concurrency: int = 16,
    database_url: str | None = None,
) -> dict[str, float]:
    """The API figures and the workbench pages beside them; `database_url` defaults to
    the embedded server."""
    env = await start_dev_server(pydantic_data_converter)
    try:
        async with _postgres(database_url) as pool:
            settings = ApiSettings(task_queue=f"bench-{uuid.uuid4().hex[:6]}", api_keys=KEYS)
            activities = CareActivities(PostgresRecordStore(pool), SandboxPayer())
            worker = build_worker(env.client, task_queue=settings.task_queue, activities=activities)
            async with worker:
                await _seed_census(pool, census_episodes)
                ids = [f"bench-{uuid.uuid4().hex[:10]}" for _ in range(state_episodes)]
                for chunk in range(0, len(ids), 50):
                    await asyncio.gather(
                        *(
                            start_episode(env.client, _start(i), task_queue=settings.task_queue)
                            for i in ids[chunk : chunk + 50]
                        )
                    )
                app = create_app(ApiDeps(client=env.client, pool=pool, settings=settings))
                async with (
                    running_server(app) as url,
                    httpx.AsyncClient(base_url=url, headers=CARE, timeout=60) as http,
                ):
                    figures = await _measure(http, ids, reviews, gets, concurrency)
                    seated = ids[1 : 1 + SEATS]
                    await enrolled(http, seated)
                    figures.update(await measure_rosters(http, PROGRAM, seated))
                    figures.update(await measure_app_pages(app, url, http, ids))
                    return figures
    finally:
        await env.shutdown()


async def _measure(
    http: httpx.AsyncClient, ids: list[str], reviews: int, gets: int, concurrency: int
) -> dict[str, float]:
    reviewed = ids[0]
    assessment = {
        "assessment_id": "bench-asm",
        "clinician_id": "clin-bench",
        "phq9": {"items": [2, 2, 2, 2, 2, 2, 2, 2, 0]},
        "determination": {"instrument": "LOCUS", "level": "iop", "rationale": "bench"},
    }
    answer = await http.post(f"/v1/episodes/{reviewed}/assessment", json=assessment)
    answer.raise_for_status()
    for _ in range(100):  # eligibility runs as an activity; wait for enrolment
        state = (await http.get(f"/v1/episodes/{reviewed}")).json()
        if state["phase"] == "in_treatment":
            break
        await asyncio.sleep(0.1)
    rtts: list[float] = []
    for n in range(reviews):
        body = {
            "review_id": f"bench-rev-{n}",
            "clinician_id": "clin-bench",
            "hours_attended": 10,
            "units_attended": 3,
        }
        began = time.perf_counter()
        answer = await http.post(f"/v1/episodes/{reviewed}/reviews", json=body)
        rtts.append((time.perf_counter() - began) * 1000)
        answer.raise_for_status()
    cuts = statistics.quantiles(rtts, n=100)

    async def get_state(i: int) -> None:
        (await http.get(f"/v1/episodes/{ids[i % len(ids)]}")).raise_for_status()

    async def get_census(i: int) -> None:
        params: dict[str, str | int] = {
            "program": f"{PROGRAM}-{i % 4}",
            "limit": 50,
            "offset": (i % 20) * 50,
        }
        (await http.get("/v1/episodes", params=params)).raise_for_status()

    return {
        "api_review_rtt_p50_ms": statistics.median(rtts),
        "api_review_rtt_p99_ms": cuts[98],
        "api_state_get_per_s": await _rate(gets, concurrency, get_state),
        "api_census_get_per_s": await _rate(gets // 2, concurrency, get_census),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(asyncio.run(run_api_bench(state_episodes=50, reviews=50, gets=400))))
