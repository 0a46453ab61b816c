"""`GET /v1/episodes?include_closed=true` pages by keyset on an index of its own
(migration 0610): the deepest page's plan reads the list's index from the cursor on, with
no sort of the table, for all programs and for one; and the pages still cover every
episode, open and closed, once and in order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from bench.store_bench import _SCALE_EPISODES, _deepest_key
from store import queries
from store.models import EpisodeFilter, EpisodeKey, EpisodePage
from tests.pg import scratch_database, scratch_schema_pool

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
EPISODES = 4000
PROGRAMS = 2  # 2,000 episodes each, 30 % of them closed: too many to sort for a page


@pytest.fixture(scope="module")
def dsn() -> Any:
    with scratch_database("carepath-scale-list-") as found:
        yield found


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    async with scratch_schema_pool(dsn, prefix="scale_list") as migrated:
        await migrated.execute(_SCALE_EPISODES, EPISODES, PROGRAMS, NOW)
        await migrated.execute("ANALYZE episodes")
        yield migrated


async def _plan(pool: asyncpg.Pool, where: EpisodeFilter, after: EpisodeKey) -> dict[str, Any]:
    """The plan of the very statement `list_episodes` sends for this page."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    async with pool.acquire() as conn:
        conn.add_query_logger(lambda q: sent.append((q.query, q.args)))
        await queries.list_episodes(conn, where, now=NOW, limit=50, after=after)
        for _ in range(100):  # the logger is called soon after the query, not during it
            if sent:
                break
            await asyncio.sleep(0.01)
        query, args = sent[-1]
        found = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {query}", *args)
    plan: dict[str, Any] = json.loads(found)[0]["Plan"]
    return plan


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


async def _last_page_key(pool: asyncpg.Pool, where: EpisodeFilter) -> EpisodeKey:
    pages = await _walk(pool, where, limit=50)
    key = pages[-2].last_key()
    assert key is not None
    return key


async def _walk(pool: asyncpg.Pool, where: EpisodeFilter, limit: int) -> list[EpisodePage]:
    pages = [await queries.list_episodes(pool, where, now=NOW, limit=limit)]
    while (after := pages[-1].last_key()) is not None:
        pages.append(await queries.list_episodes(pool, where, now=NOW, limit=limit, after=after))
    return pages


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (EpisodeFilter(include_closed=True), "episodes_list_order"),
        (EpisodeFilter(include_closed=True, programs=["prog-0001"]), "episodes_program_list_order"),
    ],
)
async def test_the_deepest_closed_too_page_reads_its_index_from_the_cursor(
    pool: asyncpg.Pool, where: EpisodeFilter, index: str
) -> None:
    after = await _last_page_key(pool, where)
    assert await _deepest_key(pool, where) == after  # the store bench's deepest page is it
    nodes = _nodes(await _plan(pool, where, after))
    scans = [n for n in nodes if n.get("Index Name") == index]
    assert scans, nodes
    assert "Index Cond" in scans[0], scans[0]  # starts at the cursor, not at the first row
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort", "Seq Scan")]


async def test_closed_too_pages_cover_every_episode_once_in_order(pool: asyncpg.Pool) -> None:
    listed = [
        (e.next_review_due, e.episode_id)
        for page in await _walk(pool, EpisodeFilter(include_closed=True), limit=500)
        for e in page.items
    ]
    rows = await pool.fetch("SELECT next_review_due, episode_id FROM episodes")
    assert len(listed) == len(rows) == EPISODES
    never = datetime.max.replace(tzinfo=UTC)
    assert listed == sorted(((r[0], r[1]) for r in rows), key=lambda r: (r[0] or never, r[1]))
    closed = await pool.fetchval("SELECT count(*) FROM episodes WHERE phase = 'closed'")
    assert closed == EPISODES * 3 // 10
