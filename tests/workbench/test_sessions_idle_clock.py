"""The idle clock moves in steps (1/60 of the idle timeout): a person's request within a
step of the last move writes nothing, one past it moves the clock to that request, and
the session ends the idle timeout after the last move (early by less than a step, never
late). A background refresh never moves it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from api.workbench.accounts import PersonRole, PostgresAccounts
from api.workbench.sessions import (
    IDLE_CLOCK_STEP,
    AuthEvent,
    Ended,
    PostgresSessions,
    Session,
)

IDLE = timedelta(seconds=60)
STEP = IDLE * IDLE_CLOCK_STEP  # 1 s


async def _last_seen(pool: asyncpg.Pool, session: Session) -> datetime:
    seen: datetime = await pool.fetchval(
        "SELECT last_seen_at FROM web_sessions WHERE token_hash = $1", session.token_hash
    )
    return seen


async def test_the_idle_clock_moves_in_steps_and_the_session_ends_after_the_last_move(
    api_pool: asyncpg.Pool,
) -> None:
    accounts = PostgresAccounts(api_pool, lockout_after_failures=3, lockout=timedelta(minutes=1))
    name = f"clock-{uuid.uuid4().hex[:8]}"
    account = await accounts.create(
        username=name,
        password="not-a-real-password",
        role=PersonRole.CARE_TEAM,
        programs=frozenset({"p"}),
        actor=name,
        display_name="Clock Test",
    )
    sessions = PostgresSessions(api_pool, idle=IDLE, lifetime=timedelta(hours=8))
    t0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    token, opened = await sessions.open(account, now=t0)

    within = await sessions.touch(token, now=t0 + STEP / 2, active=True)
    assert isinstance(within, Session) and within.last_seen_at == t0
    assert await _last_seen(api_pool, opened) == t0  # nothing written

    past = t0 + STEP * 1.5
    moved = await sessions.touch(token, now=past, active=True)
    assert isinstance(moved, Session) and moved.last_seen_at == past
    assert await _last_seen(api_pool, opened) == past

    background = await sessions.touch(token, now=past + STEP * 5, active=False)
    assert isinstance(background, Session)
    assert await _last_seen(api_pool, opened) == past  # a refresh is no activity

    almost = past + IDLE - STEP / 10
    assert isinstance(await sessions.touch(token, now=almost, active=False), Session)
    ended = await sessions.touch(token, now=past + IDLE, active=True)
    assert ended == Ended(AuthEvent.IDLE_TIMEOUT)
