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
# The live session and its account; the idle clock moved ($5) only when it was last moved
# at least $6 ago, so most requests write nothing (no commit to flush) and the answer is
# the same statement either way.
_LIVE_SESSION = f"""
WITH live AS (SELECT {_RETURNED} FROM web_sessions s, web_accounts a WHERE {_LIVE}),
moved AS (
    UPDATE web_sessions s SET last_seen_at = $2
    FROM live
    WHERE $5::boolean AND s.token_hash = $1 AND s.ended_at IS NULL
        AND live.last_seen_at <= $2 - $6::interval
    RETURNING s.last_seen_at
)
SELECT live.*, (SELECT last_seen_at FROM moved) AS moved_to FROM live
"""


async def live_session(
    db: Db,
    token_hash: str,
    *,
    now: datetime,
    lifetime: timedelta,
    idle: timedelta,
    move_idle_clock: bool,
    clock_step: timedelta,
) -> LiveSession | None:
    """The session of `token_hash` if it is within both limits at `now` and its account is
    enabled, with that account, in one statement. `move_idle_clock`: last seen now, when it
    was last moved `clock_step` ago or more (so the idle clock lags by less than that)."""
    row = await db.fetchrow(
        _LIVE_SESSION, token_hash, now, lifetime, idle, move_idle_clock, clock_step
    )
    if row is None:
        return None
    return LiveSession(
        account=account_row(row),
        csrf_token=row["csrf_token"],
        created_at=row["created_at"],
        last_seen_at=row["moved_to"] or row["last_seen_at"],
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
