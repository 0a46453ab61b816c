"""The restore drill, without Docker: the backup service's script dumps a populated embedded
PostgreSQL (set up by the same init script as production), the restore script loads the
set into a fresh server, and episodes, timelines and the outbox come back whole."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg
import pytest

from rules.levels import LevelOfCare
from rules.transitions import CarePhase, Event
from store.migrate import migrate
from store.outbox import Dispatcher, LogChannel
from store.postgres import PostgresRecordStore
from store.queries import timeline
from tests.deploy.test_setup_scripts import _pg_bin, make_secrets
from tests.store.store_builders import T0, authorization, batch, move, note, review, snapshot
from worker.embedded_postgres import EmbeddedPostgres

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TABLES = (
    "episodes",
    "transitions",
    "reviews",
    "authorizations",
    "notification_outbox",
    "applied_batches",
    "census_counts",
    "today_counts",
)
DATABASES = "carepath temporal temporal_visibility"


class Server:
    """An embedded PostgreSQL prepared as the compose postgresql service prepares its own."""

    def __init__(self, folder: Path, secrets: Path) -> None:
        self.pg = EmbeddedPostgres(folder / "pg", delete=True)
        self.socket_dir = self.pg.dsn.split("host=", 1)[1].split("&", 1)[0]
        self.env = {
            "PATH": f"{_pg_bin()}{os.pathsep}{os.environ['PATH']}",
            "PGHOST": self.socket_dir,
            "PGUSER": "postgres",
            "POSTGRES_USER": "postgres",
            "CARE_RECORDS_DB_PASSWORD_FILE": str(secrets / "records_db_password"),
            "TEMPORAL_DB_PASSWORD_FILE": str(secrets / "temporal_db_password"),
        }
        self.run("bash", str(DEPLOY / "postgres" / "initdb" / "10-carepath-databases.sh"))

    def run(self, *argv: str, **extra: str) -> str:
        done = subprocess.run(
            argv, env={**self.env, **extra}, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{argv}: {done.stderr}"
        return done.stdout

    async def records_pool(self) -> asyncpg.Pool:
        """As the worker connects: role carepath, database carepath."""
        return await asyncpg.create_pool(
            host=self.socket_dir, user="carepath", database="carepath", min_size=1, max_size=2
        )


async def populate(pool: asyncpg.Pool) -> None:
    await migrate(pool)
    store = PostgresRecordStore(pool)
    P, E = CarePhase, Event
    for n in range(1, 6):
        ep = f"ep{n}"
        await store.apply(batch(1, snapshot(ep, phase=P.ASSESSMENT), notifications=[]))
        await store.apply(
            batch(
                2,
                snapshot(ep, phase=P.IN_TREATMENT, delivered_level=LevelOfCare.IOP),
                transitions=[move(P.ASSESSMENT, P.IN_TREATMENT, E.AUTH_APPROVED, T0)],
                reviews=[review(f"r{n}", T0, 10 + n)],
                authorizations=[authorization(f"A-{n}")],
                notifications=[note(f"care-episode-{ep}:2:{i}", ep) for i in range(2)],
            )
        )
    # Some messages delivered, some still pending: both states must survive.
    await Dispatcher(pool, LogChannel()).dispatch_due()
    await store.apply(
        batch(3, snapshot("ep1", phase=P.IN_TREATMENT), notifications=[note("late:1", "ep1")])
    )


async def contents(pool: asyncpg.Pool) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row, per table."""
    found = {}
    for table in TABLES:
        found[table] = (
            await pool.fetchval(f"SELECT count(*) FROM {table}"),
            await pool.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f"FROM {table} t"
            ),
        )
    return found


def backup_sets(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name[0].isdigit())


async def test_backup_then_restore_into_a_fresh_server(workdir: Path) -> None:
    secrets = workdir / "secrets"
    make_secrets(secrets)
    backups = workdir / "backups"
    source = await asyncio.to_thread(Server, workdir / "a", secrets)
    try:
        pool = await source.records_pool()
        try:
            await populate(pool)
            before = await contents(pool)
            timelines = {ep: await timeline(pool, ep) for ep in ("ep1", "ep3")}
        finally:
            await pool.close()
        env = {"BACKUP_DIR": str(backups), "BACKUP_DATABASES": DATABASES, "BACKUP_KEEP": "2"}
        for _ in range(3):
            out = source.run("sh", str(DEPLOY / "backup" / "pg-backup.sh"), **env)
            assert "pg-backup:" in out
    finally:
        await asyncio.to_thread(source.pg.close)

    kept = backup_sets(backups)
    assert len(kept) == 2  # retention: the two newest of three
    newest = kept[-1]
    assert {p.name for p in newest.iterdir()} == {f"{db}.dump" for db in DATABASES.split()} | {
        "SHA256SUMS"
    }
    assert not [p for p in backups.iterdir() if p.name.startswith(".partial")]
    assert before["notification_outbox"][0] == 11
    pending = before["episodes"][0]
    assert pending == 5

    target = await asyncio.to_thread(Server, workdir / "b", secrets)
    try:
        target.run("sh", str(DEPLOY / "backup" / "pg-restore.sh"), str(newest))
        pool = await target.records_pool()
        try:
            assert await contents(pool) == before
            for ep, entries in timelines.items():
                assert await timeline(pool, ep) == entries
            statuses: dict[str, int] = {
                row["status"]: row["count"]
                for row in await pool.fetch(
                    "SELECT status, count(*) FROM notification_outbox GROUP BY status"
                )
            }
            assert sum(statuses.values()) == 11 and len(statuses) >= 2, statuses
            # The restored store works: the dispatcher delivers what was pending.
            report = await Dispatcher(pool, LogChannel()).dispatch_due()
            assert report.claimed >= 1
        finally:
            await pool.close()
    finally:
        await asyncio.to_thread(target.pg.close)


def test_restore_refuses_a_damaged_set(workdir: Path) -> None:
    damaged = workdir / "20260101T000000Z-1"
    damaged.mkdir()
    (damaged / "carepath.dump").write_bytes(b"not what was dumped")
    (damaged / "SHA256SUMS").write_text("0" * 64 + "  carepath.dump\n")
    done = subprocess.run(
        ["sh", str(DEPLOY / "backup" / "pg-restore.sh"), str(damaged)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "carepath.dump" in done.stdout + done.stderr


@pytest.mark.parametrize("keep", ["1"])
def test_failed_dump_leaves_no_set(workdir: Path, keep: str) -> None:
    """A dump that fails (no server) leaves neither a set nor a partial folder."""
    env = {
        "PATH": f"{_pg_bin()}{os.pathsep}{os.environ['PATH']}",
        "PGHOST": str(workdir / "nowhere"),
        "BACKUP_DIR": str(workdir / "backups"),
        "BACKUP_KEEP": keep,
    }
    done = subprocess.run(
        ["sh", str(DEPLOY / "backup" / "pg-backup.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert list((workdir / "backups").iterdir()) == []
