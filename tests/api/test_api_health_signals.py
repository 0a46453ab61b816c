"""/readyz reports what the worker's background loops leave in PostgreSQL: whether an outbox
dispatcher completed a pass recently, and how many record batches wait for an operator."""

from __future__ import annotations

import asyncpg
import httpx

from store.health import DISPATCHER, beat


async def test_readyz_reports_a_stale_dispatcher_and_parked_batches(
    api: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    await api_pool.execute("DELETE FROM service_heartbeats")
    never = await api.get("/readyz")
    assert never.status_code == 200, never.text  # the API itself can serve
    assert never.json() == {
        "status": "ok",
        "temporal": True,
        "postgres": True,
        "dispatcher": False,
        "parked_batches": 0,
    }

    await api_pool.execute(
        "INSERT INTO service_heartbeats VALUES ($1, 'old-worker:1', now() - interval '1 hour')",
        DISPATCHER,
    )
    assert (await api.get("/readyz")).json()["dispatcher"] is False

    await beat(api_pool, DISPATCHER, "worker:2")
    await api_pool.execute(
        """
        INSERT INTO parked_batches (workflow_id, seq, run_id, episode_id, sqlstate,
            error_class, batch_json)
        VALUES ('care-episode-x', 3, 'r', 'x', '22021', 'CharacterNotInRepertoireError', '{}')
        """
    )
    try:
        fresh = (await api.get("/readyz")).json()
        assert (fresh["dispatcher"], fresh["parked_batches"]) == (True, 1)
    finally:
        await api_pool.execute("DELETE FROM parked_batches WHERE workflow_id = 'care-episode-x'")
        await api_pool.execute("DELETE FROM service_heartbeats")
