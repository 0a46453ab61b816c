"""People's accounts for the workbench (`web_accounts`, migration 0200): the statements.

Plain values in, plain rows out: the password hashing, the lockout rule and the account's
role type are the workbench's (api/workbench/accounts.py). One statement per function;
`lock_for_sign_in` and the updates after it run on one connection, in the caller's
transaction, so a sign-in is decided on a locked row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from store.dbtypes import Conn, Db


@dataclass(frozen=True)
class AccountRow:
    account_id: int
    username: str
    display_name: str
    role: str
    programs: tuple[str, ...]
    actor: str


@dataclass(frozen=True)
class SignInRow:
    """An account as a sign-in decides on it: its row, password hash and failure count."""

    account: AccountRow
    password_hash: str
    failed_attempts: int
    locked_until: datetime | None


ACCOUNT_COLUMNS = ("account_id", "username", "display_name", "role", "programs", "actor")
_COLUMNS = ", ".join(ACCOUNT_COLUMNS)


def account_row(row: asyncpg.Record) -> AccountRow:
    """An `AccountRow` from a row that has the `ACCOUNT_COLUMNS` (under those names)."""
    return AccountRow(
        account_id=row["account_id"],
        username=row["username"],
        display_name=row["display_name"],
        role=row["role"],
        programs=tuple(row["programs"]),
        actor=row["actor"],
    )


async def create_account(
    db: Db,
    *,
    username: str,
    display_name: str,
    role: str,
    programs: list[str],
    actor: str,
    password_hash: str,
) -> AccountRow:
    row = await db.fetchrow(
        f"""
        INSERT INTO web_accounts (username, display_name, role, programs, actor,
            password_hash)
        VALUES ($1, $2, $3, $4, $5, $6)
        RETURNING {_COLUMNS}
        """,
        username,
        display_name,
        role,
        programs,
        actor,
        password_hash,
    )
    assert row is not None
    return account_row(row)


async def username_taken(db: Db, username: str) -> bool:
    found = await db.fetchval("SELECT 1 FROM web_accounts WHERE username = $1", username)
    return found is not None


async def enabled_account(db: Db, account_id: int) -> AccountRow | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM web_accounts WHERE account_id = $1 AND NOT disabled",
        account_id,
    )
    return account_row(row) if row is not None else None


async def lock_for_sign_in(conn: Conn, username: str) -> SignInRow | None:
    """The enabled account of `username`, its row locked until the transaction ends."""
    row = await conn.fetchrow(
        f"""
        SELECT {_COLUMNS}, password_hash, failed_attempts, locked_until
        FROM web_accounts WHERE username = $1 AND NOT disabled FOR UPDATE
        """,
        username,
    )
    if row is None:
        return None
    return SignInRow(
        account=account_row(row),
        password_hash=row["password_hash"],
        failed_attempts=row["failed_attempts"],
        locked_until=row["locked_until"],
    )


async def clear_failures(db: Db, account_id: int) -> None:
    await db.execute(
        "UPDATE web_accounts SET failed_attempts = 0, locked_until = NULL WHERE account_id = $1",
        account_id,
    )


async def set_failures(
    db: Db, account_id: int, failed_attempts: int, locked_until: datetime | None
) -> None:
    await db.execute(
        "UPDATE web_accounts SET failed_attempts = $2, locked_until = $3 WHERE account_id = $1",
        account_id,
        failed_attempts,
        locked_until,
    )


async def set_password_hash(db: Db, account_id: int, password_hash: str) -> None:
    await db.execute(
        "UPDATE web_accounts SET password_hash = $2 WHERE account_id = $1",
        account_id,
        password_hash,
    )
