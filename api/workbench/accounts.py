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
from store import accounts as store
from store.accounts import AccountRow

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


def account_of(row: AccountRow) -> Account:
    return Account(
        account_id=row.account_id,
        username=row.username,
        display_name=row.display_name,
        role=PersonRole(row.role),
        programs=frozenset(row.programs),
        actor=row.actor,
    )


class PostgresAccounts:
    """Accounts on PostgreSQL; the statements are the store's (store/accounts.py)."""

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
        row = await store.create_account(
            self._pool,
            username=username,
            display_name=display_name,
            role=role.value,
            programs=sorted(programs),
            actor=actor,
            password_hash=await asyncio.to_thread(HASHER.hash, password),
        )
        return account_of(row)

    async def exists(self, username: str) -> bool:
        return await store.username_taken(self._pool, username)

    async def by_id(self, account_id: int) -> Account | None:
        row = await store.enabled_account(self._pool, account_id)
        return account_of(row) if row is not None else None

    async def verify(self, username: str, password: str, *, now: datetime) -> SignInResult:
        """Check a password, counting failures; the row is locked while it is decided."""
        async with self._pool.acquire() as conn, conn.transaction():
            found = await store.lock_for_sign_in(conn, username)
            if found is None:
                # An unknown name costs what a wrong password costs.
                await asyncio.to_thread(_password_matches, _DUMMY_HASH, password)
                return SignInResult(SignInOutcome.BAD_CREDENTIALS)
            account_id = found.account.account_id
            if found.locked_until is not None and found.locked_until > now:
                return SignInResult(SignInOutcome.LOCKED, account_id=account_id)
            if await asyncio.to_thread(_password_matches, found.password_hash, password):
                await store.clear_failures(conn, account_id)
                if HASHER.check_needs_rehash(found.password_hash):
                    rehashed = await asyncio.to_thread(HASHER.hash, password)
                    await store.set_password_hash(conn, account_id, rehashed)
                return SignInResult(SignInOutcome.OK, account_of(found.account), account_id)
            failures = (
                1
                if found.locked_until is not None  # an expired lock starts a new count
                else found.failed_attempts + 1
            )
            locks = failures >= self._lockout_after
            await store.set_failures(
                conn,
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
