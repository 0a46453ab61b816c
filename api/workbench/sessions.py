"""Signed-in browsers: a random cookie token (only its hash stored), a CSRF token per
session, an idle timeout and an absolute lifetime, and the sign-in audit trail.

`touch` is the only way a request proves a session: it ends the session when either
limit has passed (recording why) and, for a request a person made, moves the idle clock.
Background refreshes (the Today page polling) read without moving it, so a screen left
alone still logs off. The clock moves in steps of 1/60 of the idle timeout (a request
within a step of the last move writes nothing): a session ends up to that much early.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import asyncpg

from api.workbench.accounts import Account, account_of
from store import web_sessions as store


class AuthEvent(StrEnum):
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    SIGN_IN_FAILED = "sign_in_failed"
    LOCKED_OUT = "locked_out"
    IDLE_TIMEOUT = "idle_timeout"
    SESSION_EXPIRED = "session_expired"


# The idle clock moves at most once per this fraction of the idle timeout (15 s of 15
# min): a session may end that much before the timeout after the last request, never after.
IDLE_CLOCK_STEP = 1 / 60


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
    """Sessions on PostgreSQL; the statements are the store's (store/web_sessions.py)."""

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
        await store.record_auth_event(
            self._pool,
            at=at,
            event=event.value,
            account_id=account_id,
            username=username[:64],
            client=client,
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
        await store.insert_session(
            self._pool,
            token_hash=session.token_hash,
            account_id=account.account_id,
            csrf_token=session.csrf_token,
            now=now,
        )
        return token, session

    async def touch(self, token: str, *, now: datetime, active: bool) -> Session | Ended | None:
        """The live session for a cookie token, or Ended (it just timed out), or None.

        A live session costs one statement (it and its account, the idle clock moved when
        `active`); only a session that has just ended is looked at again, to say why. The
        idle clock moves when it was last moved `IDLE_CLOCK_STEP` of the idle timeout ago
        or more, so a page view usually writes nothing.
        """
        hashed = token_hash(token)
        live = await store.live_session(
            self._pool,
            hashed,
            now=now,
            lifetime=self._lifetime,
            idle=self._idle,
            move_idle_clock=active,
            clock_step=self._idle * IDLE_CLOCK_STEP,
        )
        if live is not None:
            return Session(
                account=account_of(live.account),
                csrf_token=live.csrf_token,
                token_hash=hashed,
                created_at=live.created_at,
                last_seen_at=live.last_seen_at,
            )
        return await self._end_stale(hashed, now=now)

    async def _end_stale(self, hashed: str, *, now: datetime) -> Ended | None:
        """A session that is no longer live: end it (once), audit why; None if unknown."""
        found = await store.open_session(self._pool, hashed)
        if found is None:
            return None
        if now - found.created_at >= self._lifetime:
            reason = AuthEvent.SESSION_EXPIRED
        elif now - found.last_seen_at >= self._idle:
            reason = AuthEvent.IDLE_TIMEOUT
        else:
            reason = AuthEvent.SESSION_EXPIRED  # the account was disabled meanwhile
        username = await store.end_session(self._pool, hashed, now=now, reason=reason.value)
        if username is not None:
            await self.audit(reason, at=now, username=username, account_id=found.account_id)
        return Ended(reason)

    async def close(self, session: Session, *, now: datetime, client: str | None) -> None:
        username = await store.end_session(
            self._pool, session.token_hash, now=now, reason=AuthEvent.SIGN_OUT.value
        )
        if username is not None:
            await self.audit(
                AuthEvent.SIGN_OUT,
                at=now,
                username=username,
                account_id=session.account.account_id,
                client=client,
            )
