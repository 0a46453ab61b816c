"""People's accounts in PostgreSQL: role, program scope, Argon2id password, lockout.

A person's `actor` is what every submission they make records; it is never typed into a
form. `verify` counts failures and locks the account after `lockout_after_failures` in a
row, for `lockout_seconds`; a locked account is refused even with the right password.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from api.settings import ALL_PROGRAMS

# argon2-cffi's defaults are Argon2id with RFC 9106's low-memory profile.
HASHER = PasswordHasher()


class PersonRole(StrEnum):
    CARE_TEAM = "care-team"
    UTILIZATION_REVIEW = "utilization-review"
    SUPERVISOR = "supervisor"
    PROGRAM_ADMIN = "program-admin"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Account:
    account_id: int
    username: str
    display_name: str
    role: PersonRole
    programs: frozenset[str]
    actor: str

    def sees(self, program_id: str) -> bool:
        return ALL_PROGRAMS in self.programs or program_id in self.programs

    def visible_programs(self) -> list[str] | None:
        """For the store's queries: None means every program."""
        return None if ALL_PROGRAMS in self.programs else sorted(self.programs)


class SignInOutcome(Enum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    LOCKED = "locked"  # locked now (this failure locked it, or it was already locked)


@dataclass(frozen=True)
class SignInResult:
    outcome: SignInOutcome
    account: Account | None = None
    account_id: int | None = None


ACCOUNT_COLUMNS = ("account_id", "username", "display_name", "role", "programs", "actor")
_COLUMNS = ", ".join(ACCOUNT_COLUMNS)


def account_from_row(row: asyncpg.Record) -> Account:
    return Account(
        account_id=row["account_id"],
        username=row["username"],
        display_name=row["display_name"],
        role=PersonRole(row["role"]),
        programs=frozenset(row["programs"]),
        actor=row["actor"],
    )


class PostgresAccounts:
    def __init__(
        self, pool: asyncpg.Pool, *, lockout_after_failures: int, lockout: timedelta
    ) -> None:
        self._pool = pool
        self._lockout_after = lockout_after_failures
        self._lockout = lockout

    async def create(
        self,
        *,
        username: str,
        password: str,
        role: PersonRole,
        programs: frozenset[str],
        actor: str,
        display_name: str,
    ) -> Account:
        row = await self._pool.fetchrow(
            f"""
            INSERT INTO web_accounts (username, display_name, role, programs, actor,
                password_hash)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING {_COLUMNS}
            """,
            username,
            display_name,
            role.value,
            sorted(programs),
            actor,
            await asyncio.to_thread(HASHER.hash, password),
        )
        assert row is not None
        return account_from_row(row)

    async def exists(self, username: str) -> bool:
        found = await self._pool.fetchval(
            "SELECT 1 FROM web_accounts WHERE username = $1", username
        )
        return found is not None

    async def by_id(self, account_id: int) -> Account | None:
        row = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM web_accounts WHERE account_id = $1 AND NOT disabled",
            account_id,
        )
        return account_from_row(row) if row is not None else None

    async def verify(self, username: str, password: str, *, now: datetime) -> SignInResult:
        """Check a password, counting failures; the row is locked while it is decided."""
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"""
                SELECT {_COLUMNS}, password_hash, failed_attempts, locked_until
                FROM web_accounts WHERE username = $1 AND NOT disabled FOR UPDATE
                """,
                username,
            )
            if row is None:
                # An unknown name costs what a wrong password costs.
                await asyncio.to_thread(_password_matches, _DUMMY_HASH, password)
                return SignInResult(SignInOutcome.BAD_CREDENTIALS)
            account_id: int = row["account_id"]
            if row["locked_until"] is not None and row["locked_until"] > now:
                return SignInResult(SignInOutcome.LOCKED, account_id=account_id)
            if await asyncio.to_thread(_password_matches, row["password_hash"], password):
                await conn.execute(
                    """UPDATE web_accounts SET failed_attempts = 0, locked_until = NULL
                    WHERE account_id = $1""",
                    account_id,
                )
                if HASHER.check_needs_rehash(row["password_hash"]):
                    await conn.execute(
                        "UPDATE web_accounts SET password_hash = $2 WHERE account_id = $1",
                        account_id,
                        await asyncio.to_thread(HASHER.hash, password),
                    )
                return SignInResult(SignInOutcome.OK, account_from_row(row), account_id)
            failures = (
                1
                if row["locked_until"] is not None  # an expired lock starts a new count
                else row["failed_attempts"] + 1
            )
            locks = failures >= self._lockout_after
            await conn.execute(
                """UPDATE web_accounts SET failed_attempts = $2, locked_until = $3
                WHERE account_id = $1""",
                account_id,
                0 if locks else failures,
                now + self._lockout if locks else None,
            )
            outcome = SignInOutcome.LOCKED if locks else SignInOutcome.BAD_CREDENTIALS
            return SignInResult(outcome, account_id=account_id)


def _password_matches(stored_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_DUMMY_HASH = HASHER.hash("not-a-password")
