"""The episode list pages by keyset: every episode once, in order, however the rows change
between pages (no OFFSET that shifts when an earlier row comes or goes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from rules.transitions import CarePhase
from store import queries
from store.models import EpisodeFilter, EpisodeKey, EpisodePage
from store.postgres import PostgresRecordStore
from tests.store.store_builders import batch, snapshot

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


async def _seed(pool: asyncpg.Pool, count: int, *, program: str = "prog-a") -> list[str]:
    """`count` open episodes, some sharing a due time, some without one; returns the ids
    in list order (soonest review first, no review last, then by id)."""
    store = PostgresRecordStore(pool)
    expected: list[tuple[datetime, str]] = []
    for n in range(count):
        eid = f"k{n:03d}"
        due = None if n % 5 == 0 else NOW + timedelta(hours=n % 7)
        episode = snapshot(
            eid, program_id=program, phase=CarePhase.IN_TREATMENT, next_review_due=due
        )
        await store.apply(batch(n + 1, episode))
        expected.append((due or datetime.max.replace(tzinfo=UTC), eid))
    return [eid for _, eid in sorted(expected)]


async def _walk(pool: asyncpg.Pool, where: EpisodeFilter, limit: int) -> list[EpisodePage]:
    pages = [await queries.list_episodes(pool, where, now=NOW, limit=limit, count=True)]
    while (after := pages[-1].last_key()) is not None:
        pages.append(await queries.list_episodes(pool, where, now=NOW, limit=limit, after=after))
    return pages


async def test_pages_cover_every_episode_once_in_order(pool: asyncpg.Pool) -> None:
    expected = await _seed(pool, 23)
    for where in (
        EpisodeFilter(),
        EpisodeFilter(programs=["prog-a"]),
        EpisodeFilter(programs=["prog-a", "x"]),
    ):
        pages = await _walk(pool, where, limit=4)
        assert [e.episode_id for p in pages for e in p.items] == expected
        assert len(pages) == 6 and [len(p.items) for p in pages][-1] == 3
        assert pages[0].total == 23 and all(p.total is None for p in pages[1:])
        assert not pages[-1].more and all(p.more for p in pages[:-1])


async def test_a_page_boundary_on_a_row_without_a_review_date(pool: asyncpg.Pool) -> None:
    expected = await _seed(pool, 10)
    after = EpisodeKey(next_review_due=None, episode_id="k000")
    page = await queries.list_episodes(pool, EpisodeFilter(), now=NOW, limit=50, after=after)
    assert [e.episode_id for e in page.items] == expected[expected.index("k000") + 1 :]


async def test_pages_stay_stable_while_rows_are_written(pool: asyncpg.Pool) -> None:
    expected = await _seed(pool, 12)
    where = EpisodeFilter()
    first = await queries.list_episodes(pool, where, now=NOW, limit=5)
    assert [e.episode_id for e in first.items] == expected[:5]
    # Meanwhile: a new episode sorts before the cursor, one already shown is closed, and
    # one already shown moves its review later than the cursor.
    store = PostgresRecordStore(pool)
    await store.apply(
        batch(
            100,
            snapshot(
                "a-new", phase=CarePhase.IN_TREATMENT, next_review_due=NOW - timedelta(days=1)
            ),
        )
    )
    shown = first.items[0]
    await store.apply(
        batch(101, shown.model_copy(update={"phase": CarePhase.CLOSED})),
    )
    moved = first.items[1]
    await store.apply(
        batch(102, moved.model_copy(update={"next_review_due": NOW + timedelta(days=30)}))
    )
    rest: list[str] = []
    after = first.last_key()
    while after is not None:
        page = await queries.list_episodes(pool, where, now=NOW, limit=5, after=after)
        rest.extend(e.episode_id for e in page.items)
        after = page.last_key()

    # Nothing after the cursor was skipped or repeated: the later pages are exactly the rows
    # now sorting after the cursor (the moved one in its new place, not the new one before).
    def key(row_id: str, due: datetime | None) -> tuple[datetime, str]:
        return (due or datetime.max.replace(tzinfo=UTC), row_id)

    last = first.items[-1]
    now_listed = await queries.list_episodes(pool, where, now=NOW, limit=500)
    later = [
        e.episode_id
        for e in now_listed.items
        if key(e.episode_id, e.next_review_due) > key(last.episode_id, last.next_review_due)
    ]
    assert rest == later
    assert moved.episode_id in rest and "a-new" not in rest and shown.episode_id not in rest
    assert set(expected[5:]) <= set(rest)
