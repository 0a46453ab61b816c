"""Migrations apply once, in order, and the enum CHECKs match the rules' enums exactly."""

from __future__ import annotations

import asyncio
import re
import shutil
from enum import StrEnum
from pathlib import Path

import asyncpg
import pytest

from rules.transitions import CarePhase
from store.enum_checks import ENUM_CHECKS, EnumCheck, sync_enum_checks
from store.migrate import MIGRATIONS_DIR, discover, migrate
from tests.store.store_builders import T0


async def test_second_run_applies_nothing(bare_pool: asyncpg.Pool) -> None:
    first = await migrate(bare_pool)
    second = await migrate(bare_pool)
    assert first == [m.name for m in discover()]
    assert second == []
    versions = await bare_pool.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in versions] == [m.version for m in discover()]


async def test_concurrent_start_ups_apply_each_file_once(bare_pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(*(migrate(bare_pool) for _ in range(3)))
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(m.name for m in discover())


async def test_files_are_picked_up_in_numeric_order(
    bare_pool: asyncpg.Pool, tmp_path: Path
) -> None:
    for migration in discover():
        shutil.copy(MIGRATIONS_DIR / migration.name, tmp_path / migration.name)
    (tmp_path / "9100_later.sql").write_text("CREATE TABLE later (id int REFERENCES middle);")
    (tmp_path / "9050_middle.sql").write_text("CREATE TABLE middle (id int PRIMARY KEY);")
    applied = await migrate(bare_pool, tmp_path)
    assert applied[-2:] == ["9050_middle.sql", "9100_later.sql"]


def test_two_files_with_one_number_are_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("")
    (tmp_path / "0001_b.sql").write_text("")
    with pytest.raises(ValueError, match="two migrations numbered 1"):
        discover(tmp_path)


def _values(definition: str) -> set[str]:
    return set(re.findall(r"'([^']*)'::text", definition))


async def test_check_constraints_list_exactly_the_enum_values(pool: asyncpg.Pool) -> None:
    for check in ENUM_CHECKS:
        definition = await pool.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conname = $1 AND conrelid = to_regclass($2)",
            check.name,
            check.table,
        )
        assert definition is not None, check.name
        assert _values(definition) == {m.value for m in check.enum}, check.name


async def test_a_phase_outside_the_enum_is_rejected(pool: asyncpg.Pool) -> None:
    with pytest.raises(asyncpg.CheckViolationError, match="episodes_phase_enum"):
        await pool.execute(
            "INSERT INTO episodes (episode_id, workflow_id, program_id, phase, started_at,"
            " updated_at, last_seq) VALUES ('e', 'w', 'p', 'limbo', $1, $1, 0)",
            T0,
        )
    await pool.execute(
        "INSERT INTO episodes (episode_id, workflow_id, program_id, phase, started_at,"
        " updated_at, last_seq) VALUES ('e', 'w', 'p', $2, $1, $1, 0)",
        T0,
        CarePhase.REFERRAL.value,
    )


class _Old(StrEnum):
    A = "a"


class _New(StrEnum):
    A = "a"
    B = "b"


async def test_an_enum_change_replaces_its_constraint_once(pool: asyncpg.Pool) -> None:
    old = (EnumCheck("episodes", "outcome", _Old),)
    new = (EnumCheck("episodes", "outcome", _New),)
    async with pool.acquire() as conn:
        assert await sync_enum_checks(conn, old) == 1
        assert await sync_enum_checks(conn, old) == 0
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO episodes (episode_id, workflow_id, program_id, phase, outcome,"
                " started_at, updated_at, last_seq) VALUES ('e', 'w', 'p', 'closed', 'b',"
                " $1, $1, 0)",
                T0,
            )
        assert await sync_enum_checks(conn, new) == 1
        await conn.execute(
            "INSERT INTO episodes (episode_id, workflow_id, program_id, phase, outcome,"
            " started_at, updated_at, last_seq) VALUES ('e', 'w', 'p', 'closed', 'b', $1, $1, 0)",
            T0,
        )
