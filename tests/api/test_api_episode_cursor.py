"""`GET /v1/episodes` pages by cursor: every episode once, in order; a cursor that was
altered, or sent with another filter, and a limit over the maximum are 422 that say so."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from rules.transitions import CarePhase
from store.postgres import PostgresRecordStore
from tests.api.conftest import bearer
from tests.store.store_builders import batch, snapshot

OPS = bearer("tok-ops")
DUE = datetime(2031, 1, 6, 9, 0, tzinfo=UTC)


async def _seed(pool: asyncpg.Pool, program: str, count: int) -> list[str]:
    store = PostgresRecordStore(pool)
    ids = []
    for n in range(count):
        eid = f"{program}-{n:02d}"
        due = None if n % 4 == 3 else DUE + timedelta(hours=n // 2)
        episode = snapshot(
            eid, program_id=program, phase=CarePhase.IN_TREATMENT, next_review_due=due
        )
        await store.apply(batch(1, episode))
        ids.append((due or datetime.max.replace(tzinfo=UTC), eid))
    return [eid for _, eid in sorted(ids)]


async def _problem(api: httpx.AsyncClient, params: dict[str, str | int]) -> dict[str, object]:
    answer = await api.get("/v1/episodes", params=params, headers=OPS)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = answer.json()
    return body


async def test_cursor_pages_walk_every_episode_once(
    api: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    program = f"cur-{uuid.uuid4().hex[:6]}"
    expected = await _seed(api_pool, program, 11)
    seen: list[str] = []
    params: dict[str, str | int] = {"program": program, "limit": 3, "count_total": "true"}
    first = True
    while True:
        answer = await api.get("/v1/episodes", params=params, headers=OPS)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["total"] == (11 if first else None)
        first = False
        seen.extend(item["episode_id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params = {"program": program, "limit": 3, "cursor": page["next_cursor"]}
    assert seen == expected


async def test_a_bad_cursor_or_limit_is_refused_and_says_why(
    api: httpx.AsyncClient, api_pool: asyncpg.Pool
) -> None:
    program = f"cur-{uuid.uuid4().hex[:6]}"
    await _seed(api_pool, program, 4)
    answer = await api.get("/v1/episodes", params={"program": program, "limit": 2}, headers=OPS)
    cursor = answer.json()["next_cursor"]
    assert isinstance(cursor, str)

    # Altered: the body re-encoded with another episode id, the signature kept.
    body, tag = cursor.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = base64.urlsafe_b64encode(raw.replace(b'"e":"', b'"e":"0')).rstrip(b"=").decode()
    altered = await _problem(api, {"program": program, "cursor": f"{forged}.{tag}"})
    assert altered["type"] == "https://carepath.dev/problems/invalid-cursor"
    assert "altered" in str(altered["detail"])

    garbage = await _problem(api, {"program": program, "cursor": "not-a-cursor"})
    assert "not one this API issued" in str(garbage["detail"])

    # Another filter: another program, a phase added, or everything the key sees.
    for other in ({"program": "iop-adult"}, {"program": program, "phase": "aftercare"}, {}):
        refused = await _problem(api, {**other, "cursor": cursor})
        assert "another filter" in str(refused["detail"]), refused

    too_many = await _problem(api, {"program": program, "limit": 501})
    assert "limit" in str(too_many["errors"]) and "500" in str(too_many["errors"])

    removed = await _problem(api, {"program": program, "offset": 10})
    assert removed["type"] == "https://carepath.dev/problems/offset-removed"
    assert "cursor" in str(removed["detail"])

    # The same cursor with its own filter still works (a refusal changed nothing).
    again = await api.get(
        "/v1/episodes", params={"program": program, "limit": 2, "cursor": cursor}, headers=OPS
    )
    assert again.status_code == 200 and len(again.json()["items"]) == 2
