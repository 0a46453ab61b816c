"""PostgreSQL really stopped under the API: every call is 503 with Retry-After (never 500),
nothing is half-done, and once it is back a retry with the same key runs once.

The API's pool points at an embedded PostgreSQL of this module's own (never the shared
server), stopped with `pg_ctl` while pooled connections are open, so the errors are the
real ones: AdminShutdownError and ConnectionDoesNotExistError on the open connections,
refused connections after.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.episode_records import PostgresEpisodeRecords, TimelineEntry
from api.ledger import CallLedger, CallStart, KeyRequest, Opened, PostgresCallLedger
from api.outages import outage_problem
from api.settings import ApiSettings
from schemas.episode import workflow_id_for
from schemas.view import EpisodeView
from store.migrate import migrate
from store.models import CensusRow
from tests.api import bodies
from tests.api.conftest import bearer
from worker.embedded_postgres import EmbeddedPostgres

CARE = bearer("tok-care")
CLINIC = bearer("tok-clinic")
OPS = bearer("tok-ops")


@pytest.fixture(scope="module")
async def own_postgres() -> AsyncIterator[tuple[EmbeddedPostgres, asyncpg.Pool]]:
    folder = Path(tempfile.mkdtemp(prefix="cp-api-outage-"))
    server = await asyncio.to_thread(EmbeddedPostgres, folder / "pg", delete=True)
    pool = await asyncpg.create_pool(server.dsn, min_size=2, max_size=4)
    await migrate(pool)
    try:
        yield server, pool
    finally:
        await pool.close()
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


def app_on(
    env: WorkflowEnvironment,
    pool: asyncpg.Pool,
    settings: ApiSettings,
    ledger: CallLedger | None = None,
) -> FastAPI:
    quick = settings.model_copy(update={"api_settle_retry_seconds": 120.0})
    return create_app(ApiDeps(client=env.client, pool=pool, settings=quick, ledger=ledger))


async def state_of(env: WorkflowEnvironment, episode_id: str) -> EpisodeView:
    handle = env.client.get_workflow_handle(workflow_id_for(episode_id))
    view: EpisodeView = await handle.query("state", result_type=EpisodeView)
    return view


def assert_unavailable(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 503, f"{what}: {answer.status_code} {answer.text}"
    assert answer.headers["content-type"] == "application/problem+json", what
    assert int(answer.headers["retry-after"]) > 0, what
    assert answer.json()["type"].endswith("-unavailable"), what


@pytest.mark.usefixtures("api_worker")
async def test_with_postgres_stopped_every_call_is_503_and_nothing_is_half_done(
    api_env: WorkflowEnvironment,
    api_settings: ApiSettings,
    own_postgres: tuple[EmbeddedPostgres, asyncpg.Pool],
) -> None:
    server, pool = own_postgres
    app = app_on(api_env, pool, api_settings)
    start = bodies.episode()
    episode_id = start["episode_id"]
    assessment = bodies.assessment()
    keyed = {**CARE, "Idempotency-Key": f"asm-{episode_id}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as api:
        assert (await api.post("/v1/episodes", json=start, headers=CLINIC)).status_code == 201
        assert (await api.get("/v1/episodes", headers=CARE)).status_code == 200  # pool warm

        await asyncio.to_thread(server.stop)
        try:
            calls: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
                ("POST", f"/v1/episodes/{episode_id}/assessment", assessment, keyed),
                ("POST", f"/v1/episodes/{episode_id}/assessment", assessment, CARE),
                ("POST", f"/v1/episodes/{episode_id}/events", bodies.event(), CLINIC),
                ("POST", "/v1/episodes", bodies.episode(), {**CLINIC, "Idempotency-Key": "s-1"}),
                ("GET", "/v1/episodes", None, CARE),
                ("GET", "/v1/census", None, OPS),
                ("GET", f"/v1/episodes/{episode_id}/timeline", None, OPS),
            ]
            # Twice over: first the pooled connections break, then connecting is refused.
            for method, url, body, headers in calls + calls:
                answer = await api.request(method, url, json=body, headers=headers)
                assert_unavailable(answer, f"{method} {url}")
            ready = await api.get("/readyz")
            assert ready.status_code == 503 and ready.json()["postgres"] is False
            # The engine itself is up: reading the live state needs no PostgreSQL.
            assert (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).status_code == 200
        finally:
            await asyncio.to_thread(server.start)

        state = await state_of(api_env, episode_id)
        assert state.phase == "assessment"  # nothing reached the engine
        retried = await api.post(
            f"/v1/episodes/{episode_id}/assessment", json=assessment, headers=keyed
        )
        assert retried.status_code == 200, retried.text
        assert retried.json()["duplicate"] is False  # it runs now, for the first time
    rows = await pool.fetch(
        "SELECT operation, status_code, finished_at FROM api_calls WHERE episode_id = $1 "
        "ORDER BY id",
        episode_id,
    )
    assert [(r["operation"], r["status_code"]) for r in rows] == [
        ("start_episode", 201),
        ("submit_assessment", 200),
    ]
    assert all(r["finished_at"] is not None for r in rows)
    left = await pool.fetchval("SELECT count(*) FROM api_idempotency WHERE status_code IS NULL")
    assert left == 0


class StopsPostgresBeforeTheAnswerIsKept:
    """The real ledger; the first `close` finds the real server stopped under it."""

    def __init__(self, ledger: CallLedger, server: EmbeddedPostgres) -> None:
        self._ledger = ledger
        self._server = server
        self.stopped = False

    async def open(self, call: CallStart, key: KeyRequest | None) -> Opened:
        return await self._ledger.open(call, key)

    async def close(self, opened: Opened, status_code: int, body: Any, at: datetime) -> None:
        if not self.stopped:
            self.stopped = True
            await asyncio.to_thread(self._server.stop)
        await self._ledger.close(opened, status_code, body, at)

    async def abandon(self, opened: Opened, status_code: int | None, at: datetime) -> None:
        await self._ledger.abandon(opened, status_code, at)


@pytest.mark.usefixtures("api_worker")
async def test_postgres_lost_after_the_work_still_answers_and_keeps_the_answer_later(
    api_env: WorkflowEnvironment,
    api_settings: ApiSettings,
    own_postgres: tuple[EmbeddedPostgres, asyncpg.Pool],
) -> None:
    server, pool = own_postgres
    ledger = StopsPostgresBeforeTheAnswerIsKept(PostgresCallLedger(pool), server)
    app = app_on(api_env, pool, api_settings, ledger)
    start = bodies.episode()
    key = {**CLINIC, "Idempotency-Key": f"start-{start['episode_id']}"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as api:
        try:
            answer = await api.post("/v1/episodes", json=start, headers=key)
            assert answer.status_code == 201, answer.text  # started: the client is told so
            assert ledger.stopped
        finally:
            await asyncio.to_thread(server.start)
        await app.state.services.mutations.settler.drain()
        row = await pool.fetchrow(
            "SELECT status_code FROM api_idempotency WHERE idempotency_key = $1",
            key["Idempotency-Key"],
        )
        assert row is not None and row["status_code"] == 201  # not left in flight
        audit = await pool.fetch(
            "SELECT status_code, finished_at FROM api_calls WHERE episode_id = $1",
            start["episode_id"],
        )
        assert [(r["status_code"], r["finished_at"] is not None) for r in audit] == [(201, True)]
        again = await api.post("/v1/episodes", json=start, headers=key)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"


class SlowCensus(PostgresEpisodeRecords):
    """The real reads; the census query is held open on the server until it is stopped."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool)
        self._pool = pool
        self.running = asyncio.Event()

    async def census(self, programs: list[str] | None) -> list[CensusRow]:
        async with self._pool.acquire() as conn:
            query = asyncio.create_task(conn.fetchval("SELECT pg_sleep(60)"))
            await asyncio.sleep(0.2)  # the query is on the server
            self.running.set()
            await query
        return await super().census(programs)


async def test_a_query_cut_off_by_the_shutdown_is_503(
    api_env: WorkflowEnvironment,
    api_settings: ApiSettings,
    own_postgres: tuple[EmbeddedPostgres, asyncpg.Pool],
) -> None:
    server, pool = own_postgres
    records = SlowCensus(pool)
    app = create_app(
        ApiDeps(client=api_env.client, pool=pool, settings=api_settings, records=records)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as api:
        asked = asyncio.create_task(api.get("/v1/census", headers=OPS))
        await records.running.wait()
        try:
            await asyncio.to_thread(server.stop)  # AdminShutdownError for the running query
            assert_unavailable(await asked, "census cut off")
        finally:
            await asyncio.to_thread(server.start)


def _rpc(status: RPCStatusCode) -> RPCError:
    return RPCError("down", status, b"")


OUTAGES: list[BaseException] = [
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
    asyncpg.exceptions.CrashShutdownError("crash"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InternalClientError("cannot switch to state 12; another operation is in progress"),
    asyncpg.InterfaceError("pool is closed"),
    ConnectionRefusedError(111, "Connection refused"),
    TimeoutError(),
    _rpc(RPCStatusCode.UNAVAILABLE),
    _rpc(RPCStatusCode.DEADLINE_EXCEEDED),
    RuntimeError("Failed client connect: connection refused"),
]


class Raising(PostgresEpisodeRecords):
    def __init__(self, pool: asyncpg.Pool, error: BaseException) -> None:
        super().__init__(pool)
        self._error = error

    async def census(self, _programs: list[str] | None) -> list[CensusRow]:
        raise self._error

    async def timeline(self, _episode_id: str) -> list[TimelineEntry]:
        raise self._error


@pytest.mark.parametrize("error", OUTAGES, ids=[type(e).__name__ for e in OUTAGES])
async def test_every_kind_of_outage_error_is_503_never_500(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
    error: BaseException,
) -> None:
    records = Raising(api_pool, error)
    app = create_app(
        ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings, records=records)
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as api:
        assert_unavailable(await api.get("/v1/census", headers=OPS), repr(error))


def test_a_bug_is_not_taken_for_an_outage() -> None:
    assert outage_problem(asyncpg.exceptions.DataError("invalid input for query argument")) is None
    assert outage_problem(asyncpg.exceptions.UndefinedTableError("no table")) is None
    assert outage_problem(ValueError("bug")) is None
    assert outage_problem(_rpc(RPCStatusCode.INVALID_ARGUMENT)) is None


@pytest.fixture
async def silent_postgres() -> AsyncIterator[int]:
    """A port that accepts connections and never answers: PostgreSQL behind a dead link."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.mark.usefixtures("api_worker")
async def test_a_silent_postgres_is_503_not_a_hang(
    api_env: WorkflowEnvironment,
    api_settings: ApiSettings,
    api: httpx.AsyncClient,
    silent_postgres: int,
) -> None:
    start = bodies.episode()
    assert (await api.post("/v1/episodes", json=start, headers=CLINIC)).status_code == 201
    pool = await asyncpg.create_pool(
        f"postgresql://postgres@127.0.0.1:{silent_postgres}/none", min_size=0, max_size=1
    )
    quick = api_settings.model_copy(update={"api_records_timeout_seconds": 0.5})
    app = create_app(ApiDeps(client=api_env.client, pool=pool, settings=quick))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as silent:
            episode = f"/v1/episodes/{start['episode_id']}"
            assert (await silent.get(episode, headers=CARE)).status_code == 200  # engine only
            # Guard well under asyncpg's own 60 s connect timeout: the deadline is ours.
            async with asyncio.timeout(45):
                answer = await silent.post(
                    f"{episode}/assessment", json=bodies.assessment(), headers=CARE
                )
            assert_unavailable(answer, "assessment with PostgreSQL silent")
        assert (await state_of(api_env, start["episode_id"])).phase == "assessment"
    finally:
        pool.terminate()
