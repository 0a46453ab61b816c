"""A clinic on the HTTP API, for fault tests: episodes driven by retrying calls, and the
checks every fault test ends with (exactly once in the workflow and in PostgreSQL, every
notification delivered, no key left in flight, no 500)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.faults.harness import PROGRAM, FaultStack, phq9_items

ASSESSMENT_TOTAL = 16


@dataclass
class Episode:
    episode_id: str
    reviews: list[tuple[str, int]] = field(default_factory=list)  # accepted: (id, PHQ-9)

    @property
    def path(self) -> str:
        return f"/v1/episodes/{self.episode_id}"


async def admit(faults: FaultStack, http: httpx.AsyncClient) -> Episode:
    """Start an episode and assess it for IOP; the sandbox payer (NOAUTH) enrols it."""
    episode = Episode(f"ep-{uuid.uuid4().hex[:10]}")
    started = await faults.call(
        http,
        "POST",
        "/v1/episodes",
        role="clinic-system",
        idempotency_key=f"start-{episode.episode_id}",
        body={
            "episode_id": episode.episode_id,
            "program_id": PROGRAM,
            "patient": {"patient_ref": "MRN-SYNTH-F"},
            "coverage": {"payer_id": "SANDBOX", "member_id": "NOAUTH-F"},
            "consents": {"payer_disclosure": True},
            # Patient messages at any hour: every one is delivered whatever the hour the
            # test runs (engine V3 holds them to 09:00-20:00 local by default).
            "policy": {"patient_message_window_hours": [0, 24]},
        },
    )
    assert started.status in (200, 201), started  # 200: a retry found it started
    assessed = await faults.call(
        http,
        "POST",
        f"{episode.path}/assessment",
        role="care-team",
        idempotency_key=f"asm-{episode.episode_id}",
        body={
            "assessment_id": f"asm-{episode.episode_id}",
            "clinician_id": "dev-care-team",
            "phq9": {"items": phq9_items(ASSESSMENT_TOTAL)},
            "determination": {"instrument": "LOCUS", "level": "iop", "rationale": "level 3"},
        },
    )
    assert assessed.status == 200, assessed
    return episode


async def view(faults: FaultStack, http: httpx.AsyncClient, episode: Episode) -> dict[str, Any]:
    answer = await faults.call(http, "GET", episode.path, role="care-team")
    assert answer.status == 200, answer
    body: dict[str, Any] = answer.body
    return body


async def enrolled(faults: FaultStack, http: httpx.AsyncClient, episode: Episode) -> None:
    for _ in range(400):
        if (await view(faults, http, episode))["phase"] == "in_treatment":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{episode.episode_id} never reached in_treatment")


async def review(
    faults: FaultStack, http: httpx.AsyncClient, episode: Episode, total: int, *, item9: int = 0
) -> None:
    """Submit a weekly review; an item 9 above zero raises the risk alert (a message)."""
    review_id = f"rev-{uuid.uuid4().hex[:10]}"
    answer = await faults.call(
        http,
        "POST",
        f"{episode.path}/reviews",
        role="care-team",
        idempotency_key=f"key-{review_id}",
        body={
            "review_id": review_id,
            "clinician_id": "dev-care-team",
            "phq9": {"items": phq9_items(total, item9)},
            "hours_attended": 10,
            "units_attended": 3,
        },
    )
    assert answer.status == 200, answer
    episode.reviews.append((review_id, total))


async def bounded(check: Any, what: str, attempts: int = 600) -> None:
    """Retry an async check (returns a list of problems) until it has none."""
    problems: list[str] = []
    for _ in range(attempts):
        problems = await check()
        if not problems:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: {problems[:10]}")


async def assert_nothing_lost(
    faults: FaultStack, http: httpx.AsyncClient, episodes: list[Episode]
) -> None:
    """The promises: exactly once (workflow and PostgreSQL), delivered, no key in flight, no 500."""
    for episode in episodes:
        history = (await view(faults, http, episode))["scores"]["phq9_history"]
        assert sorted(history) == sorted(total for _, total in episode.reviews), (episode, history)
    pool = await faults.pool()
    try:
        await bounded(lambda: _records(pool, episodes), "reviews in PostgreSQL")
        await bounded(lambda: _deliveries(pool, faults), "notifications delivered")
        in_flight = await pool.fetchval(
            "SELECT count(*) FROM api_idempotency WHERE status_code IS NULL"
        )
        assert in_flight == 0
        assert await pool.fetchval("SELECT count(*) FROM parked_batches") == 0
    finally:
        await pool.close()
    server_errors = [status for status in faults.statuses if status >= 500 and status != 503]
    assert server_errors == [], server_errors


async def _records(pool: asyncpg.Pool, episodes: list[Episode]) -> list[str]:
    rows = await pool.fetch(
        """
        SELECT episode_id, review_id, count(*) AS n FROM reviews
        WHERE kind = 'review' AND episode_id = ANY($1) GROUP BY episode_id, review_id
        """,
        [e.episode_id for e in episodes],
    )
    recorded = {(r["episode_id"], r["review_id"]): r["n"] for r in rows}
    expected = {(e.episode_id, rid): 1 for e in episodes for rid, _ in e.reviews}
    return [f"{key}: {recorded.get(key, 0)} rows" for key in expected if recorded.get(key) != 1] + [
        f"{key}: not submitted" for key in recorded if key not in expected
    ]


async def _deliveries(pool: asyncpg.Pool, faults: FaultStack) -> list[str]:
    rows = await pool.fetch("SELECT message_id, status FROM notification_outbox")
    queued = {r["message_id"]: r["status"] for r in rows}
    received = [str(p["message_id"]) for p in faults.receiver.processed]
    problems = [f"{m}: {s}" for m, s in queued.items() if s != "sent"]
    problems += [f"{m}: never received" for m in queued if m not in received]
    problems += [f"{m}: received, not queued" for m in received if m not in queued]
    if len(received) != len(set(received)):
        problems.append("the receiver processed a message twice")
    return problems
