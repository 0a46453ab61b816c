"""The API's own audit rows: every mutating call, its actor and its outcome.

A row is written before Temporal is asked, so no change can happen unrecorded; if
PostgreSQL is down the call stops there (503) and nothing is done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import asyncpg

from api.auth import Operation, Principal


class CallLog(Protocol):
    async def begin(
        self,
        *,
        episode_id: str,
        operation: Operation,
        submission_id: str | None,
        principal: Principal,
        at: datetime,
    ) -> int: ...

    async def finish(self, call_id: int, *, status_code: int, at: datetime) -> None: ...


class PostgresCallLog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def begin(
        self,
        *,
        episode_id: str,
        operation: Operation,
        submission_id: str | None,
        principal: Principal,
        at: datetime,
    ) -> int:
        call_id: int = await self._pool.fetchval(
            """
            INSERT INTO api_calls (episode_id, operation, submission_id, actor, role, key_owner, at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING id
            """,
            episode_id,
            operation.value,
            submission_id,
            principal.actor,
            principal.role.value,
            principal.owner,
            at,
        )
        return call_id

    async def finish(self, call_id: int, *, status_code: int, at: datetime) -> None:
        await self._pool.execute(
            "UPDATE api_calls SET status_code = $2, finished_at = $3 WHERE id = $1",
            call_id,
            status_code,
            at,
        )
