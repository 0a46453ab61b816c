"""Read queries on a small seeded data set, with the exact numbers worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from store import queries
from store.models import EpisodeFilter
from store.postgres import PostgresRecordStore
from tests.store.store_builders import authorization, batch, move, review, snapshot

P = CarePhase
E = Event
L = LevelOfCare
NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)
TODAY = NOW.date()


def _utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, 9, 0, tzinfo=UTC)


@pytest.fixture
async def seeded(pool: asyncpg.Pool) -> asyncpg.Pool:
    store = PostgresRecordStore(pool)
    seq = iter(range(1, 1000))

    async def open_episode(
        eid: str,
        program: str,
        level: LevelOfCare | None,
        due: datetime | None,
        *,
        phase: CarePhase = P.IN_TREATMENT,
        risk: bool = False,
        auths: list[object] | None = None,
    ) -> None:
        ep = snapshot(
            eid,
            program_id=program,
            phase=phase,
            delivered_level=level,
            authorized_level=level,
            next_review_due=due,
            risk_flag=risk,
        )
        await store.apply(batch(next(seq), ep, authorizations=auths or []))

    async def closed_episode(
        eid: str,
        program: str,
        start: datetime,
        end: datetime,
        baseline: int | None,
        latest: int | None,
        levels: list[LevelOfCare],
        outcome: str = "completed",
    ) -> None:
        ep = snapshot(
            eid,
            program_id=program,
            phase=P.CLOSED,
            outcome=outcome,
            started_at=start,
            closed_at=end,
            baseline_phq9=baseline,
            latest_phq9=latest,
            updated_at=end,
        )
        steps = [
            move(P.IN_TREATMENT, P.IN_TREATMENT, E.LEVEL_CHANGE_NO_AUTH, start + timedelta(i), lv)
            for i, lv in enumerate(levels)
        ]
        await store.apply(batch(next(seq), ep, transitions=steps))

    await open_episode(
        "a1",
        "prog-a",
        L.IOP,
        NOW - timedelta(days=1),
        risk=True,
        auths=[authorization("A-1", end_date=date(2025, 3, 25))],
    )
    await open_episode(
        "a2",
        "prog-a",
        L.IOP,
        NOW + timedelta(hours=3),
        auths=[authorization("A-2", end_date=date(2025, 4, 30))],
    )
    await open_episode(
        "a3",
        "prog-a",
        L.PHP,
        NOW + timedelta(days=2),
        auths=[
            authorization("A-3", status="extension_approved", end_date=TODAY),
            authorization(None, status="initial_requested", end_date=None, start_date=None),
        ],
    )
    await open_episode("a4", "prog-a", None, None, phase=P.ASSESSMENT)
    await open_episode("a8", "prog-a", L.IOP, NOW + timedelta(hours=10))
    await open_episode(
        "b1",
        "prog-b",
        L.OP,
        NOW - timedelta(hours=2),
        auths=[authorization("B-1", status="denied", end_date=date(2025, 3, 22))],
    )
    await closed_episode("a5", "prog-a", _utc(2025, 1, 1), _utc(2025, 1, 29), 20, 8, [L.IOP, L.OP])
    await closed_episode(
        "a6", "prog-a", _utc(2025, 1, 1), _utc(2025, 2, 12), 18, 12, [L.IOP, L.PHP, L.IOP]
    )
    await closed_episode(
        "a7", "prog-a", _utc(2025, 1, 1), _utc(2025, 1, 2), 20, 2, [L.IOP, L.OP], "entered_in_error"
    )
    await closed_episode("b2", "prog-b", _utc(2025, 2, 1), _utc(2025, 2, 11), 10, 4, [])
    await closed_episode(
        "b3", "prog-b", _utc(2025, 2, 1), _utc(2025, 2, 15), None, 3, [L.OP, L.IOP]
    )
    # An approved authorization on a closed episode never shows as expiring.
    await store.apply(
        batch(
            next(seq),
            snapshot("a5", program_id="prog-a", phase=P.CLOSED, updated_at=_utc(2025, 1, 1)),
            authorizations=[authorization("A-5", end_date=date(2025, 3, 21))],
        )
    )
    return pool


async def test_census_counts_open_episodes_by_program_level_phase(seeded: asyncpg.Pool) -> None:
    rows = await queries.census(seeded)
    assert [(r.program_id, r.level, r.phase, r.episodes) for r in rows] == [
        ("prog-a", L.IOP, P.IN_TREATMENT, 3),
        ("prog-a", L.PHP, P.IN_TREATMENT, 1),
        ("prog-a", None, P.ASSESSMENT, 1),
        ("prog-b", L.OP, P.IN_TREATMENT, 1),
    ]
    only_b = await queries.census(seeded, programs=["prog-b"])
    assert [(r.program_id, r.episodes) for r in only_b] == [("prog-b", 1)]


async def test_reviews_due_today_and_overdue(seeded: asyncpg.Pool) -> None:
    due = await queries.reviews_due(seeded, now=NOW)
    assert [e.episode_id for e in due.overdue] == ["a1", "b1"]
    assert [e.episode_id for e in due.due_today] == ["a2"]


async def test_due_today_ends_at_midnight_in_the_clinic_zone(seeded: asyncpg.Pool) -> None:
    # 01:00 UTC tomorrow is 21:00 today in New York.
    due = await queries.reviews_due(seeded, now=NOW, tz=ZoneInfo("America/New_York"))
    assert [e.episode_id for e in due.due_today] == ["a2", "a8"]
    only_b = await queries.reviews_due(seeded, now=NOW, programs=["prog-b"])
    assert ([e.episode_id for e in only_b.overdue], only_b.due_today) == (["b1"], [])


async def test_authorizations_expiring_within_days(seeded: asyncpg.Pool) -> None:
    rows = await queries.authorizations_expiring(seeded, today=TODAY, within_days=7)
    assert [(r.episode_id, r.authorization_number, r.days_left) for r in rows] == [
        ("a3", "A-3", 0),
        ("a1", "A-1", 5),
    ]
    assert await queries.authorizations_expiring(seeded, today=TODAY, within_days=4) == rows[:1]


async def test_outcomes_per_program(seeded: asyncpg.Pool) -> None:
    rows = await queries.outcomes(seeded)
    got = [
        (
            r.program_id,
            r.closed_episodes,
            r.median_length_of_stay_days,
            r.step_down_rate,
            r.step_up_rate,
            r.phq9_measured,
            r.phq9_response_or_remission_rate,
        )
        for r in rows
    ]
    assert got == [
        ("prog-a", 2, 35.0, 1.0, 0.5, 2, 0.5),
        ("prog-b", 2, 12.0, 0.0, 0.5, 1, 1.0),
    ]


async def test_timeline_puts_a_review_before_the_move_it_caused(pool: asyncpg.Pool) -> None:
    store = PostgresRecordStore(pool)
    t1, t2 = _utc(2025, 3, 3), _utc(2025, 3, 10)
    ep = snapshot("t1")
    await store.apply(
        batch(1, ep, transitions=[move(P.REFERRAL, P.ASSESSMENT, E.REFERRAL_RECEIVED, t1)])
    )
    await store.apply(
        batch(
            2,
            ep,
            reviews=[review("rev-1", t2, 9, recommended_action="step_down")],
            transitions=[move(P.IN_TREATMENT, P.IN_TREATMENT, E.REVIEW_RECORDED, t2, L.IOP)],
        )
    )
    await store.apply(batch(3, snapshot("other"), reviews=[review("rev-x", t1, 3)]))
    entries = await queries.timeline(pool, "t1")
    assert [(e.kind, e.at, e.event or e.review_id) for e in entries] == [
        ("transition", t1, "referral_received"),
        ("review", t2, "rev-1"),
        ("transition", t2, "review_recorded"),
    ]
    assert entries[1].phq9_total == 9
    assert entries[1].recommended_action == "step_down"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (EpisodeFilter(programs=["prog-a"]), ["a1", "a2", "a8", "a3", "a4"]),
        (EpisodeFilter(overdue=True), ["a1", "b1"]),
        (EpisodeFilter(overdue=False, programs=["prog-a"]), ["a2", "a8", "a3", "a4"]),
        (EpisodeFilter(risk_flag=True), ["a1"]),
        (EpisodeFilter(level=L.IOP), ["a1", "a2", "a8"]),
        (EpisodeFilter(phase=P.ASSESSMENT), ["a4"]),
        (EpisodeFilter(authorization_expiring_within_days=7), ["a1", "a3"]),
        (EpisodeFilter(review_due_before=NOW + timedelta(hours=4)), ["a1", "b1", "a2"]),
        (EpisodeFilter(programs=["prog-b"], include_closed=True), ["b1", "b2", "b3"]),
        (EpisodeFilter(programs=[]), []),
    ],
)
async def test_episode_list_filters(
    seeded: asyncpg.Pool, where: EpisodeFilter, expected: list[str]
) -> None:
    page = await queries.list_episodes(seeded, where, now=NOW, count=True)
    assert [e.episode_id for e in page.items] == expected
    assert page.total == len(expected)


async def test_episode_list_pages(seeded: asyncpg.Pool) -> None:
    where = EpisodeFilter(programs=["prog-a"])
    first = await queries.list_episodes(seeded, where, now=NOW, limit=2, count=True)
    page = await queries.list_episodes(seeded, where, now=NOW, limit=2, after=first.last_key())
    assert ([e.episode_id for e in page.items], page.total, page.more) == (["a8", "a3"], None, True)
    assert first.total == 5
