"""Idempotency-Key: a retry gets the first answer; the same key for another request is 422."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.deps import ApiDeps
from api.idempotency import request_hash
from api.ledger import CallLedger, CallStart, KeyRequest, Opened, PostgresCallLedger
from api.mutations import Settler
from api.settings import ApiSettings, key_fingerprint
from tests.api import bodies
from tests.api.conftest import bearer
from tests.api.test_api_episodes import enrolled_episode

CARE = bearer("tok-care")
CLINIC = bearer("tok-clinic")


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def calls_for(pool: asyncpg.Pool, episode_id: str, operation: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM api_calls WHERE episode_id = $1 AND operation = $2",
        episode_id,
        operation,
    )
    return count


async def test_a_retried_review_gets_the_first_answer_back(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    headers = {**CARE, **key()}
    review = bodies.review()
    first = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=headers)
    again = await api.post(f"/v1/episodes/{episode_id}/reviews", json=review, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await calls_for(api_pool, episode_id, "submit_review") == 1  # work done once


async def test_the_same_key_with_another_body_is_422(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    headers = {**CARE, **key()}
    first = await api.post(
        f"/v1/episodes/{episode_id}/reviews", json=bodies.review(), headers=headers
    )
    assert first.status_code == 200
    other = await api.post(
        f"/v1/episodes/{episode_id}/reviews", json=bodies.review(), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["type"].endswith("idempotency-key-reused")


async def test_a_refusal_is_replayed_too(api: httpx.AsyncClient) -> None:
    body = bodies.episode()
    assert (await api.post("/v1/episodes", json=body, headers=CLINIC)).status_code == 201
    headers = {**CARE, **key()}
    review = bodies.review()
    path = f"/v1/episodes/{body['episode_id']}/reviews"
    first = await api.post(path, json=review, headers=headers)
    again = await api.post(path, json=review, headers=headers)
    assert first.status_code == again.status_code == 409
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"


async def test_start_replays_201_and_keys_belong_to_their_owner(api: httpx.AsyncClient) -> None:
    headers = {**CLINIC, **key()}
    body = bodies.episode()
    first = await api.post("/v1/episodes", json=body, headers=headers)
    again = await api.post("/v1/episodes", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    # Another key owner using the same header value is a different request altogether.
    review = bodies.review()
    mine = await api.post(
        f"/v1/episodes/{body['episode_id']}/reviews",
        json=review,
        headers={**CARE, "Idempotency-Key": headers["Idempotency-Key"]},
    )
    assert mine.status_code == 409  # the engine answered; not a key mismatch


async def test_an_overlong_key_is_422(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/v1/episodes", json=bodies.episode(), headers={**CLINIC, "Idempotency-Key": "k" * 256}
    )
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("invalid-idempotency-key")


async def _stale_claim(
    pool: asyncpg.Pool, token: str, path: str, body: bytes, *, lease: timedelta, key_value: str
) -> None:
    """A claim left by a request that never finished (its API process died)."""
    await pool.execute(
        """
        INSERT INTO api_idempotency (key_owner, idempotency_key, method, path, request_hash,
            created_at, lease_expires_at)
        VALUES ($1, $2, 'POST', $3, $4, now() - interval '1 hour', now() + $5)
        """,
        key_fingerprint(token),
        key_value,
        path,
        request_hash("POST", path, body),
        lease,
    )


async def test_a_claim_whose_lease_ran_out_is_claimed_again_and_runs_once(
    api: httpx.AsyncClient, api_env: WorkflowEnvironment, api_pool: asyncpg.Pool
) -> None:
    episode_id = await enrolled_episode(api, api_env)
    path = f"/v1/episodes/{episode_id}/reviews"
    body = json.dumps(bodies.review()).encode()
    headers = {**CARE, "Content-Type": "application/json"}
    # The first attempt reached the engine, then its process died before the answer was kept.
    assert (await api.post(path, content=body, headers=headers)).status_code == 200
    value = uuid.uuid4().hex
    await _stale_claim(
        api_pool, "tok-care", path, body, lease=timedelta(seconds=-1), key_value=value
    )

    retried = await api.post(path, content=body, headers={**headers, "Idempotency-Key": value})
    assert retried.status_code == 200, retried.text
    assert retried.json()["duplicate"] is True  # the engine deduped the re-run
    row = await api_pool.fetchrow(
        "SELECT status_code, lease_expires_at FROM api_idempotency WHERE idempotency_key = $1",
        value,
    )
    assert row is not None and row["status_code"] == 200 and row["lease_expires_at"] is None
    again = await api.post(path, content=body, headers={**headers, "Idempotency-Key": value})
    assert again.headers["idempotent-replayed"] == "true"
    state = (await api.get(f"/v1/episodes/{episode_id}", headers=CARE)).json()
    assert state["scores"]["phq9_history"] == [8]  # recorded once


async def test_a_claim_within_its_lease_is_409_with_retry_after(
    api: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    path = "/v1/episodes"
    body = json.dumps(bodies.episode()).encode()
    value = uuid.uuid4().hex
    await _stale_claim(
        api_pool, "tok-clinic", path, body, lease=timedelta(seconds=30), key_value=value
    )
    answer = await api.post(
        path,
        content=body,
        headers={**CLINIC, "Content-Type": "application/json", "Idempotency-Key": value},
    )
    assert answer.status_code == 409, answer.text
    assert answer.json()["type"].endswith("request-in-progress")
    assert 1 <= int(answer.headers["retry-after"]) <= 30


async def test_a_key_with_a_control_character_is_422(api: httpx.AsyncClient) -> None:
    answer = await api.post(
        "/v1/episodes", json=bodies.episode(), headers={**CLINIC, "Idempotency-Key": "k\x7f1"}
    )
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("invalid-idempotency-key")


class AnswerLostOnce:
    """The real ledger, except that the first `close` finds PostgreSQL gone."""

    def __init__(self, ledger: CallLedger) -> None:
        self._ledger = ledger
        self.failed = 0

    async def open(self, call: CallStart, key: KeyRequest | None) -> Opened:
        return await self._ledger.open(call, key)

    async def close(self, opened: Opened, status_code: int, body: Any, at: datetime) -> None:
        if not self.failed:
            self.failed += 1
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle")
        await self._ledger.close(opened, status_code, body, at)

    async def abandon(self, opened: Opened, status_code: int | None, at: datetime) -> None:
        await self._ledger.abandon(opened, status_code, at)


@pytest.mark.usefixtures("api_worker")
async def test_an_answer_that_could_not_be_stored_is_kept_once_postgres_answers(
    api_env: WorkflowEnvironment,
    api_pool: asyncpg.Pool,
    api_settings: ApiSettings,
) -> None:
    ledger = AnswerLostOnce(PostgresCallLedger(api_pool))
    app = create_app(
        ApiDeps(client=api_env.client, pool=api_pool, settings=api_settings, ledger=ledger)
    )
    value = uuid.uuid4().hex
    body = bodies.episode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        answer = await client.post(
            "/v1/episodes", json=body, headers={**CLINIC, "Idempotency-Key": value}
        )
        assert answer.status_code == 201, answer.text  # the work was done: the answer goes out
        await app.state.services.mutations.settler.drain()
        row = await api_pool.fetchrow(
            "SELECT status_code, response_body FROM api_idempotency WHERE idempotency_key = $1",
            value,
        )
        assert row is not None and row["status_code"] == 201  # not left in flight
        assert json.loads(row["response_body"]) == answer.json()
        audit = await api_pool.fetch(
            "SELECT status_code, finished_at FROM api_calls WHERE episode_id = $1",
            body["episode_id"],
        )
        assert [(r["status_code"], r["finished_at"] is not None) for r in audit] == [(201, True)]
        replayed = await client.post(
            "/v1/episodes", json=body, headers={**CLINIC, "Idempotency-Key": value}
        )
        assert replayed.headers["idempotent-replayed"] == "true"
    assert ledger.failed == 1


async def test_concurrent_requests_with_one_key_run_once(
    api: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    body = bodies.episode()
    headers = {**CLINIC, **key()}
    answers = await asyncio.gather(
        *(api.post("/v1/episodes", json=body, headers=headers) for _ in range(6))
    )
    ran = [a for a in answers if a.status_code == 201 and "idempotent-replayed" not in a.headers]
    assert len(ran) == 1, [(a.status_code, a.text) for a in answers]
    for other in answers:
        if other is not ran[0]:
            replayed = other.headers.get("idempotent-replayed") == "true"
            in_progress = other.status_code == 409 and "retry-after" in other.headers
            assert replayed or in_progress, other.text
    audit = await api_pool.fetchval(
        "SELECT count(*) FROM api_calls WHERE episode_id = $1", body["episode_id"]
    )
    assert audit == 1


async def test_a_settle_that_cannot_finish_is_cancelled_at_shutdown() -> None:
    settler = Settler(give_up_after_s=3600, first_wait_s=0.01)
    tries = 0

    async def never() -> None:
        nonlocal tries
        tries += 1
        raise ConnectionRefusedError(111, "refused")

    settler.later("storing an answer", never)
    await settler.drain(timeout_s=0.2)  # returns: the step is cancelled, not awaited forever
    assert tries >= 1
    await settler.drain()  # nothing left
