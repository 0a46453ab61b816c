"""Idempotency-Key: a retry gets the first answer; the same key for another request is 422."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
from temporalio.testing import WorkflowEnvironment

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
