"""Issue 10 item 2 on real PostgreSQL: a level change moves the episode's groups. Its
old-level groups end (the freed seat goes to the waiting list) and it is seated in a group
of the new level of its program and population, or waits on it when it is full."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import asyncpg

from rules.levels import AgeGroup, LevelOfCare
from rules.transitions import CarePhase
from schemas.groups import GroupSpec
from store import groups
from store.postgres import PostgresRecordStore
from tests.store.store_builders import batch, snapshot

L = LevelOfCare
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def _group(
    pool: asyncpg.Pool,
    group_id: str,
    level: LevelOfCare,
    *,
    capacity: int = 10,
    program: str = "prog-a",
    age_group: AgeGroup = AgeGroup.ADULT,
) -> None:
    spec = GroupSpec(
        group_id=group_id,
        program_id=program,
        name=group_id,
        level=level,
        weekdays=[1, 3],
        start_time=time(9),
        duration_minutes=180,
        capacity=capacity,
        facilitator_ref="fac-1",
        age_group=age_group,
    )
    async with pool.acquire() as conn, conn.transaction():
        await groups.create_group(conn, spec, now=T0, ahead_days=7)


class Episode:
    def __init__(self, pool: asyncpg.Pool, episode_id: str) -> None:
        self.store = PostgresRecordStore(pool)
        self.pool, self.episode_id, self.seq = pool, episode_id, 0

    async def at(self, level: LevelOfCare | None, phase: CarePhase, hours: float = 0) -> None:
        self.seq += 1
        at = T0 + timedelta(hours=hours)
        episode = snapshot(self.episode_id, phase=phase, delivered_level=level, updated_at=at)
        await self.store.apply(batch(self.seq, episode))

    async def seat(self, group_id: str, level: LevelOfCare) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            found, _ = await groups.assign(
                conn, group_id, self.episode_id, level, wait_if_full=True, now=T0
            )
        return found.status.value

    async def groups(self) -> list[tuple[str, str, str | None, int | None]]:
        return [
            (a.group_id, a.status.value, a.end_reason, a.waiting_position)
            for a in await groups.episode_assignments(self.pool, self.episode_id)
        ]


async def test_a_step_down_seats_the_episode_in_an_op_group(pool: asyncpg.Pool) -> None:
    await _group(pool, "iop-a", L.IOP)
    await _group(pool, "op-busy", L.OP, capacity=1)
    await _group(pool, "op-free", L.OP, capacity=8)
    await _group(pool, "op-other-program", L.OP, program="prog-b")
    await _group(pool, "op-teens", L.OP, age_group=AgeGroup.ADOLESCENT)
    other = Episode(pool, "ep-other")
    await other.at(L.OP, CarePhase.IN_TREATMENT)
    assert await other.seat("op-busy", L.OP) == "assigned"

    ep = Episode(pool, "ep-down")
    await ep.at(L.IOP, CarePhase.IN_TREATMENT)
    assert await ep.seat("iop-a", L.IOP) == "assigned"
    await ep.at(L.OP, CarePhase.IN_TREATMENT, hours=24)
    assert await ep.groups() == [
        ("iop-a", "ended", "level_changed", None),
        ("op-free", "assigned", None, None),
    ]


async def test_a_step_up_into_a_full_php_group_waits_and_is_seated_when_a_seat_frees(
    pool: asyncpg.Pool,
) -> None:
    await _group(pool, "iop-b", L.IOP)
    await _group(pool, "php-a", L.PHP, capacity=1)
    holder = Episode(pool, "ep-holder")
    await holder.at(L.PHP, CarePhase.IN_TREATMENT)
    await holder.seat("php-a", L.PHP)

    ep = Episode(pool, "ep-up")
    await ep.at(L.IOP, CarePhase.IN_TREATMENT)
    await ep.seat("iop-b", L.IOP)
    await ep.at(L.PHP, CarePhase.IN_TREATMENT, hours=24)
    assert await ep.groups() == [
        ("iop-b", "ended", "level_changed", None),
        ("php-a", "waiting", None, 1),
    ]
    await holder.at(None, CarePhase.AFTERCARE, hours=48)  # discharged: the seat frees
    assert (await ep.groups())[-1][:2] == ("php-a", "assigned")


async def test_an_episode_without_groups_and_a_discharge_seat_nobody(pool: asyncpg.Pool) -> None:
    await _group(pool, "iop-c", L.IOP)
    await _group(pool, "op-c", L.OP)
    loose = Episode(pool, "ep-no-groups")
    await loose.at(L.IOP, CarePhase.IN_TREATMENT)
    await loose.at(L.OP, CarePhase.IN_TREATMENT, hours=24)
    assert await loose.groups() == []
    leaving = Episode(pool, "ep-leaving")
    await leaving.at(L.IOP, CarePhase.IN_TREATMENT)
    await leaving.seat("iop-c", L.IOP)
    await leaving.at(None, CarePhase.AFTERCARE, hours=24)
    assert await leaving.groups() == [("iop-c", "ended", "discharged", None)]
