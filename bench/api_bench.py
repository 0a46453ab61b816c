"""API benchmark: review round trip through HTTP, state and census GET throughput.

Runs against Temporal's dev server (real persistence) and PostgreSQL (DATABASE_URL, else
an embedded pgserver), with the API served by uvicorn on a local socket. The census reads
`census_episodes` seeded rows (10,000 by default); state GETs spread over `state_episodes`
live workflows (200 by default: what a 2-core box starts in a few seconds).

Reviews rotate over `review_episodes` in-treatment episodes (30, as the bare-update
benchmark's do), one at a time after a warm-up round. The API has a pool of its own on the
same schema (the worker's store keeps the other), with a query logger on every
connection: `api_pg_roundtrips_per_review` is every statement the API sent PostgreSQL
during the reviews (BEGIN and COMMIT included), divided by the reviews, and
`pg_roundtrip_p99_ms` is a `SELECT 1` on that pool, the floor every one of them pays.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from bench.roundtrips import RoundTrips
from schemas.episode import Coverage, EpisodeStart, PatientRef
from store.pool import open_pool
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
async def _postgres(database_url: str | None) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    with ExitStack() as scratch:
        if database_url is None:
            database_url = scratch.enter_context(scratch_database("carepath-bench-pg-"))
        async with scratch_schema_pool(database_url, prefix="bench", min_size=2) as pool:
            yield database_url, pool


@asynccontextmanager
async def _api_pool(
    database_url: str, store: asyncpg.Pool, watched: RoundTrips
) -> AsyncIterator[asyncpg.Pool]:
    """A second pool on the store pool's schema, for the API alone, opened as api/serve.py
    opens the API's (a release sends no reset); every statement on it is logged into
    `watched`."""
    schema: str = await store.fetchval("SELECT current_schema()")
    api = await open_pool(
        database_url,
        min_size=2,
        max_size=10,
        server_settings={"search_path": schema},
        reset_sessions=False,
        init=watched.watch,
    )
    try:
        yield api
    finally:
        await api.close()


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
    review_episodes: int = 30,
    gets: int = 2_000,
    concurrency: int = 16,
    database_url: str | None = None,
    app_only: bool = False,
) -> dict[str, float]:
    """The API figures and the workbench pages beside them; `database_url` defaults to
    the embedded server. `app_only`: the rosters and the pages (with the API calls they
    are set beside), without the reviews and the GET rates (`python -m bench.api_bench
    --app`, to profile the pages)."""
    env = await start_dev_server(pydantic_data_converter)
    try:
        async with _postgres(database_url) as (dsn, pool):
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
                watched = RoundTrips()
                async with _api_pool(dsn, pool, watched) as api_pool:
                    app = create_app(ApiDeps(client=env.client, pool=api_pool, settings=settings))
                    async with (
                        running_server(app) as url,
                        httpx.AsyncClient(base_url=url, headers=CARE, timeout=60) as http,
                    ):
                        figures: dict[str, float] = {}
                        if not app_only:
                            figures = await _measure(
                                http, ids, reviews, review_episodes, gets, concurrency, watched
                            )
                        figures["pg_roundtrip_p99_ms"] = await _select_1_p99_ms(api_pool)
                        seated = ids[1 : 1 + SEATS]
                        await enrolled(http, seated)
                        figures.update(await measure_rosters(http, PROGRAM, seated))
                        figures.update(await measure_app_pages(app, url, http, ids, watched))
                        return figures
    finally:
        await env.shutdown()


async def _post(http: httpx.AsyncClient, url: str, body: Mapping[str, object]) -> httpx.Response:
    """POST, again with the same body (the same submission ID: a retry) on a 502/503/504,
    which a loaded 2-core machine gives now and then."""
    for _ in range(20):
        answer = await http.post(url, json=body)
        if answer.status_code not in (502, 503, 504):
            break
        await asyncio.sleep(0.5)
    return answer


async def _in_treatment(http: httpx.AsyncClient, episode_id: str) -> None:
    """Assessed at IOP; eligibility (no authorization needed) runs as an activity."""
    assessment = {
        "assessment_id": f"bench-asm-{episode_id}",
        "clinician_id": "clin-bench",
        "phq9": {"items": [2, 2, 2, 2, 2, 2, 2, 2, 0]},
        "determination": {"instrument": "LOCUS", "level": "iop", "rationale": "bench"},
    }
    answer = await _post(http, f"/v1/episodes/{episode_id}/assessment", assessment)
    answer.raise_for_status()
    for _ in range(300):
        state = (await http.get(f"/v1/episodes/{episode_id}")).json()
        if state["phase"] == "in_treatment":
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{episode_id} never reached in_treatment")


async def _review_rtts(
    http: httpx.AsyncClient, episodes: list[str], reviews: int, watched: RoundTrips
) -> dict[str, float]:
    """One review at a time, rotating over `episodes`, after one warm-up round of them."""
    rtts: list[float] = []
    before = watched.copy()
    for n in range(reviews + len(episodes)):
        if n == len(episodes):
            await asyncio.sleep(0.5)  # the warm-up's last statements are logged
            before = watched.copy()
        body = {
            "review_id": f"bench-rev-{n}",
            "clinician_id": "clin-bench",
            "hours_attended": 10,
            "units_attended": 1,
        }
        began = time.perf_counter()
        answer = await _post(http, f"/v1/episodes/{episodes[n % len(episodes)]}/reviews", body)
        took = (time.perf_counter() - began) * 1000
        answer.raise_for_status()
        if n >= len(episodes):
            rtts.append(took)
    await asyncio.sleep(0.5)  # loggers run soon after each statement; let the last ones in
    spent = watched.since(before)
    print(f"bench: API statements per review: {spent.report(reviews)}", file=sys.stderr, flush=True)
    return {
        "api_review_rtt_p50_ms": statistics.median(rtts),
        "api_review_rtt_p99_ms": statistics.quantiles(rtts, n=100)[98],
        "api_review_episodes": float(len(episodes)),
        "api_pg_roundtrips_per_review": spent.count / reviews,
        "api_pg_ms_per_review": sum(spent.seconds.values()) * 1000 / reviews,
    }


async def _select_1_p99_ms(pool: asyncpg.Pool, samples: int = 300) -> float:
    """A trivial query on the API's pool: what one round trip costs on this machine now."""
    took: list[float] = []
    for n in range(samples + 20):
        began = time.perf_counter()
        await pool.fetchval("SELECT 1")
        if n >= 20:
            took.append((time.perf_counter() - began) * 1000)
    return statistics.quantiles(took, n=100)[98]


async def _measure(
    http: httpx.AsyncClient,
    ids: list[str],
    reviews: int,
    review_episodes: int,
    gets: int,
    concurrency: int,
    watched: RoundTrips,
) -> dict[str, float]:
    reviewed = ids[-review_episodes:]  # the roster part seats the first ones
    for episode_id in reviewed:
        await _in_treatment(http, episode_id)
    figures = await _review_rtts(http, reviewed, reviews, watched)

    async def get_state(i: int) -> None:
        (await http.get(f"/v1/episodes/{ids[i % len(ids)]}")).raise_for_status()

    async def get_census(i: int) -> None:
        params: dict[str, str | int] = {"program": f"{PROGRAM}-{i % 4}", "limit": 50}
        (await http.get("/v1/episodes", params=params)).raise_for_status()

    return figures | {
        "api_state_get_per_s": await _rate(gets, concurrency, get_state),
        "api_census_get_per_s": await _rate(gets // 2, concurrency, get_census),
    }


if __name__ == "__main__":
    import json

    if "--app" in sys.argv[1:]:
        print(json.dumps(asyncio.run(run_api_bench(app_only=True, state_episodes=50))))
    else:
        print(json.dumps(asyncio.run(run_api_bench(state_episodes=50, reviews=60, gets=400))))
