"""Apply `store/migrations/*.sql` in order at start-up, once each, under an advisory lock.

Every file is recorded in `schema_migrations`; a second run applies nothing. Other
packages add their own numbered files to the same folder (e.g. `0100_api_idempotency.sql`).
After the files, the CHECK constraints generated from the rule enums are synced.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from store.dbtypes import Conn
from store.enum_checks import sync_enum_checks

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_NAME = re.compile(r"^(\d+)_[A-Za-z0-9_]+\.sql$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every numbered SQL file, ordered by its number; two files with one number is an error."""
    found: dict[int, Migration] = {}
    for path in directory.glob("*.sql"):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise ValueError(
                f"two migrations numbered {version}: {found[version].name}, {path.name}"
            )
        found[version] = Migration(version, path.name, path.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(target: asyncpg.Pool | Conn, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations and sync enum CHECKs; returns the names applied this time."""
    if isinstance(target, asyncpg.Pool):
        async with target.acquire() as conn:
            return await _migrate(conn, directory)
    return await _migrate(target, directory)


async def _migrate(conn: Conn, directory: Path) -> list[str]:
    migrations = discover(directory)
    # One lock per schema: concurrent start-ups wait, tests in their own schemas do not.
    lock_key = await conn.fetchval(
        "SELECT hashtextextended('carepath.migrate:' || current_schema(), 0)"
    )
    await conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    log.warning("migration %s changed after it was applied", migration.name)
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s", migration.name)
            done.append(migration.name)
        await sync_enum_checks(conn)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock_key)
