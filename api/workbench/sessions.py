"""Signed-in browsers: a random cookie token (only its hash stored), a CSRF token per
session, an idle timeout and an absolute lifetime, and the sign-in audit trail.

`touch` is the only way a request proves a session: it ends the session when either
limit has passed (recording why) and, for a request a person made, moves the idle clock.
Background refreshes (the Today page polling) read without moving it, so a screen left
alone still logs off.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg

from api.workbench.accounts import ACCOUNT_COLUMNS, Account, account_from_row


class AuthEvent(StrEnum):
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    SIGN_IN_FAILED = "sign_in_failed"
    LOCKED_OUT = "locked_out"
    IDLE_TIMEOUT = "idle_timeout"
    SESSION_EXPIRED = "session_expired"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    account: Account
    csrf_token: str
    token_hash: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class Ended:
    """A cookie that named a session which has now ended (and why)."""

    reason: AuthEvent


class PostgresSessions:
    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        idle: timedelta,
        lifetime: timedelta,
    ) -> None:
        self._pool = pool
        self._idle = idle
        self._lifetime = lifetime

    async def audit(
        self,
        event: AuthEvent,
        *,
        at: datetime,
        username: str,
        account_id: int | None = None,
        client: str | None = None,
    ) -> None:
        await self._pool.execute(
            """INSERT INTO web_auth_events (at, event, account_id, username, client)
            VALUES ($1, $2, $3, $4, $5)""",
            at,
            event.value,
            account_id,
            username[:64],
            client,
        )

    async def open(self, account: Account, *, now: datetime) -> tuple[str, Session]:
        """A new session for `account`; returns the cookie token (never stored) and it."""
        token = secrets.token_urlsafe(32)
        session = Session(
            account=account,
            csrf_token=secrets.token_urlsafe(32),
            token_hash=token_hash(token),
            created_at=now,
            last_seen_at=now,
        )
        await self._pool.execute(
            """INSERT INTO web_sessions (token_hash, account_id, csrf_token, created_at,
                last_seen_at) VALUES ($1, $2, $3, $4, $4)""",
            session.token_hash,
            account.account_id,
            session.csrf_token,
            now,
        )
        return token, session

    async def touch(self, token: str, *, now: datetime, active: bool) -> Session | Ended | None:
        """The live session for a cookie token, or Ended (it just timed out), or None.

        A live session costs one statement (it and its account, the idle clock moved when
        `active`); only a session that has just ended is looked at again, to say why.
        """
        hashed = token_hash(token)
        live = """s.token_hash = $1 AND s.ended_at IS NULL AND a.account_id = s.account_id
            AND NOT a.disabled AND $2 - s.created_at < $3 AND $2 - s.last_seen_at < $4"""
        columns = ", ".join(f"a.{c}" for c in ACCOUNT_COLUMNS)
        returned = f"{columns}, s.csrf_token, s.created_at, s.last_seen_at"
        statement = (
            f"""UPDATE web_sessions s SET last_seen_at = $2 FROM web_accounts a
            WHERE {live} RETURNING {returned}"""
            if active
            else f"SELECT {returned} FROM web_sessions s, web_accounts a WHERE {live}"
        )
        row = await self._pool.fetchrow(statement, hashed, now, self._lifetime, self._idle)
        if row is not None:
            return Session(
                account=account_from_row(row),
                csrf_token=row["csrf_token"],
                token_hash=hashed,
                created_at=row["created_at"],
                last_seen_at=row["last_seen_at"],
            )
        return await self._end_stale(hashed, now=now)

    async def _end_stale(self, hashed: str, *, now: datetime) -> Ended | None:
        """A session that is no longer live: end it (once), audit why; None if unknown."""
        row = await self._pool.fetchrow(
            """SELECT account_id, created_at, last_seen_at FROM web_sessions
            WHERE token_hash = $1 AND ended_at IS NULL""",
            hashed,
        )
        if row is None:
            return None
        if now - row["created_at"] >= self._lifetime:
            reason = AuthEvent.SESSION_EXPIRED
        elif now - row["last_seen_at"] >= self._idle:
            reason = AuthEvent.IDLE_TIMEOUT
        else:
            reason = AuthEvent.SESSION_EXPIRED  # the account was disabled meanwhile
        username = await self._end(hashed, reason, now=now)
        if username is not None:
            await self.audit(reason, at=now, username=username, account_id=row["account_id"])
        return Ended(reason)

    async def close(self, session: Session, *, now: datetime, client: str | None) -> None:
        username = await self._end(session.token_hash, AuthEvent.SIGN_OUT, now=now)
        if username is not None:
            await self.audit(
                AuthEvent.SIGN_OUT,
                at=now,
                username=username,
                account_id=session.account.account_id,
                client=client,
            )

    async def _end(self, hashed: str, reason: AuthEvent, *, now: datetime) -> str | None:
        """End a session once (the first caller wins); its account's username, if so."""
        username: str | None = await self._pool.fetchval(
            """
            UPDATE web_sessions s SET ended_at = $2, end_reason = $3
            FROM web_accounts a
            WHERE s.token_hash = $1 AND s.ended_at IS NULL AND a.account_id = s.account_id
            RETURNING a.username
            """,
            hashed,
            now,
            reason.value,
        )
        return username
