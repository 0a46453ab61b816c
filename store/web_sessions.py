"""Signed-in browsers (`web_sessions`) and the sign-in audit (`web_auth_events`),
migration 0200: the statements.

Plain values in, plain rows out; the limits (idle, lifetime), the reasons a session ends
and the token hashing are the workbench's (api/workbench/sessions.py). One statement per
function: a live session is found (and its idle clock moved) in one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from store.accounts import ACCOUNT_COLUMNS, AccountRow, account_row
from store.dbtypes import Db


@dataclass(frozen=True)
class LiveSession:
    account: AccountRow
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class OpenSession:
    """A session not yet ended (perhaps past a limit): when it began and was last seen."""

    account_id: int
    created_at: datetime
    last_seen_at: datetime


async def record_auth_event(
    db: Db,
    *,
    at: datetime,
    event: str,
    account_id: int | None,
    username: str,
    client: str | None,
) -> None:
    await db.execute(
        """INSERT INTO web_auth_events (at, event, account_id, username, client)
        VALUES ($1, $2, $3, $4, $5)""",
        at,
        event,
        account_id,
        username,
        client,
    )


async def insert_session(
    db: Db, *, token_hash: str, account_id: int, csrf_token: str, now: datetime
) -> None:
    await db.execute(
        """INSERT INTO web_sessions (token_hash, account_id, csrf_token, created_at,
            last_seen_at) VALUES ($1, $2, $3, $4, $4)""",
        token_hash,
        account_id,
        csrf_token,
        now,
    )


_LIVE = """s.token_hash = $1 AND s.ended_at IS NULL AND a.account_id = s.account_id
    AND NOT a.disabled AND $2 - s.created_at < $3 AND $2 - s.last_seen_at < $4"""
_RETURNED = (
    ", ".join(f"a.{c}" for c in ACCOUNT_COLUMNS) + ", s.csrf_token, s.created_at, s.last_seen_at"
)
_TOUCH = f"""UPDATE web_sessions s SET last_seen_at = $2 FROM web_accounts a
    WHERE {_LIVE} RETURNING {_RETURNED}"""
_PEEK = f"SELECT {_RETURNED} FROM web_sessions s, web_accounts a WHERE {_LIVE}"


async def live_session(
    db: Db,
    token_hash: str,
    *,
    now: datetime,
    lifetime: timedelta,
    idle: timedelta,
    move_idle_clock: bool,
) -> LiveSession | None:
    """The session of `token_hash` if it is within both limits at `now` and its account is
    enabled, with that account; `move_idle_clock`: last seen now (one statement either way)."""
    statement = _TOUCH if move_idle_clock else _PEEK
    row = await db.fetchrow(statement, token_hash, now, lifetime, idle)
    if row is None:
        return None
    return LiveSession(
        account=account_row(row),
        csrf_token=row["csrf_token"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
    )


async def open_session(db: Db, token_hash: str) -> OpenSession | None:
    """The session of `token_hash` if it has not been ended (whatever its limits say)."""
    row = await db.fetchrow(
        """SELECT account_id, created_at, last_seen_at FROM web_sessions
        WHERE token_hash = $1 AND ended_at IS NULL""",
        token_hash,
    )
    if row is None:
        return None
    return OpenSession(row["account_id"], row["created_at"], row["last_seen_at"])


async def end_session(db: Db, token_hash: str, *, now: datetime, reason: str) -> str | None:
    """End the session once (the first caller wins); its account's username, if so."""
    username: str | None = await db.fetchval(
        """
        UPDATE web_sessions s SET ended_at = $2, end_reason = $3
        FROM web_accounts a
        WHERE s.token_hash = $1 AND s.ended_at IS NULL AND a.account_id = s.account_id
        RETURNING a.username
        """,
        token_hash,
        now,
        reason,
    )
    return username
