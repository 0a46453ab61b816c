"""`Idempotency-Key` (IETF httpapi draft): a retried request gets the first answer back.

Rows live in PostgreSQL (`api_idempotency`), keyed by the key's owner and the header
value. A claim is taken before any work; the answer is stored after; a 5xx releases the
claim so the client may retry. Same key with a different request → 422.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import asyncpg


class ClaimOutcome(StrEnum):
    NEW = "new"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    status_code: int | None = None
    body: Any = None


def request_hash(method: str, path: str, body: bytes) -> str:
    """Hash of what was asked: the same key on another endpoint or body is a mismatch."""
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyStore(Protocol):
    async def claim(
        self, owner: str, key: str, *, method: str, path: str, request_hash: str
    ) -> Claim: ...

    async def complete(self, owner: str, key: str, status_code: int, body: Any) -> None: ...

    async def release(self, owner: str, key: str) -> None: ...


class PostgresIdempotencyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(
        self, owner: str, key: str, *, method: str, path: str, request_hash: str
    ) -> Claim:
        for _ in range(3):  # a row released between INSERT and SELECT: try again
            inserted = await self._pool.fetchval(
                """
                INSERT INTO api_idempotency (key_owner, idempotency_key, method, path, request_hash)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT DO NOTHING
                RETURNING true
                """,
                owner,
                key,
                method,
                path,
                request_hash,
            )
            if inserted:
                return Claim(ClaimOutcome.NEW)
            row = await self._pool.fetchrow(
                """
                SELECT request_hash, status_code, response_body FROM api_idempotency
                WHERE key_owner = $1 AND idempotency_key = $2
                """,
                owner,
                key,
            )
            if row is None:
                continue
            if row["request_hash"] != request_hash:
                return Claim(ClaimOutcome.MISMATCH)
            if row["status_code"] is None:
                return Claim(ClaimOutcome.IN_FLIGHT)
            return Claim(ClaimOutcome.REPLAY, row["status_code"], json.loads(row["response_body"]))
        return Claim(ClaimOutcome.IN_FLIGHT)

    async def complete(self, owner: str, key: str, status_code: int, body: Any) -> None:
        await self._pool.execute(
            """
            UPDATE api_idempotency
            SET status_code = $3, response_body = $4::jsonb, completed_at = now()
            WHERE key_owner = $1 AND idempotency_key = $2
            """,
            owner,
            key,
            status_code,
            json.dumps(body),
        )

    async def release(self, owner: str, key: str) -> None:
        await self._pool.execute(
            "DELETE FROM api_idempotency WHERE key_owner = $1 AND idempotency_key = $2",
            owner,
            key,
        )
